using static TorchSharp.torch;

namespace BertFineTune.Tokenization;

/// <summary>The tensor form of a <see cref="BatchEncoding"/> (kept here because the tokenizer itself is torch-free, in BertFineTune.Core).</summary>
internal static class BatchEncodingTensors
{
    /// <summary>
    /// The batch as [batch, length] Int64 tensors on <paramref name="device"/> (CPU when null): <c>input_ids</c>,
    /// <c>attention_mask</c>, <c>token_type_ids</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The encodings have different lengths (encode with padding).</exception>
    internal static TokenizedTensors ToTensors(this BatchEncoding batch, Device? device = null)
    {
        if (batch.Encodings.Count == 0)
        {
            throw new InvalidOperationException("The batch is empty.");
        }
        int length = batch.Encodings[0].Length;
        if (batch.Encodings.Any(e => e.Length != length))
        {
            throw new InvalidOperationException(
                $"Encodings have lengths from {batch.Encodings.Min(e => e.Length)} to {batch.Encodings.Max(e => e.Length)}; encode with Padding to stack them.");
        }
        // Every row is already as long as the batch, so the pad id is never written.
        var (ids, mask, types) = PaddedBatch.Build(batch.Encodings.Select(PaddedRow.Of).ToList(), length, padTokenId: 0, device);
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
