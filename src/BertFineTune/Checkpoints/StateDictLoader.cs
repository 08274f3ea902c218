using static TorchSharp.torch;

namespace BertFineTune.Checkpoints;

/// <summary>How checkpoint weights are matched to a model's parameters.</summary>
internal sealed record StateDictLoadOptions
{
    /// <summary>
    /// The prefix the base encoder's keys carry inside task models (<c>bert</c>). Checkpoints of the bare encoder, which
    /// lack it, load into task models and the other way round, as in transformers.
    /// </summary>
    public string BasePrefix { get; init; } = "bert";

    /// <summary>Checkpoint keys that hold a copy of a tied weight (e.g. <c>cls.predictions.decoder.weight</c>) and are skipped.</summary>
    public IReadOnlySet<string> TiedKeys { get; init; } = new HashSet<string>();

    /// <summary>Throw when any model parameter is missing from the checkpoint or any checkpoint tensor is unused.</summary>
    public bool Strict { get; init; }

    /// <summary>
    /// Leave parameters whose checkpoint shape differs (e.g. a classifier with another label count) newly initialised
    /// instead of throwing; they are listed in <see cref="LoadReport.MismatchedKeys"/>.
    /// </summary>
    public bool IgnoreMismatchedSizes { get; init; }
}

/// <summary>Copies checkpoint tensors into a model's parameters, mapping Hugging Face key variants to the model's keys.</summary>
internal static class StateDictLoader
{
    /// <summary>
    /// Loads <paramref name="checkpoint"/> into <paramref name="modelState"/> (a model's state dictionary: name → live
    /// tensor), converting dtypes to the parameter's. Handles the base prefix either way, legacy LayerNorm
    /// <c>gamma</c>/<c>beta</c>, the legacy <c>cls.predictions.decoder.bias</c>, and skips <c>embeddings.position_ids</c>
    /// and tied copies.
    /// </summary>
    /// <param name="checkpoint">The weights to read.</param>
    /// <param name="modelState">The parameters to fill, by Hugging Face key.</param>
    /// <param name="options">Matching rules; defaults when null.</param>
    /// <param name="source">Names the checkpoint in messages.</param>
    /// <exception cref="CheckpointMismatchException">A shape differs (unless ignored) or, in strict mode, any key is missing or unused.</exception>
    public static LoadReport Load(ICheckpointTensors checkpoint, IReadOnlyDictionary<string, Tensor> modelState,
        StateDictLoadOptions? options = null, string source = "checkpoint")
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(modelState);
        options ??= new StateDictLoadOptions();
        var (mapping, unexpected, ignored) = MapKeys(checkpoint.Names, modelState.Keys, options);

        // Every shape is checked before any parameter is written, so a refused checkpoint leaves the model as it was and
        // the exception names every tensor that differs (a new label count changes both classifier.weight and .bias).
        var mismatched = new List<string>();
        var problems = new List<string>();
        foreach (var (target, sourceKey) in mapping)
        {
            var modelShape = modelState[target].shape;
            var fileShape = checkpoint.ShapeOf(sourceKey);
            if (!fileShape.SequenceEqual(modelShape))
            {
                mismatched.Add($"{target}: checkpoint [{string.Join(", ", fileShape)}] vs model [{string.Join(", ", modelShape)}]");
                problems.Add($"tensor '{sourceKey}' has shape [{string.Join(", ", fileShape)}] but the model's '{target}' has "
                    + $"[{string.Join(", ", modelShape)}]");
            }
        }
        if (problems.Count > 0 && !options.IgnoreMismatchedSizes)
        {
            var report = BuildReport(modelState.Keys, mapping, unexpected, mismatched, ignored);
            throw new CheckpointMismatchException(
                $"{source}: {string.Join("; ", problems)}. If the head was meant to change (another label count), load with "
                + "IgnoreMismatchedSizes to initialise it anew.", report);
        }

