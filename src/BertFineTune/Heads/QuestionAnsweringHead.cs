using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// Extractive question answering: a start and an end score per token (transformers' <c>BertForQuestionAnswering</c>).
/// The loss averages the start and end cross-entropies; positions outside the sequence are clamped and ignored, as in transformers.
/// </summary>
public sealed class QuestionAnsweringHead : TaskHead
{
    private readonly Linear qa_outputs;

    /// <summary>Creates the head for <paramref name="config"/>.</summary>
    public QuestionAnsweringHead(BertConfig config) : base(nameof(QuestionAnsweringHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        qa_outputs = nn.Linear(config.HiddenSize, 2);
        Initialization.Init(qa_outputs, config.InitializerRange);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override string ArchitectureName => "BertForQuestionAnswering";

    /// <summary><c>qa_outputs</c> on every token, split into <c>start_logits</c> and <c>end_logits</c> [batch_size, sequence_length] (optimum's names).</summary>
    public override bool ExportOnnx(OnnxHeadGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var both = graph.Linear(qa_outputs, graph.LastHiddenState);
        var w = graph.Writer;
        graph.Output("start_logits", w.Node("Gather", [both, w.Int64Scalar(0)], ("axis", -1L)), "batch_size", "sequence_length");
        graph.Output("end_logits", w.Node("Gather", [both, w.Int64Scalar(1)], ("axis", -1L)), "batch_size", "sequence_length");
        return true;
    }

    /// <inheritdoc />
    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var logits = qa_outputs.forward(encoded.LastHiddenState);
        var start = logits.select(-1, 0).contiguous();
        var end = logits.select(-1, 1).contiguous();

        Tensor? loss = null;
        var startPositions = batch.Target("start_positions");
        var endPositions = batch.Target("end_positions");
        if (startPositions is not null && endPositions is not null)
        {
            long ignored = start.shape[1];
            Tensor Positions(Tensor p) => (p.dim() > 1 ? p.squeeze(-1) : p).to_type(ScalarType.Int64).clamp(0, ignored);
            var startLoss = nn.functional.cross_entropy(start, Positions(startPositions), ignore_index: ignored);
            var endLoss = nn.functional.cross_entropy(end, Positions(endPositions), ignore_index: ignored);
            loss = (startLoss + endLoss) / 2;
        }
        return CreateOutput(encoded, ("loss", loss), ("start_logits", start), ("end_logits", end));
    }
}
