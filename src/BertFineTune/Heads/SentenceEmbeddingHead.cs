using BertFineTune.Modeling;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>How token vectors become one sentence vector.</summary>
public enum PoolingMode
{
    /// <summary>The <c>[CLS]</c> token's last hidden state.</summary>
    Cls,
    /// <summary>The mean of the non-padding tokens' last hidden states.</summary>
    Mean,
    /// <summary>The element-wise maximum over the non-padding tokens.</summary>
    Max,
}

/// <summary>
/// Sentence embeddings (feature extraction): pools the encoder's last hidden state into one vector per input, optionally
/// L2-normalised, as the <c>embeddings</c> output. No weights of its own; saved as a bare <c>BertModel</c>.
/// </summary>
public sealed class SentenceEmbeddingHead : TaskHead
{
    /// <summary>Creates the head with <paramref name="pooling"/>, normalising to unit length when <paramref name="normalize"/>.</summary>
    public SentenceEmbeddingHead(PoolingMode pooling = PoolingMode.Mean, bool normalize = false) : base(nameof(SentenceEmbeddingHead))
    {
        Pooling = pooling;
        Normalize = normalize;
    }

    /// <summary>The pooling.</summary>
    public PoolingMode Pooling { get; }

    /// <summary>Whether vectors are L2-normalised.</summary>
    public bool Normalize { get; }

    /// <inheritdoc />
    public override string ArchitectureName => "BertModel";

    /// <inheritdoc />
    public override bool UsesPooler => true;

    /// <inheritdoc />
    public override bool PrefixEncoderKeys => false;

    /// <inheritdoc />
    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var hidden = encoded.LastHiddenState;
        var pooled = Pool(hidden, batch.AttentionMask, Pooling);
        if (Normalize)
        {
            pooled = nn.functional.normalize(pooled, p: 2, dim: -1);
        }
        return CreateOutput(encoded, ("embeddings", pooled), ("last_hidden_state", hidden));
    }

    /// <summary>Pools <paramref name="hidden"/> [batch, seq, hidden] over the tokens <paramref name="attentionMask"/> keeps (all when null).</summary>
    internal static Tensor Pool(Tensor hidden, Tensor? attentionMask, PoolingMode pooling)
    {
        var mask = (attentionMask ?? ones(hidden.shape[0], hidden.shape[1], device: hidden.device)).unsqueeze(-1).to_type(hidden.dtype);
        return pooling switch
        {
            PoolingMode.Cls => hidden.select(1, 0),
            PoolingMode.Max => hidden.masked_fill(mask.eq(0), double.NegativeInfinity).max(1).values,
            _ => (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9),
        };
    }
}
