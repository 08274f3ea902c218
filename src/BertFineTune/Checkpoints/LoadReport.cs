using Microsoft.Extensions.Logging;

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

    /// <summary>
    /// The messages transformers logs after loading (<c>modeling_utils.py</c>, <c>_load_pretrained_model</c>), with its
    /// levels: newly initialised keys are a warning; keys the model did not use are a warning when
    /// <paramref name="modelClass"/> is one of the checkpoint's <c>architectures</c> and information otherwise (loading a
    /// pre-training checkpoint into a task model drops its pre-training head on purpose); shapes that differed are a
    /// warning listing both shapes.
    /// </summary>
    /// <param name="modelClass">The model's architecture, e.g. <c>BertForSequenceClassification</c>.</param>
    /// <param name="source">The checkpoint's folder or file, as the user named it.</param>
    /// <param name="checkpointArchitectures">The checkpoint config's <c>architectures</c>.</param>
    internal IReadOnlyList<(LogLevel Level, string Message)> Messages(string modelClass, string source, IReadOnlyList<string> checkpointArchitectures)
    {
        var messages = new List<(LogLevel, string)>();
        if (UnexpectedKeys.Count > 0)
        {
            messages.Add((checkpointArchitectures.Contains(modelClass) ? LogLevel.Warning : LogLevel.Information,
                $"Some weights of the model checkpoint at {source} were not used when initializing {modelClass}: [{string.Join(", ", UnexpectedKeys)}]"));
        }
        if (MissingKeys.Count > 0)
        {
            messages.Add((LogLevel.Warning,
                $"Some weights of {modelClass} were not initialized from the model checkpoint at {source} and are newly initialized: "
                + $"[{string.Join(", ", MissingKeys)}]. You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference."));
        }
        if (MismatchedKeys.Count > 0)
        {
            messages.Add((LogLevel.Warning,
                $"Some weights of {modelClass} were not initialized from the model checkpoint at {source} and are newly initialized because "
                + $"the shapes did not match: [{string.Join("; ", MismatchedKeys)}]. You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference."));
        }
        return messages;
    }

    /// <summary>The model keys that kept their new initialisation: missing from the checkpoint, or of another shape there.</summary>
    internal IReadOnlySet<string> NewlyInitialized() =>
        MissingKeys.Concat(MismatchedKeys.Select(StateDictLoader.TargetOf)).ToHashSet(StringComparer.Ordinal);
}
