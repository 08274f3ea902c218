using System.Globalization;
using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// Sentence (pair) classification or regression (transformers' <c>BertForSequenceClassification</c>): dropout and a
/// linear layer on one vector per input, cross-entropy for single-label, BCE-with-logits for multi-label, MSE for
/// regression, with the problem type inferred exactly as transformers does when it is not set. The vector is the pooler
/// output, as in transformers, or the [CLS] state, mean or max of the last hidden states
/// (<see cref="BertConfig.ClassifierPooling"/>).
/// </summary>
public sealed class SequenceClassificationHead : TaskHead
{
    private readonly Dropout dropout;
    private readonly Linear classifier;

    /// <summary>Creates the head for <paramref name="config"/>'s labels, problem type and classifier pooling.</summary>
    public SequenceClassificationHead(BertConfig config) : base(nameof(SequenceClassificationHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        Labels = config.Labels;
        ProblemType = config.ProblemType;
        Pooling = config.ClassifierPooling;
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        classifier = nn.Linear(config.HiddenSize, config.NumLabels);
        Initialization.Init(classifier, config.InitializerRange);
        RegisterComponents();
    }

    /// <summary>The label names by id.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>The configured problem type, or null to infer it from the labels and targets as transformers does.</summary>
    public ProblemType? ProblemType { get; }

    /// <summary>What the classifier reads (<c>classifier_pooling</c>); <see cref="PoolingMode.Pooler"/> is transformers' behaviour.</summary>
    public PoolingMode Pooling { get; }

    /// <inheritdoc />
    public override string ArchitectureName => "BertForSequenceClassification";

    /// <summary>Whether the encoder keeps its pooler: only for <see cref="PoolingMode.Pooler"/> (a checkpoint's pooler weights are otherwise reported unused).</summary>
    public override bool UsesPooler => Pooling == PoolingMode.Pooler;

    /// <inheritdoc />
    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var logits = classifier.forward(dropout.forward(TokenPooling.Pool(encoded, batch.AttentionMask, Pooling)));
        var labels = batch.Target("labels");
        var loss = labels is null ? null : Losses.SequenceClassification(logits, labels, ProblemType, batch.Loss);
        return CreateOutput(encoded, ("loss", loss), ("logits", logits));
    }

    /// <summary>The classifier on the pooled vector of <see cref="Pooling"/>: <c>logits</c> [batch_size, num_labels].</summary>
    public override bool ExportOnnx(OnnxHeadGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        graph.Output("logits", graph.Linear(classifier, graph.Pool(Pooling)), "batch_size", Labels.Count.ToString(CultureInfo.InvariantCulture));
        return true;
    }

    /// <inheritdoc />
    public override BertConfig DescribeInConfig(BertConfig config) =>
        config with { Labels = Labels, ProblemType = ProblemType, ClassifierPooling = Pooling };
}