        var mismatchedTargets = mismatched.Select(TargetOf).ToHashSet(StringComparer.Ordinal);
        using (no_grad())
        {
            foreach (var (target, sourceKey) in mapping)
            {
                if (mismatchedTargets.Contains(target))
                {
                    continue;
                }
                var parameter = modelState[target];
                using var value = checkpoint.ReadTensor(sourceKey, parameter.dtype);
                parameter.copy_(value);
            }
        }

        var result = BuildReport(modelState.Keys, mapping, unexpected, mismatched, ignored);
        if (options.Strict && !result.IsExactMatch)
        {
            throw new CheckpointMismatchException($"{source} does not match the model exactly (strict loading): {result}", result);
        }
        return result;
    }

    /// <summary>Decides which checkpoint key fills each model key. Pure: no tensors are read.</summary>
    internal static (Dictionary<string, string> Mapping, List<string> Unexpected, List<string> Ignored) MapKeys(
        IEnumerable<string> checkpointKeys, IEnumerable<string> modelKeys, StateDictLoadOptions options)
    {
        var targets = new HashSet<string>(modelKeys, StringComparer.Ordinal);
        var sources = checkpointKeys.ToList();
        var prefix = options.BasePrefix + ".";
        bool modelHasPrefix = targets.Any(k => k.StartsWith(prefix, StringComparison.Ordinal));
        bool checkpointHasPrefix = sources.Any(k => k.StartsWith(prefix, StringComparison.Ordinal));

        var mapping = new Dictionary<string, string>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        var ignored = new List<string>();
        foreach (var key in sources.OrderBy(k => k, StringComparer.Ordinal))
        {
            if (key.EndsWith("embeddings.position_ids", StringComparison.Ordinal))
            {
                ignored.Add(key);
                continue;
            }
            var name = RenameLegacy(key);
            if (modelHasPrefix && !checkpointHasPrefix && !targets.Contains(name) && targets.Contains(prefix + name))
            {
                name = prefix + name;
            }
            else if (!modelHasPrefix && checkpointHasPrefix && name.StartsWith(prefix, StringComparison.Ordinal))
            {
                name = name[prefix.Length..];
            }
            // Old checkpoints store the masked-LM bias only as the decoder's bias.
            if (name == "cls.predictions.decoder.bias" && targets.Contains("cls.predictions.bias")
                && !sources.Contains("cls.predictions.bias"))
            {
                name = "cls.predictions.bias";
            }
            if (options.TiedKeys.Contains(name))
            {
                ignored.Add(key);
            }
            else if (targets.Contains(name) && !mapping.ContainsKey(name))
            {
                mapping[name] = key;
            }
            else
            {
                unexpected.Add(key);
            }
        }
        return (mapping, unexpected, ignored);
    }

    private static string RenameLegacy(string key)
    {
        // TensorFlow-era checkpoints name LayerNorm parameters gamma and beta.
        if (key.EndsWith(".gamma", StringComparison.Ordinal))
        {
            return key[..^".gamma".Length] + ".weight";
        }
        if (key.EndsWith(".beta", StringComparison.Ordinal))
        {
            return key[..^".beta".Length] + ".bias";
        }
        return key;
    }

    /// <summary>The model key a <see cref="LoadReport.MismatchedKeys"/> entry describes.</summary>
    /// <summary>The model key of a <see cref="LoadReport.MismatchedKeys"/> entry ("key: checkpoint [..] vs model [..]").</summary>
    internal static string TargetOf(string mismatch) => mismatch[..mismatch.IndexOf(':', StringComparison.Ordinal)];

    private static LoadReport BuildReport(IEnumerable<string> modelKeys, Dictionary<string, string> mapping,
        List<string> unexpected, List<string> mismatched, List<string> ignored)
    {
        var mismatchedTargets = mismatched.Select(TargetOf).ToHashSet(StringComparer.Ordinal);
        var missing = modelKeys.Where(k => !mapping.ContainsKey(k) && !mismatchedTargets.Contains(k))
            .OrderBy(k => k, StringComparer.Ordinal).ToList();
        return new LoadReport(missing.AsReadOnly(), unexpected.AsReadOnly(), mismatched.AsReadOnly(), ignored.AsReadOnly());
    }
}
