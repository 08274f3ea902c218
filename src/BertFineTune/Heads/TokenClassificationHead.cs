using System.Globalization;
using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>A label per token, e.g. named entities (transformers' <c>BertForTokenClassification</c>); labels of -100 are ignored by the loss.</summary>
public sealed class TokenClassificationHead : TaskHead
{
    private readonly Dropout dropout;
    private readonly Linear classifier;

    /// <summary>Creates the head for <paramref name="config"/>'s labels.</summary>
    public TokenClassificationHead(BertConfig config) : base(nameof(TokenClassificationHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        Labels = config.Labels;
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        classifier = nn.Linear(config.HiddenSize, config.NumLabels);
        Initialization.Init(classifier, config.InitializerRange);
        RegisterComponents();
    }

    /// <summary>The label names by id.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <inheritdoc />
    public override string ArchitectureName => "BertForTokenClassification";

    /// <inheritdoc />
    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var logits = classifier.forward(dropout.forward(encoded.LastHiddenState));
        var labels = batch.Target("labels");
        var loss = labels is null ? null : Losses.TokenCrossEntropy(logits, labels, batch.Loss);
        return CreateOutput(encoded, ("loss", loss), ("logits", logits));
    }

    /// <summary>The classifier on every token's last hidden state: <c>logits</c> [batch_size, sequence_length, num_labels].</summary>
    public override bool ExportOnnx(OnnxHeadGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        graph.Output("logits", graph.Linear(classifier, graph.LastHiddenState), "batch_size", "sequence_length", Labels.Count.ToString(CultureInfo.InvariantCulture));
        return true;
    }

    /// <inheritdoc />
    public override BertConfig DescribeInConfig(BertConfig config) => config with { Labels = Labels };
}
