namespace BertFineTune.Checkpoints.Onnx;

/// <summary>What <see cref="OnnxImport.ImportFolder"/> read from an ONNX file and what it could not.</summary>
/// <param name="Config">The configuration written to <c>config.json</c>: the caller's, or the one read off the graph.</param>
/// <param name="ImportedKeys">The Hugging Face keys written to <c>model.safetensors</c>, sorted.</param>
/// <param name="MissingKeys">
/// Parameters of the architecture the file did not provide (e.g. a pooler the export pruned): a model loaded from the folder
/// initialises them anew, and its load report names them again. Empty when the file provided every parameter.
/// </param>
/// <param name="Notes">How each configuration field and the architecture were found, and which initializers were skipped and why.</param>
public sealed record OnnxImportReport(
    BertConfig Config,
    IReadOnlyList<string> ImportedKeys,
    IReadOnlyList<string> MissingKeys,
    IReadOnlyList<string> Notes)
{
    /// <summary>A summary: the architecture, the count of imported tensors, the missing parameters and the notes, one per line.</summary>
    public override string ToString()
    {
        var lines = new List<string>
        {
            $"{(Config.Architectures.Count > 0 ? Config.Architectures[0] : "BertModel")}: {ImportedKeys.Count} tensors imported",
            MissingKeys.Count == 0
                ? "every parameter was provided by the ONNX file"
                : $"not in the ONNX file (newly initialized when loaded): {string.Join(", ", MissingKeys)}",
        };
        lines.AddRange(Notes);
        return string.Join(Environment.NewLine, lines);
    }
}
