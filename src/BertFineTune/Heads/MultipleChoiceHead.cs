using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// Multiple choice (transformers' <c>BertForMultipleChoice</c>): inputs are [batch, choices, seq]; each choice is encoded
/// separately and scored from one vector (the pooler output, as in transformers, or the [CLS] state, mean or max of its
/// last hidden states: <see cref="BertConfig.ClassifierPooling"/>), and the scores compete in a softmax over choices.
/// </summary>
public sealed class MultipleChoiceHead : TaskHead
{
    private readonly Dropout dropout;
    private readonly Linear classifier;

    /// <summary>Creates the head for <paramref name="config"/> and its classifier pooling.</summary>
    public MultipleChoiceHead(BertConfig config) : base(nameof(MultipleChoiceHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        Pooling = config.ClassifierPooling;
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        classifier = nn.Linear(config.HiddenSize, 1);
        Initialization.Init(classifier, config.InitializerRange);
        RegisterComponents();
    }

    /// <summary>What each choice is scored from (<c>classifier_pooling</c>); <see cref="PoolingMode.Pooler"/> is transformers' behaviour.</summary>
    public PoolingMode Pooling { get; }

    /// <inheritdoc />
    public override string ArchitectureName => "BertForMultipleChoice";

    /// <summary>Whether the encoder keeps its pooler: only for <see cref="PoolingMode.Pooler"/> (a checkpoint's pooler weights are otherwise reported unused).</summary>
    public override bool UsesPooler => Pooling == PoolingMode.Pooler;

    /// <inheritdoc />
    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.InputIds.dim() != 3)
        {
            throw new ArgumentException(
                $"Multiple choice input_ids must be [batch, choices, sequence], got [{string.Join(", ", batch.InputIds.shape)}].", nameof(batch));
        }
        using var scope = NewDisposeScope();
        long choices = batch.InputIds.shape[1];
        static Tensor? Flatten(Tensor? t) => t?.view(-1, t.shape[^1]);
        // Precomputed outputs of a multiple-choice batch are those of the flattened [batch × choices, seq] inputs.
        // So are cached frozen-layer states: [batch × choices, seq, hidden].
        var encoded = batch.EncoderOutput is { } cached
            ? Precomputed(encoder, cached, options)
            : batch.FrozenLayerStates is { } states
            ? FromFrozenLayerStates(encoder, states, Flatten(batch.AttentionMask), options)
            : encoder.Forward(Flatten(batch.InputIds)!, Flatten(batch.AttentionMask), Flatten(batch.TokenTypeIds), options);
        var pooled = TokenPooling.Pool(encoded, Flatten(batch.AttentionMask), Pooling);
        var logits = classifier.forward(dropout.forward(pooled)).view(-1, choices);
        var labels = batch.Target("labels");
        var loss = labels is null ? null : Losses.CrossEntropy(logits, labels.view(-1).to_type(ScalarType.Int64), batch.Loss);
        return CreateOutput(encoded, ("loss", loss), ("logits", logits));
    }

    /// <summary>
    /// One score per flattened choice from the pooled vector of <see cref="Pooling"/>, reshaped to <c>logits</c>
    /// [batch_size, num_choices] (<c>reshaped_logits = logits.view(-1, num_choices)</c> in transformers).
    /// </summary>
    public override bool ExportOnnx(OnnxHeadGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var w = graph.Writer;
        var scores = graph.Linear(classifier, graph.Pool(Pooling));
        var shape = w.Node("Concat", [w.Int64s(-1), w.ShapeOf(graph.InputIds, 1, 2)], ("axis", 0L));
        graph.Output("logits", w.Node("Reshape", [scores, shape]), "batch_size", "num_choices");
        return true;
    }

    /// <inheritdoc />
    public override BertConfig DescribeInConfig(BertConfig config) => config with { ClassifierPooling = Pooling };
}
