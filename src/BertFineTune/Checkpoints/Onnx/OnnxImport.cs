namespace BertFineTune.Checkpoints.Onnx;

/// <summary>
/// Imports a BERT model exported to ONNX (by <c>torch.onnx.export</c> or optimum, opset 11 or later) into a Hugging Face
/// model folder that <c>BertModelBuilder.FromPretrained</c>, the command-line tool and transformers' <c>from_pretrained</c>
/// load. See docs/onnx-import.md for what is read, what is inferred and what is refused.
/// </summary>
/// <remarks>
/// <para>Weights: named initializers map by name (with or without <c>bert.</c>); linear weights the exporter renamed and
/// transposed (<c>onnx::MatMul_123</c>, [in, out]) are found by following the MatMul (or Gemm) that reads them to the
/// named bias it adds, and are transposed back; weights behind <c>Constant</c> nodes, FP16/BF16 initializers (up-cast to
/// float32) and external data inside the model's folder are read. The masked-LM decoder is recognised as tied when it
/// equals the word embeddings.</para>
/// <para>Configuration: sizes from the weights' shapes, the layer count from the layer indices, the head count from the
/// attention Reshape (or the score scale), <c>layer_norm_eps</c> from the LayerNorm epsilon and <c>hidden_act</c> from the
/// feed-forward pattern, the architecture from the head weights and the graph outputs; nothing is guessed. A
/// <c>config.json</c> given by the caller wins, after every field the graph shows was checked against it.</para>
/// <para>Refused, with a message naming the node or initializer: graphs fused or quantized by ONNX Runtime, graphs that
/// are not BERT, a float weight no rule maps, a weight of the wrong shape, and files that are not readable ONNX.</para>
/// </remarks>
/// <example>
/// <code>
/// var report = OnnxImport.ImportFolder("model.onnx", "vocab.txt", "models/minilm");
/// Console.WriteLine(report);                       // what was imported, inferred, and not provided
/// using var model = BertModelBuilder.FromPretrained("models/minilm").WithSequenceClassification(["neg", "pos"]).Build();
/// </code>
/// </example>
public static class OnnxImport
{
    /// <summary>
    /// Reads <paramref name="onnxFile"/> and writes <paramref name="outputFolder"/>: <c>config.json</c>,
    /// <c>model.safetensors</c> (float32, the keys transformers saves for the architecture) and the tokenizer files of
    /// <paramref name="tokenizer"/>, copied unchanged (an ONNX file carries no tokenizer; <c>BertModelBuilder.Build</c>
    /// checks the tokenizer against the model when the folder is loaded). The folder is written under a temporary name
    /// beside it and renamed into place, so it appears complete or not at all.
    /// </summary>
    /// <param name="onnxFile">The <c>.onnx</c> file; external data files must sit in its folder.</param>
    /// <param name="tokenizer">A <c>vocab.txt</c>, a <c>tokenizer.json</c>, or a folder holding either (and its <c>tokenizer_config.json</c>).</param>
    /// <param name="outputFolder">The model folder to create; it must not exist, or be empty.</param>
    /// <param name="configFile">The model's <c>config.json</c>, or null to read the configuration off the graph.</param>
    /// <returns>What was imported, how the configuration was found, and the parameters the file did not provide.</returns>
    /// <exception cref="FileNotFoundException">The ONNX file, the config file or the tokenizer does not exist.</exception>
    /// <exception cref="IOException"><paramref name="outputFolder"/> is a file or a folder that is not empty.</exception>
    /// <exception cref="OnnxImportException">The file cannot be imported; the message names the node or initializer and says what to do.</exception>
    /// <exception cref="BertConfigException"><paramref name="configFile"/> is invalid.</exception>
    public static OnnxImportReport ImportFolder(string onnxFile, string tokenizer, string outputFolder, string? configFile = null)
    {
        ArgumentNullException.ThrowIfNull(onnxFile);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(outputFolder);
        var output = Path.GetFullPath(outputFolder);
        if (File.Exists(output) || Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any())
        {
            throw new IOException($"{outputFolder} already exists and is not an empty folder; choose a new folder for the imported model.");
        }
        var tokenizerFiles = TokenizerFiles.Resolve(tokenizer);
        Runtime.TorchRuntime.EnsureAvailable();
        using var model = OnnxBertReader.Read(onnxFile, configFile);

        var parent = Path.GetDirectoryName(output)!;
        Directory.CreateDirectory(parent);
        var temporary = Path.Combine(parent, $".{Path.GetFileName(output)}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(temporary);
            SafeTensorsWriter.Write(Path.Combine(temporary, WeightsFiles.SafeWeightsName), model.StateDict,
                new Dictionary<string, string> { ["format"] = "pt" });
            model.Config.Save(temporary);
            foreach (var (source, name) in tokenizerFiles)
            {
                File.Copy(source, Path.Combine(temporary, name));
            }
            if (Directory.Exists(output))
            {
                Directory.Delete(output);
            }
            Directory.Move(temporary, output);
        }
        catch
        {
            if (Directory.Exists(temporary))
            {
                Directory.Delete(temporary, recursive: true);
            }
            throw;
        }
        return model.Report;
    }
}
