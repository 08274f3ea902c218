namespace BertFineTune.Checkpoints;

/// <summary>What loading a checkpoint into a model did, in transformers' terms.</summary>
/// <param name="MissingKeys">Model parameters the checkpoint lacks: they keep their new initialisation ("newly initialized").</param>
/// <param name="UnexpectedKeys">Checkpoint tensors no parameter uses ("not used").</param>
/// <param name="MismatchedKeys">Parameters whose checkpoint shape differed, with both shapes; newly initialised.</param>
/// <param name="IgnoredKeys">Checkpoint tensors skipped on purpose: buffers such as <c>embeddings.position_ids</c> and tied copies.</param>
public sealed record LoadReport(
    IReadOnlyList<string> MissingKeys,
    IReadOnlyList<string> UnexpectedKeys,
    IReadOnlyList<string> MismatchedKeys,
    IReadOnlyList<string> IgnoredKeys)
{
    /// <summary>True when every parameter was loaded and every checkpoint tensor used.</summary>
    public bool IsExactMatch => MissingKeys.Count == 0 && UnexpectedKeys.Count == 0 && MismatchedKeys.Count == 0;

    /// <summary>A one-paragraph summary for logs and exception messages.</summary>
    public override string ToString()
    {
        if (IsExactMatch)
        {
            return "all weights loaded";
        }
        var parts = new List<string>();
        if (MissingKeys.Count > 0)
        {
            parts.Add($"newly initialized (not in the checkpoint): {string.Join(", ", MissingKeys)}");
        }
        if (UnexpectedKeys.Count > 0)
        {
            parts.Add($"not used (no such parameter in the model): {string.Join(", ", UnexpectedKeys)}");
        }
        if (MismatchedKeys.Count > 0)
        {
            parts.Add($"newly initialized (shape differs): {string.Join(", ", MismatchedKeys)}");
        }
        return string.Join("; ", parts);
    }
}
