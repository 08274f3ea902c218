using System.Globalization;
using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Modeling;
using static TorchSharp.torch;

namespace BertFineTune.Conformance;

/// <summary>One reference output compared with what the model produced.</summary>
/// <param name="Name">The reference key, e.g. <c>out.logits</c>.</param>
/// <param name="MaxAbsDiff">Largest absolute difference, or null when the output could not be compared.</param>
/// <param name="Passed">Whether it matched within the tolerance.</param>
/// <param name="Problem">Why it could not be compared (missing output, shape mismatch), or null.</param>
public sealed record OutputComparison(string Name, double? MaxAbsDiff, bool Passed, string? Problem)
{
    /// <summary>The harness's line for this output.</summary>
    public override string ToString() =>
        MaxAbsDiff is { } diff
            ? $"{Name} max_abs_diff={diff.ToString("G6", CultureInfo.InvariantCulture)}{(Passed ? "" : " FAIL")}"
            : $"{Name} max_abs_diff=n/a FAIL ({Problem})";
}

/// <summary>
/// Loads a model folder through the public API, runs it in eval mode on the <c>in.*</c> tensors of its
/// <c>reference_io.safetensors</c> and compares every <c>out.*</c> tensor. An output the model cannot produce fails.
/// </summary>
public static class ReferenceComparison
{
    /// <summary>The reference file inside a model folder.</summary>
    public const string ReferenceFileName = "reference_io.safetensors";

    private const string FirstColumnsSuffix = "_first512";
    private const int FirstColumns = 512;
    private static readonly string[] InputNames = ["input_ids", "attention_mask", "token_type_ids"];

    /// <summary>Compares every reference output of <paramref name="modelFolder"/> within <paramref name="tolerance"/>.</summary>
    public static IReadOnlyList<OutputComparison> Run(string modelFolder, double tolerance)
    {
        var referencePath = Path.Combine(modelFolder, ReferenceFileName);
        using var reference = SafeTensorsFile.Open(referencePath);
        using var model = BertForTask.LoadFolder(modelFolder);
        model.eval();

        using var scope = NewDisposeScope();
        var inputs = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var targets = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var info in reference.Tensors.Where(t => t.Name.StartsWith("in.", StringComparison.Ordinal)))
        {
            var name = info.Name["in.".Length..];
            (InputNames.Contains(name) ? inputs : targets)[name] = reference.ReadTensor(info.Name);
        }
        if (!inputs.TryGetValue("input_ids", out var inputIds))
        {
            throw new InvalidDataException($"{referencePath} has no in.input_ids.");
        }
        var outputNames = reference.Tensors.Select(t => t.Name).Where(n => n.StartsWith("out.", StringComparison.Ordinal)).ToList();
        var options = new EncoderOutputOptions(
            OutputHiddenStates: outputNames.Any(n => n.StartsWith("out.hidden_states.", StringComparison.Ordinal)),
            OutputAttentions: outputNames.Any(n => n.StartsWith("out.attentions.", StringComparison.Ordinal)));

        var batch = new BertBatch(inputIds, inputs.GetValueOrDefault("attention_mask"), inputs.GetValueOrDefault("token_type_ids"), targets);
        using var _ = no_grad();
        using var output = model.Forward(batch, options);

        var results = new List<OutputComparison>();
        foreach (var name in outputNames)
        {
            results.Add(Compare(name, reference.ReadTensor(name), output, targets, tolerance));
        }
        return results;
    }

    private static OutputComparison Compare(string referenceName, Tensor expected, ModelOutput output,
        IReadOnlyDictionary<string, Tensor> targets, double tolerance)
    {
        var name = referenceName["out.".Length..];
        bool firstColumnsOnly = name.EndsWith(FirstColumnsSuffix, StringComparison.Ordinal);
        if (firstColumnsOnly)
        {
            name = name[..^FirstColumnsSuffix.Length];
        }
        var actual = output.Get(name);
        if (actual is null)
        {
            var reason = name == "loss" && targets.Count == 0
                ? "the reference holds a loss but no in.* targets (labels) to compute it from"
                : $"the model produced no '{name}' (it produced: {string.Join(", ", output.Tensors.Keys)})";
            return new OutputComparison(referenceName, null, false, reason);
        }
        if (firstColumnsOnly)
        {
            actual = actual.narrow(-1, 0, Math.Min(FirstColumns, actual.shape[^1]));
        }
        // A scalar loss is stored as shape [1].
        if (actual.dim() == 0)
        {
            actual = actual.reshape(1);
        }
        if (!actual.shape.SequenceEqual(expected.shape))
        {
            return new OutputComparison(referenceName, null, false,
                $"shape [{string.Join(", ", actual.shape)}] differs from the reference [{string.Join(", ", expected.shape)}]");
        }
        double diff = expected.numel() == 0
            ? 0
            : (actual.to_type(ScalarType.Float64) - expected.to_type(ScalarType.Float64)).abs().max().item<double>();
        return new OutputComparison(referenceName, diff, diff <= tolerance && !double.IsNaN(diff), null);
    }
}
