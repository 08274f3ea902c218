using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// Sentence embeddings (feature extraction): pools the encoder's outputs into one vector per input (see
/// <see cref="PoolingMode"/>; mean by default, the pooling sentence-transformers models such as all-MiniLM-L6-v2 were
/// trained with), optionally L2-normalised, as the <c>embeddings</c> output. No weights of its own; saved as a bare
/// <c>BertModel</c>.
/// </summary>
public sealed class SentenceEmbeddingHead : TaskHead
{
    /// <summary>Creates the head with <paramref name="pooling"/>, normalising to unit length when <paramref name="normalize"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pooling"/> is not a defined <see cref="PoolingMode"/>.</exception>
    public SentenceEmbeddingHead(PoolingMode pooling = PoolingMode.Mean, bool normalize = false) : base(nameof(SentenceEmbeddingHead))
    {
        if (!Enum.IsDefined(pooling))
        {
            throw new ArgumentOutOfRangeException(nameof(pooling), pooling, $"Use one of {string.Join(", ", Enum.GetNames<PoolingMode>())}.");
        }
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
        var pooled = TokenPooling.Pool(encoded, batch.AttentionMask, Pooling);
        if (Normalize)
        {
            pooled = nn.functional.normalize(pooled, p: 2, dim: -1);
        }
        return CreateOutput(encoded, ("embeddings", pooled), ("last_hidden_state", hidden));
    }
}
