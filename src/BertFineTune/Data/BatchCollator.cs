using BertFineTune.Heads;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

namespace BertFineTune.Data;

/// <summary>
/// Stacks examples into a <see cref="BertBatch"/> with dynamic padding: every tensor is padded to the longest example
/// of the batch (rounded up to <see cref="PadToMultipleOf"/>), not to a fixed length.
/// </summary>
public sealed class BatchCollator
{
    /// <summary>Creates a collator padding with <paramref name="padTokenId"/>.</summary>
    public BatchCollator(int padTokenId = 0, int? padToMultipleOf = null, LossOptions? loss = null)
    {
        if (padToMultipleOf is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(padToMultipleOf), padToMultipleOf, "PadToMultipleOf must be positive.");
        }
        PadTokenId = padTokenId;
        PadToMultipleOf = padToMultipleOf;
        Loss = loss;
    }

    /// <summary>Id written into padding positions.</summary>
    public int PadTokenId { get; }

    /// <summary>Padded lengths are rounded up to a multiple of this, when set.</summary>
    public int? PadToMultipleOf { get; }

    /// <summary>Loss settings (class weights, label smoothing) attached to every batch.</summary>
    public LossOptions? Loss { get; }

    /// <summary>
    /// Builds the batch tensors on <paramref name="device"/> (CPU when null). The returned batch owns its tensors:
    /// dispose it, or create it inside a dispose scope.
    /// </summary>
    /// <exception cref="ArgumentException">The examples disagree on their targets (name, kind or vector length).</exception>
    public BertBatch Collate(IReadOnlyList<EncodedExample> examples, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0)
        {
            throw new ArgumentException("A batch needs at least one example.", nameof(examples));
        }
        int length = PaddedBatch.PaddedLength(examples.Max(e => e.Length), PadToMultipleOf);
        // Checked before any tensor exists, so a refused batch leaves nothing behind.
        var extra = examples.Skip(1).Select((e, i) => (e, i: i + 1)).FirstOrDefault(p => p.e.Targets.Count != examples[0].Targets.Count);
        if (extra.e is not null)
        {
            throw new ArgumentException(
                $"Example {extra.i} has targets [{string.Join(", ", extra.e.Targets.Keys)}] but example 0 has [{string.Join(", ", examples[0].Targets.Keys)}].",
                nameof(examples));
        }
        var targets = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var name in examples[0].Targets.Keys)
            {
                targets[name] = StackTarget(name, examples, length, device);
            }
            var (ids, mask, types) = PaddedBatch.Build(examples.Select(e => new PaddedRow(e.InputIds, e.TokenTypeIds, e.AttentionMask)).ToList(),
                length, PadTokenId, device);
            return new BertBatch(ids, mask, types, targets, Loss, ownsTensors: true);
        }
        catch
        {
            foreach (var stacked in targets.Values)
            {
                stacked.Dispose();
            }
            throw;
        }
    }

    private static Tensor StackTarget(string name, IReadOnlyList<EncodedExample> examples, int length, Device? device)
    {
        var kind = examples[0].Targets[name].Kind;
        TargetValue Get(int i)
        {
            if (!examples[i].Targets.TryGetValue(name, out var value) || value.Kind != kind)
            {
                throw new ArgumentException(
                    $"Example {i} has no {kind} target '{name}', which example 0 has; every example of a batch needs the same targets.", nameof(examples));
            }
            return value;
        }

        switch (kind)
        {
            case TargetKind.Integer:
                return tensor(Enumerable.Range(0, examples.Count).Select(i => Get(i).IntegerValue).ToArray(), device: device);
            case TargetKind.Number:
                return tensor(Enumerable.Range(0, examples.Count).Select(i => Get(i).NumberValue).ToArray(), device: device);
            case TargetKind.Vector:
            {
                int width = examples[0].Targets[name].VectorValue!.Count;
                var values = new float[examples.Count * width];
                for (int i = 0; i < examples.Count; i++)
                {
                    var vector = Get(i).VectorValue!;
                    if (vector.Count != width)
                    {
                        throw new ArgumentException($"Example {i}'s '{name}' has {vector.Count} values but example 0's has {width}.", nameof(examples));
                    }
                    for (int k = 0; k < width; k++)
                    {
                        values[i * width + k] = vector[k];
                    }
                }
                return tensor(values, [examples.Count, width], device: device);
            }
            case TargetKind.TokenLabels:
            {
                var values = new long[examples.Count * length];
                Array.Fill(values, -100L);
                for (int i = 0; i < examples.Count; i++)
                {
                    var labels = Get(i).TokenLabelValues!;
                    if (labels.Count != examples[i].Length)
                    {
                        throw new ArgumentException(
                            $"Example {i}'s '{name}' has {labels.Count} labels for {examples[i].Length} tokens; give one label per token (-100 to ignore).", nameof(examples));
                    }
                    for (int k = 0; k < labels.Count; k++)
                    {
                        values[i * length + k] = labels[k];
                    }
                }
                return tensor(values, [examples.Count, length], device: device);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(examples), kind, "Unknown target kind.");
        }
    }
}
