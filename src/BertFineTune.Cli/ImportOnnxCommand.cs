using System.ComponentModel;
using System.Globalization;
using BertFineTune.Builder;
using BertFineTune.Checkpoints.Onnx;
using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Options of <c>import-onnx</c>.</summary>
internal sealed class ImportOnnxSettings : CommonSettings
{
    [CommandOption("--onnx <FILE>")]
    [Description("The BERT model's .onnx file, as torch.onnx.export or optimum wrote it (external data files beside it).")]
    public string? Onnx { get; init; }

    [CommandOption("--vocab <VOCAB|TOKENIZER_JSON|FOLDER>")]
    [Description("The model's tokenizer: a vocab.txt, a tokenizer.json, or a folder holding one (an ONNX file carries none).")]
    public string? Vocab { get; init; }

    [CommandOption("-o|--output <FOLDER>")]
    [Description("The model folder to write (config.json, model.safetensors, tokenizer files); new or empty.")]
    public string? Output { get; init; }

    [CommandOption("--config <CONFIG_JSON>")]
    [Description("The model's config.json (default: read the configuration off the graph). It wins; the graph must agree with it.")]
    public string? Config { get; init; }

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Onnx) ? ValidationResult.Error("--onnx is required: give the model's .onnx file.")
        : string.IsNullOrWhiteSpace(Vocab) ? ValidationResult.Error("--vocab is required: give the model's vocab.txt, tokenizer.json or a folder holding one.")
        : string.IsNullOrWhiteSpace(Output) ? ValidationResult.Error("--output is required: give the model folder to write.")
        : ValidationResult.Success();
}

/// <summary>
/// <c>import-onnx</c>: turns an ONNX export of a BERT model into a Hugging Face folder that every other command loads,
/// loads that folder once to check it (tokenizer against model), shows what was imported and prints the folder last.
/// </summary>
internal sealed class ImportOnnxCommand : Command<ImportOnnxSettings>
{
    public override int Execute(CommandContext context, ImportOnnxSettings settings, CancellationToken cancellationToken)
    {
        bool existed = Directory.Exists(settings.Output);
        var report = CliException.During(ErrorKind.Model, () => OnnxImport.ImportFolder(settings.Onnx!, settings.Vocab!, settings.Output!, settings.Config));
        try
        {
            // The folder must load as every other command will load it: the tokenizer is checked against the model here.
            using var model = BertModelBuilder.FromPretrained(settings.Output!).Build(cancellationToken: cancellationToken);
            var config = report.Config;
            var rows = new List<(string Name, string Value)>
            {
                ("folder", Path.GetFullPath(settings.Output!)),
                ("architecture", config.Architectures[0]),
                ("layers", config.NumHiddenLayers.ToString(CultureInfo.InvariantCulture)),
                ("hidden size", config.HiddenSize.ToString(CultureInfo.InvariantCulture)),
                ("attention heads", config.NumAttentionHeads.ToString(CultureInfo.InvariantCulture)),
                ("intermediate size", config.IntermediateSize.ToString(CultureInfo.InvariantCulture)),
                ("activation", config.HiddenAct),
                ("layer_norm_eps", config.LayerNormEps.ToString("R", CultureInfo.InvariantCulture)),
                ("max positions", config.MaxPositionEmbeddings.ToString(CultureInfo.InvariantCulture)),
                ("vocabulary (model)", config.VocabSize.ToString(CultureInfo.InvariantCulture)),
                ("tokenizer vocabulary", model.Tokenizer.VocabularySize.ToString(CultureInfo.InvariantCulture)),
                ("labels", config.Architectures[0] is "BertForSequenceClassification" or "BertForTokenClassification" ? string.Join(", ", config.Labels) : "-"),
                ("tensors imported", report.ImportedKeys.Count.ToString(CultureInfo.InvariantCulture)),
                ("not in the ONNX file", report.MissingKeys.Count == 0 ? "none" : string.Join(", ", report.MissingKeys) + " (newly initialized when loaded)"),
            };
            rows.AddRange(report.Notes.Select((note, i) => (i == 0 ? "how it was read" : "", note)));
            Terminal.WriteRows("imported", rows, "property", "value");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A folder that does not load is of no use to the other commands: take back what this command wrote (an empty
            // folder given as --output stays, empty).
            Directory.Delete(settings.Output!, recursive: true);
            if (existed)
            {
                Directory.CreateDirectory(settings.Output!);
            }
            throw new CliException(ErrorKind.Model, $"the imported folder does not load: {e.Message}", e);
        }
        Console.WriteLine(Path.GetFullPath(settings.Output!));
        return 0;
    }
}
