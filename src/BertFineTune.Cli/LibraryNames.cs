using System.Text.RegularExpressions;

namespace BertFineTune.Cli;

/// <summary>
/// The library's exceptions name its API (<c>TrainerOptions.BatchSize</c>, <c>BadRowPolicy.SkipAndCount</c>,
/// <c>ReplacingExistingHead()</c>); a user of the command line knows flags. This rewrites those names into the flags
/// that set them, so every error speaks the command's language.
/// </summary>
internal static partial class LibraryNames
{
    /// <summary>Each <see cref="Training.TrainerOptions"/> property the commands set, and the flag that sets it.</summary>
    public static readonly IReadOnlyDictionary<string, string> TrainerOptionFlags = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["LearningRate"] = "--learning-rate",
        ["WeightDecay"] = "--weight-decay",
        ["WarmupRatio"] = "--warmup-ratio",
        ["WarmupSteps"] = "--warmup-steps",
        ["Schedule"] = "--schedule",
        ["Epochs"] = "--epochs",
        ["MaxSteps"] = "--max-steps",
        ["BatchSize"] = "--batch-size",
        ["GradientAccumulationSteps"] = "--gradient-accumulation",
        ["MaxGradNorm"] = "--max-grad-norm",
        ["Seed"] = "--seed",
        ["LoggingSteps"] = "--logging-steps",
        ["EvaluateEverySteps"] = "--eval-steps",
        ["SaveEverySteps"] = "--save-steps",
        ["SaveTotalLimit"] = "--save-total-limit",
        ["EarlyStoppingPatience"] = "--early-stopping-patience",
        ["MetricForBestModel"] = "--metric",
        ["FreezeEncoder"] = "--freeze-encoder",
        ["FreezeEmbeddings"] = "--freeze-embeddings",
        ["FreezeLowestLayers"] = "--freeze-layers",
        ["CacheFrozenLayers"] = "--cache-frozen-layers",
        ["CachePrecision"] = "--cache-precision",
        ["CacheMemoryLimitBytes"] = "--cache-memory-limit",
        ["LayerwiseLearningRateDecay"] = "--layerwise-lr-decay",
        ["Loss"] = "--label-smoothing",
        ["GroupByLength"] = "--group-by-length",
        ["OutputDirectory"] = "--output",
        ["ResumeFromCheckpoint"] = "--resume-from-checkpoint",
    };

    // Whole sentences first (a library remedy that has a flag of its own), then single names. Order matters.
    private static readonly (Regex Pattern, MatchEvaluator Replacement)[] Rules =
    [
        // Builder (BertModelBuilder.Build) and StateDictLoader: a head whose shape differs from the checkpoint's.
        (IgnoreMismatchedSentence(), _ => ""),
        (ReplaceHeadSentence(), _ => "Add --replace-head to start a new head instead (the checkpoint's head weights are dropped)."),
        (ReplacingExistingHeadCall(), _ => "--replace-head"),
        (IgnoreMismatchedSizesName(), _ => "--replace-head"),
        // Readers (BadRowException): the policy that skips bad rows.
        (PassSkipAndCount(), _ => "add --skip-bad-rows"),
        (SkipAndCountName(), _ => "--skip-bad-rows"),
        // Builder: the sequence length.
        (WithMaxSequenceLengthCall(), m => $"--max-length {m.Groups[1].Value}"),
        (EncodingOptionsMaxLength(), _ => "--max-length"),
        // Hub resolution (HubModelResolver): the two HubOptions with a flag (on download); the others are set by the
        // environment variables the same messages name, so the API name is dropped.
        (HubOptionsRevision(), _ => "--revision"),
        (HubOptionsCacheDirectory(), _ => "--cache-dir"),
        (RaiseLockTimeout(), _ => ""),
        (HubOptionsAside(), _ => ""),
        // ONNX import (OnnxImport.ImportFolder): the config file the graph lacks a setting for.
        (PassConfigJson(), m => m.Groups[1].Value + "ass --config <config.json>"),
        // TrainerOptions.Validate: the loss options' one value the commands set.
        (LabelSmoothingOfLoss(), _ => "--label-smoothing"),
        // TrainerOptions.Validate and the trainer: "TrainerOptions.BatchSize: …", and bare multi-word names inside a sentence.
        (TrainerOptionsMember(), m => TrainerOptionFlags.TryGetValue(m.Groups[1].Value, out var flag) ? flag + m.Groups[2].Value.Replace(":", "", StringComparison.Ordinal) : m.Value),
        (PascalCaseName(), m => TrainerOptionFlags.TryGetValue(m.Value, out var flag) ? flag : m.Value),
    ];

    /// <summary>The message of <paramref name="exception"/> in the command's flags (for an ArgumentException, without its "(Parameter 'x')" tail).</summary>
    public static string Translate(Exception exception)
    {
        var message = exception.Message;
        if (exception is ArgumentException { ParamName: { } name } && message.EndsWith($" (Parameter '{name}')", StringComparison.Ordinal))
        {
            message = message[..^$" (Parameter '{name}')".Length];
        }
        return Translate(message);
    }

    /// <summary><paramref name="message"/> with every library name the commands have a flag for replaced by that flag.</summary>
    public static string Translate(string message)
    {
        foreach (var (pattern, replacement) in Rules)
        {
            message = pattern.Replace(message, replacement);
        }
        return DoubleSpace().Replace(message.Trim(), " ");
    }

    [GeneratedRegex(@"If the head was meant to change \(another label count\), load with IgnoreMismatchedSizes to initialise it anew\.")]
    private static partial Regex IgnoreMismatchedSentence();

    [GeneratedRegex(@"Call ReplacingExistingHead\(\) to initialise a new head instead\.")]
    private static partial Regex ReplaceHeadSentence();

    [GeneratedRegex(@"\bReplacingExistingHead\(\)")]
    private static partial Regex ReplacingExistingHeadCall();

    [GeneratedRegex(@"\bIgnoreMismatchedSizes\b")]
    private static partial Regex IgnoreMismatchedSizesName();

    [GeneratedRegex(@"\bpass BadRowPolicy\.SkipAndCount\b")]
    private static partial Regex PassSkipAndCount();

    [GeneratedRegex(@"\bBadRowPolicy\.SkipAndCount\b")]
    private static partial Regex SkipAndCountName();

    [GeneratedRegex(@"\bWithMaxSequenceLength\((\d+)\)")]
    private static partial Regex WithMaxSequenceLengthCall();

    [GeneratedRegex(@"\bEncodingOptions\.MaxLength\b")]
    private static partial Regex EncodingOptionsMaxLength();

    [GeneratedRegex(@"\bHubOptions\.Revision\b")]
    private static partial Regex HubOptionsRevision();

    [GeneratedRegex(@"\bHubOptions\.CacheDirectory\b")]
    private static partial Regex HubOptionsCacheDirectory();

    [GeneratedRegex(@", or raise HubOptions\.LockTimeout")]
    private static partial Regex RaiseLockTimeout();

    [GeneratedRegex(@" ?\((?:or )?HubOptions\.\w+\)| or HubOptions\.\w+")]
    private static partial Regex HubOptionsAside();

    [GeneratedRegex(@"\b([Pp])ass a config\.json\b")]
    private static partial Regex PassConfigJson();

    [GeneratedRegex(@"\bTrainerOptions\.Loss: label smoothing\b")]
    private static partial Regex LabelSmoothingOfLoss();

    [GeneratedRegex(@"\bTrainerOptions\.(\w+)(:?)")]
    private static partial Regex TrainerOptionsMember();

    // Names of two or more capitalised words (MaxSteps, FreezeLowestLayers); one-word names (Seed, Loss) are ordinary English.
    [GeneratedRegex(@"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b")]
    private static partial Regex PascalCaseName();

    [GeneratedRegex(" {2,}")]
    private static partial Regex DoubleSpace();
}
