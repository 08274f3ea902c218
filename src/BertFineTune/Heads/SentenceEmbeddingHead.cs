using System.Globalization;
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

    /// <summary>
    /// <c>last_hidden_state</c> [batch_size, sequence_length, hidden] and <c>embeddings</c> [batch_size, hidden]: the pooled
    /// vector of <see cref="Pooling"/>, divided by max(‖x‖₂, 1e-12) when <see cref="Normalize"/> (torch's <c>F.normalize</c>).
    /// </summary>
    public override bool ExportOnnx(OnnxHeadGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var w = graph.Writer;
        var hidden = graph.Config.HiddenSize.ToString(CultureInfo.InvariantCulture);
        var pooled = graph.Pool(Pooling);
        if (Normalize)
        {
            var norm = w.Node("Sqrt", [w.Reduce("ReduceSum", w.Node("Mul", [pooled, pooled]), [-1], keepDims: true)]);
            pooled = w.Node("Div", [pooled, w.Node("Max", [norm, w.Scalar(1e-12f)])]);
        }
        graph.Output("last_hidden_state", graph.LastHiddenState, "batch_size", "sequence_length", hidden);
        graph.Output("embeddings", pooled, "batch_size", hidden);
        return true;
    }

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
