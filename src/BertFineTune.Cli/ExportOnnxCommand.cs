using System.ComponentModel;
using System.Globalization;
using BertFineTune.Builder;
using BertFineTune.Checkpoints.Onnx;
using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Options of <c>export-onnx</c>.</summary>
internal sealed class ExportOnnxSettings : CommonSettings
{
    [CommandOption("-m|--model <FOLDER|HUB_ID>")]
    [Description("Model folder (Hugging Face layout, e.g. what train saved) or Hugging Face Hub id.")]
    public string? Model { get; init; }

    [CommandOption("-o|--output <FILE>")]
    [Description("The .onnx file to write (replaced when it exists; written to a temporary file first and renamed when complete); with --folder, the folder to write.")]
    public string? Output { get; init; }

    [CommandOption("--folder")]
    [Description("Write --output as a folder for BertFineTune.Onnx: model.onnx, config.json and the tokenizer files (TaskModel.ExportOnnxFolder).")]
    public bool Folder { get; init; }

    [CommandOption("--opset <N>")]
    [Description("ONNX opset of the graph, 12 to 21; 17 by default (LayerNormalization). 12 writes the layout ONNX Runtime's optimizer fuses into Attention nodes (mask constant -10000, LayerNorms decomposed); see docs/onnx-export.md.")]
    [DefaultValue(OnnxExportOptions.DefaultOpset)]
    public int Opset { get; init; } = OnnxExportOptions.DefaultOpset;

    [CommandOption("--quantize <TYPE>")]
    [Description("none (float32 weights) or int8: dynamic quantization of the linear layers (int8 weights per output channel, activations quantized at run time, as ONNX Runtime's quantize_dynamic); embeddings and LayerNorms stay float32.")]
    [DefaultValue("none")]
    public string Quantize { get; init; } = "none";

    /// <summary>The library's value of <see cref="Quantize"/>; null for an unknown name.</summary>
    public OnnxQuantization? Quantization => Quantize.ToLowerInvariant() switch
    {
        "none" => OnnxQuantization.None,
        "int8" => OnnxQuantization.DynamicInt8,
        _ => null,
    };

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Model) ? ValidationResult.Error("--model is required: give a model folder or a Hugging Face Hub id.")
        : string.IsNullOrWhiteSpace(Output) ? ValidationResult.Error("--output is required: give the .onnx file to write.")
        : Opset is < OnnxExportOptions.MinimumOpset or > OnnxExportOptions.MaximumOpset
            ? ValidationResult.Error($"--opset must be {OnnxExportOptions.MinimumOpset} to {OnnxExportOptions.MaximumOpset} (17 by default; 12 for the graph ONNX Runtime fuses into Attention), got {Opset}.")
        : Quantization is null ? ValidationResult.Error($"--quantize must be none or int8, got '{Quantize}'.")
        : !Folder && Directory.Exists(Output) ? ValidationResult.Error($"--output {Output} is a folder; give the path of the .onnx file to write, or add --folder to write model.onnx, config.json and the tokenizer files into it.")
        : Folder && File.Exists(Output) ? ValidationResult.Error($"--output {Output} is a file; with --folder give the folder to write model.onnx, config.json and the tokenizer files into.")
        : ValidationResult.Success();
}

/// <summary>
/// <c>export-onnx</c>: loads a model (any built-in head) and writes it as one ONNX file for ONNX Runtime; shows the
/// architecture, opset, inputs and outputs, and prints the file last.
/// </summary>
internal sealed class ExportOnnxCommand : Command<ExportOnnxSettings>
{
    public override int Execute(CommandContext context, ExportOnnxSettings settings, CancellationToken cancellationToken)
    {
        using var model = CliException.During(ErrorKind.Model, () => BertModelBuilder.FromPretrained(settings.Model!).Build(cancellationToken: cancellationToken));
        var target = Path.GetFullPath(settings.Output!);
        // With --folder, the graph is the folder's model.onnx (the name BertFineTune.Onnx's OnnxModel.Load reads).
        var output = settings.Folder ? Path.Combine(target, "model.onnx") : target;
        CliException.During(ErrorKind.Other, () =>
        {
            var options = new OnnxExportOptions { Opset = settings.Opset, Quantization = settings.Quantization!.Value };
            if (settings.Folder)
            {
                model.ExportOnnxFolder(target, options);
            }
            else
            {
                model.ExportOnnx(output, options);
            }
            return 0;
        });
        var written = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(output));
        static string Shape(global::Onnx.ValueInfoProto value) =>
            $"{value.Name} [{string.Join(", ", value.Type.TensorType.Shape.Dim.Select(d => d.DimParam.Length > 0 ? d.DimParam : d.DimValue.ToString(CultureInfo.InvariantCulture)))}]";
        var rows = new List<(string Name, string Value)>
        {
            ("file", output),
            ("size", $"{new FileInfo(output).Length / (1024.0 * 1024.0):F1} MiB"),
            ("architecture", model.Model.Head.ArchitectureName),
            ("opset", settings.Opset.ToString(CultureInfo.InvariantCulture)),
            ("weights", settings.Quantization == OnnxQuantization.DynamicInt8 ? "int8 linear layers (dynamic quantization), float32 embeddings and LayerNorms" : "float32"),
            ("inputs", string.Join(", ", written.Graph.Input.Select(Shape))),
            ("outputs", string.Join(", ", written.Graph.Output.Select(Shape))),
            ("labels", model.Labels.Count > 0 ? string.Join(", ", model.Labels) : "-"),
            ("nodes", written.Graph.Node.Count.ToString(CultureInfo.InvariantCulture)),
        };
        Terminal.WriteRows("exported", rows, "property", "value");
        Console.WriteLine(output);
        return 0;
    }
}
