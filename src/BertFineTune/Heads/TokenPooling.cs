using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// The one implementation of <see cref="PoolingMode"/>: turns the encoder's outputs into one vector per sequence, for the
/// classification heads (<c>classifier_pooling</c>), the sentence-embedding head and the bare encoder's <c>mean_pooled</c>.
/// </summary>
internal static class TokenPooling
{
    /// <summary>
    /// Pools <paramref name="encoded"/> into [batch, hidden]: the pooler output for <see cref="PoolingMode.Pooler"/>, else
    /// <see cref="Pool(Tensor, Tensor?, PoolingMode)"/> over the last hidden state.
    /// </summary>
    /// <exception cref="InvalidOperationException"><see cref="PoolingMode.Pooler"/> on an encoder built without its pooler.</exception>
    public static Tensor Pool(BertEncoderOutput encoded, Tensor? attentionMask, PoolingMode pooling)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        if (pooling == PoolingMode.Pooler)
        {
            return encoded.PoolerOutput ?? throw new InvalidOperationException(
                "Pooling 'pooler' reads the pooler output, but the encoder was built without its pooler; choose cls, mean or max, or a head that keeps the pooler.");
        }
        return Pool(encoded.LastHiddenState, attentionMask, pooling);
    }

    /// <summary>
    /// Pools <paramref name="hidden"/> [batch, seq, hidden] over the tokens <paramref name="attentionMask"/> [batch, seq]
    /// keeps (all when null): the first token's vector (<see cref="PoolingMode.Cls"/>), the masked mean (the sum over kept
    /// tokens divided by their count, clamped at 1e-9 as sentence-transformers' <c>Pooling</c> does) or the masked
    /// element-wise maximum (dropped tokens count as −∞). Padding therefore never changes a sequence's result.
    /// </summary>
    /// <exception cref="ArgumentException">The mask's shape is not [batch, seq] of <paramref name="hidden"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pooling"/> is <see cref="PoolingMode.Pooler"/> or not defined (the pooler is not a function of the hidden states alone).</exception>
    public static Tensor Pool(Tensor hidden, Tensor? attentionMask, PoolingMode pooling)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        if (pooling is not (PoolingMode.Cls or PoolingMode.Mean or PoolingMode.Max))
        {
            throw new ArgumentOutOfRangeException(nameof(pooling), pooling, "Only cls, mean and max pool the hidden states; the pooler output comes from the encoder.");
        }
        if (pooling == PoolingMode.Cls)
        {
            return hidden.select(1, 0);
        }
        if (attentionMask is not null && (attentionMask.dim() != 2 || attentionMask.shape[0] != hidden.shape[0] || attentionMask.shape[1] != hidden.shape[1]))
        {
            throw new ArgumentException(
                $"The attention mask [{string.Join(", ", attentionMask.shape)}] does not fit the hidden states [{string.Join(", ", hidden.shape)}]; it must be [batch, seq].",
                nameof(attentionMask));
        }
        using var scope = NewDisposeScope();
        var mask = (attentionMask ?? ones(hidden.shape[0], hidden.shape[1], device: hidden.device)).unsqueeze(-1).to_type(hidden.dtype);
        var pooled = pooling == PoolingMode.Max
            ? hidden.masked_fill(mask.eq(0), double.NegativeInfinity).max(1).values
            : (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9);
        return pooled.MoveToOuterDisposeScope();
    }
}
