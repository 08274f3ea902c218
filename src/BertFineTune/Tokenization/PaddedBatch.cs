using static TorchSharp.torch;

namespace BertFineTune.Tokenization;

/// <summary>One sequence to stack into a batch.</summary>
/// <param name="Ids">Token ids.</param>
/// <param name="TypeIds">Segment ids, one per token; null means all 0.</param>
/// <param name="AttentionMask">
/// The tokenizer's attention mask, one per token (0 for padding the tokenizer added); null means every token is attended.
/// </param>
internal readonly record struct PaddedRow(IReadOnlyList<int> Ids, IReadOnlyList<int>? TypeIds, IReadOnlyList<int>? AttentionMask)
{
    /// <summary>The row of <paramref name="encoding"/>, with the tokenizer's own attention mask.</summary>
    public static PaddedRow Of(EncodedText encoding) => new(encoding.Ids, encoding.TypeIds, encoding.AttentionMask);
}

/// <summary>
/// The one place that stacks token sequences into the model's three [batch, length] Int64 inputs: <c>input_ids</c>
/// padded with the pad id, <c>token_type_ids</c> padded with 0, and <c>attention_mask</c> = each row's own mask (the
/// tokenizer's, which already has 0 where the tokenizer padded) followed by 0 for the batch's padding. The collator,
/// the predictors and <see cref="BatchEncoding"/> all build their tensors here, so the mask has one source.
/// </summary>
internal static class PaddedBatch
{
    /// <summary><paramref name="longest"/> rounded up to a multiple of <paramref name="multiple"/> (transformers' <c>pad_to_multiple_of</c>).</summary>
    public static int PaddedLength(int longest, int? multiple) =>
        multiple is { } m ? (longest + m - 1) / m * m : longest;

    /// <summary>Stacks <paramref name="rows"/> into tensors of [rows, <paramref name="length"/>] on <paramref name="device"/>.</summary>
    /// <exception cref="ArgumentException">A row is longer than <paramref name="length"/>, or its segment ids or mask do not have one value per token.</exception>
    public static (Tensor InputIds, Tensor AttentionMask, Tensor TokenTypeIds) Build(IReadOnlyList<PaddedRow> rows, int length, int padTokenId, Device? device)
    {
        int count = rows.Count;
        var ids = new long[count * length];
        var mask = new long[ids.Length];
        var types = new long[ids.Length];
        Array.Fill(ids, padTokenId);
        for (int row = 0; row < count; row++)
        {
            var (rowIds, rowTypes, rowMask) = rows[row];
            if (rowIds.Count > length)
            {
                throw new ArgumentException($"Row {row} has {rowIds.Count} tokens, more than the batch length {length}.", nameof(rows));
            }
            if (rowTypes is not null && rowTypes.Count != rowIds.Count || rowMask is not null && rowMask.Count != rowIds.Count)
            {
                throw new ArgumentException(
                    $"Row {row} has {rowIds.Count} tokens but {rowTypes?.Count ?? rowIds.Count} segment ids and {rowMask?.Count ?? rowIds.Count} attention-mask values; give one of each per token.",
                    nameof(rows));
            }
            int at = row * length;
            for (int col = 0; col < rowIds.Count; col++, at++)
            {
                ids[at] = rowIds[col];
                types[at] = rowTypes?[col] ?? 0;
                mask[at] = rowMask?[col] ?? 1;
            }
        }
        long[] shape = [count, length];
        return (tensor(ids, shape, device: device), tensor(mask, shape, device: device), tensor(types, shape, device: device));
    }
}
