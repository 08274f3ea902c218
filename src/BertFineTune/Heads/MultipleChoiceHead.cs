using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// Multiple choice (transformers' <c>BertForMultipleChoice</c>): inputs are [batch, choices, seq]; each choice is encoded
/// separately, scored from its pooled first token, and the scores compete in a softmax over choices.
/// </summary>
public sealed class MultipleChoiceHead : TaskHead
{
    private readonly Dropout dropout;
    private readonly Linear classifier;

    /// <summary>Creates the head for <paramref name="config"/>.</summary>
    public MultipleChoiceHead(BertConfig config) : base(nameof(MultipleChoiceHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        classifier = nn.Linear(config.HiddenSize, 1);
        Initialization.Init(classifier, config.InitializerRange);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override string ArchitectureName => "BertForMultipleChoice";

    /// <inheritdoc />
    public override bool UsesPooler => true;

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
        var encoded = batch.EncoderOutput is { } cached
            ? Precomputed(encoder, cached, options)
            : encoder.Forward(Flatten(batch.InputIds)!, Flatten(batch.AttentionMask), Flatten(batch.TokenTypeIds), options);
        var logits = classifier.forward(dropout.forward(encoded.PoolerOutput!)).view(-1, choices);
        var labels = batch.Target("labels");
        var loss = labels is null ? null : Losses.CrossEntropy(logits, labels.view(-1).to_type(ScalarType.Int64), batch.Loss);
        return CreateOutput(encoded, ("loss", loss), ("logits", logits));
    }
}
