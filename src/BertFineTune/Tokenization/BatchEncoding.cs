using static TorchSharp.torch;

namespace BertFineTune.Tokenization;

/// <summary>The encodings of a batch, in input order (overflow windows of one input next to each other).</summary>
public sealed class BatchEncoding
{
    internal BatchEncoding(IReadOnlyList<EncodedText> encodings) => Encodings = encodings;

    /// <summary>One encoding per input, or per window when overflowing tokens were requested.</summary>
    public IReadOnlyList<EncodedText> Encodings { get; }

    /// <summary>Each encoding's input index (transformers' <c>overflow_to_sample_mapping</c>).</summary>
    public IReadOnlyList<int> SampleMapping => Encodings.Select(e => e.SampleIndex).ToList();

    /// <summary>
    /// The batch as [batch, length] Int64 tensors on <paramref name="device"/> (CPU when null): <c>input_ids</c>,
    /// <c>attention_mask</c>, <c>token_type_ids</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The encodings have different lengths (encode with padding).</exception>
    internal TokenizedTensors ToTensors(Device? device = null)
    {
        if (Encodings.Count == 0)
        {
            throw new InvalidOperationException("The batch is empty.");
        }
        int length = Encodings[0].Length;
        if (Encodings.Any(e => e.Length != length))
        {
            throw new InvalidOperationException(
                $"Encodings have lengths from {Encodings.Min(e => e.Length)} to {Encodings.Max(e => e.Length)}; encode with Padding to stack them.");
        }
        // Every row is already as long as the batch, so the pad id is never written.
        var (ids, mask, types) = PaddedBatch.Build(Encodings.Select(PaddedRow.Of).ToList(), length, padTokenId: 0, device);
        return new TokenizedTensors(ids, mask, types);
    }
}

/// <summary>A tokenized batch as tensors; disposing it disposes the three tensors.</summary>
/// <param name="InputIds">[batch, length] token ids.</param>
/// <param name="AttentionMask">[batch, length], 1 for tokens and 0 for padding.</param>
/// <param name="TokenTypeIds">[batch, length] segment ids.</param>
internal sealed record TokenizedTensors(Tensor InputIds, Tensor AttentionMask, Tensor TokenTypeIds) : IDisposable
{
    /// <inheritdoc />
    public void Dispose()
    {
        InputIds.Dispose();
        AttentionMask.Dispose();
        TokenTypeIds.Dispose();
    }
}
