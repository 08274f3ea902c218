using System.Globalization;
using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// The bare encoder (transformers' <c>BertModel</c>): no weights of its own. Outputs <c>last_hidden_state</c>,
/// <c>pooler_output</c> and <c>mean_pooled</c>, the attention-masked mean of the last hidden state (a sentence embedding).
/// </summary>
public sealed class FeatureExtractionHead : TaskHead
{
    /// <summary>Creates the head; <paramref name="withPooler"/> keeps the encoder's pooler (as <c>BertModel</c> does by default).</summary>
    public FeatureExtractionHead(bool withPooler = true) : base(nameof(FeatureExtractionHead))
    {
        UsesPooler = withPooler;
    }

    /// <inheritdoc />
    public override string ArchitectureName => "BertModel";

    /// <inheritdoc />
    public override bool UsesPooler { get; }

    /// <inheritdoc />
    public override bool PrefixEncoderKeys => false;

    /// <summary><c>last_hidden_state</c> [batch_size, sequence_length, hidden] and, with the pooler, <c>pooler_output</c> [batch_size, hidden] (optimum's outputs of <c>BertModel</c>).</summary>
    public override bool ExportOnnx(OnnxHeadGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var hidden = graph.Config.HiddenSize.ToString(CultureInfo.InvariantCulture);
        graph.Output("last_hidden_state", graph.LastHiddenState, "batch_size", "sequence_length", hidden);
        if (graph.PoolerOutput is { } pooled)
        {
            graph.Output("pooler_output", pooled, "batch_size", hidden);
        }
        return true;
    }

    /// <inheritdoc />
    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var hidden = encoded.LastHiddenState;
        var meanPooled = TokenPooling.Pool(hidden, batch.AttentionMask, PoolingMode.Mean);
        return CreateOutput(encoded, ("last_hidden_state", hidden), ("pooler_output", encoded.PoolerOutput),
            ("mean_pooled", meanPooled));
    }
}
