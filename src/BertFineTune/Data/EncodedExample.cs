using BertFineTune.Tokenization;

namespace BertFineTune.Data;

/// <summary>What kind of value a <see cref="TargetValue"/> holds, which decides how a batch stacks it.</summary>
public enum TargetKind
{
    /// <summary>One integer per example (a class id, a position): stacked to Int64 [batch].</summary>
    Integer,
    /// <summary>One number per example (regression): stacked to Float32 [batch].</summary>
    Number,
    /// <summary>A fixed-length vector per example (multi-label): stacked to Float32 [batch, n].</summary>
    Vector,
    /// <summary>One integer per token (token labels): padded with -100 to Int64 [batch, length].</summary>
    TokenLabels,
}

/// <summary>One target of an example, named in <see cref="EncodedExample.Targets"/> by transformers' argument name.</summary>
public readonly record struct TargetValue
{
    private TargetValue(TargetKind kind, long integer, float number, IReadOnlyList<float>? vector, IReadOnlyList<long>? tokenLabels)
    {
        Kind = kind;
        IntegerValue = integer;
        NumberValue = number;
        VectorValue = vector;
        TokenLabelValues = tokenLabels;
    }

    /// <summary>How the value is stacked.</summary>
    public TargetKind Kind { get; }

    /// <summary>The value of an <see cref="TargetKind.Integer"/> target.</summary>
    public long IntegerValue { get; }

    /// <summary>The value of a <see cref="TargetKind.Number"/> target.</summary>
    public float NumberValue { get; }

    /// <summary>The value of a <see cref="TargetKind.Vector"/> target.</summary>
    public IReadOnlyList<float>? VectorValue { get; }

    /// <summary>The value of a <see cref="TargetKind.TokenLabels"/> target (-100 = ignored).</summary>
    public IReadOnlyList<long>? TokenLabelValues { get; }

    /// <summary>A class id or position.</summary>
    public static TargetValue Integer(long value) => new(TargetKind.Integer, value, 0, null, null);

    /// <summary>A regression value.</summary>
    public static TargetValue Number(float value) => new(TargetKind.Number, 0, value, null, null);

    /// <summary>A multi-label vector (1 = label present).</summary>
    public static TargetValue Vector(IReadOnlyList<float> values) =>
        new(TargetKind.Vector, 0, 0, values ?? throw new ArgumentNullException(nameof(values)), null);

    /// <summary>Labels aligned with the example's tokens (-100 where the loss ignores a token).</summary>
    public static TargetValue TokenLabels(IReadOnlyList<long> labels) =>
        new(TargetKind.TokenLabels, 0, 0, null, labels ?? throw new ArgumentNullException(nameof(labels)));
}

/// <summary>
/// A tokenized training or evaluation example: token ids, segment ids, the tokenizer's attention mask and named
/// targets (<c>labels</c>, <c>start_positions</c>, …). Batches are built from these by <see cref="BatchCollator"/>.
/// </summary>
/// <param name="InputIds">Token ids, special tokens included.</param>
/// <param name="TokenTypeIds">Segment ids (zeros when null).</param>
/// <param name="Targets">Targets by transformers' argument name; empty for prediction.</param>
public sealed record EncodedExample(
    IReadOnlyList<int> InputIds,
    IReadOnlyList<int>? TokenTypeIds,
    IReadOnlyDictionary<string, TargetValue> Targets)
{
    /// <summary>
    /// The tokenizer's attention mask, one value per token (0 where the tokenizer padded); null when every token is
    /// attended. The collator keeps it and adds 0 for the batch's own padding.
    /// </summary>
    public IReadOnlyList<int>? AttentionMask { get; init; }

    /// <summary>Number of tokens (what length grouping sorts by).</summary>
    public int Length => InputIds.Count;

    /// <summary>The example of <paramref name="encoding"/> (its ids, segment ids and attention mask) with <paramref name="targets"/>.</summary>
    /// <param name="encoding">One encoded text or pair from the tokenizer.</param>
    /// <param name="targets">Targets by transformers' argument name; null for none (prediction).</param>
    public static EncodedExample FromEncoding(EncodedText encoding, IReadOnlyDictionary<string, TargetValue>? targets = null)
    {
        ArgumentNullException.ThrowIfNull(encoding);
        return new EncodedExample(encoding.Ids.ToArray(), encoding.TypeIds.ToArray(), targets ?? new Dictionary<string, TargetValue>())
        {
            AttentionMask = encoding.AttentionMask.ToArray(),
        };
    }

    /// <summary>An example with a single <c>labels</c> target.</summary>
    public static EncodedExample WithLabel(IReadOnlyList<int> inputIds, IReadOnlyList<int>? tokenTypeIds, TargetValue label) =>
        new(inputIds, tokenTypeIds, Labels(label));

    /// <summary>The example of <paramref name="encoding"/> with a single <c>labels</c> target.</summary>
    public static EncodedExample WithLabel(EncodedText encoding, TargetValue label) => FromEncoding(encoding, Labels(label));

    private static Dictionary<string, TargetValue> Labels(TargetValue label) => new() { ["labels"] = label };
}
