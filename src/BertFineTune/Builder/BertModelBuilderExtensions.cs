using BertFineTune.Checkpoints;
using BertFineTune.Heads;

namespace BertFineTune.Builder;

/// <summary>The built-in heads as one-call builder steps; each is a thin layer over <see cref="BertModelBuilder.WithHead"/>.</summary>
public static class BertModelBuilderExtensions
{
    /// <summary>
    /// Single-label classification of a text or of a text pair (paraphrase, entailment: encode the pairs, the head is
    /// the same) over <paramref name="labels"/> (cross-entropy).
    /// </summary>
    public static BertModelBuilder WithSequenceClassification(this BertModelBuilder builder, IReadOnlyList<string> labels) =>
        WithClassification(builder, labels, ProblemType.SingleLabelClassification, "sequence classification");

    /// <summary>Multi-label classification: any subset of <paramref name="labels"/> (BCE with logits, sigmoid scores).</summary>
    public static BertModelBuilder WithMultiLabelClassification(this BertModelBuilder builder, IReadOnlyList<string> labels) =>
        WithClassification(builder, labels, ProblemType.MultiLabelClassification, "multi-label classification");

    /// <summary>Regression to one number per text or pair (MSE).</summary>
    public static BertModelBuilder WithRegression(this BertModelBuilder builder, string label = "score") =>
        WithClassification(builder, [label], ProblemType.Regression, "regression");

    /// <summary>A label per token over <paramref name="labels"/> (e.g. IOB2 entity tags).</summary>
    public static BertModelBuilder WithTokenClassification(this BertModelBuilder builder, IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(builder);
        CheckLabels(labels);
        return builder.WithHead(c => new TokenClassificationHead(c), c => c with { Labels = labels }, "token classification head");
    }

    /// <summary>Extractive question answering (start and end of the answer span).</summary>
    public static BertModelBuilder WithQuestionAnswering(this BertModelBuilder builder) =>
        Require(builder).WithHead(c => new QuestionAnsweringHead(c), description: "question-answering head");

    /// <summary>Multiple choice: one score per candidate, softmax over candidates.</summary>
    public static BertModelBuilder WithMultipleChoice(this BertModelBuilder builder) =>
        Require(builder).WithHead(c => new MultipleChoiceHead(c), description: "multiple-choice head");

    /// <summary>Masked-language modelling, to adapt a model to a domain's text.</summary>
    public static BertModelBuilder WithMaskedLanguageModel(this BertModelBuilder builder) =>
        Require(builder).WithHead(c => new MaskedLanguageModelHead(c), description: "masked-LM head");

    /// <summary>Sentence embeddings with <paramref name="pooling"/>, L2-normalised when <paramref name="normalize"/>.</summary>
    public static BertModelBuilder WithSentenceEmbeddings(this BertModelBuilder builder, PoolingMode pooling = PoolingMode.Mean, bool normalize = false) =>
        Require(builder).WithHead(_ => new SentenceEmbeddingHead(pooling, normalize), description: "sentence-embedding head");

    private static BertModelBuilder WithClassification(BertModelBuilder builder, IReadOnlyList<string> labels, ProblemType problemType, string description)
    {
        ArgumentNullException.ThrowIfNull(builder);
        CheckLabels(labels);
        return builder.WithHead(c => new SequenceClassificationHead(c), c => c with { Labels = labels, ProblemType = problemType },
            $"{description} head ({labels.Count} labels)");
    }

    private static void CheckLabels(IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count == 0)
        {
            throw new ArgumentException("Give at least one label.", nameof(labels));
        }
        var duplicate = labels.GroupBy(l => l, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"Label '{duplicate.Key}' is given twice.", nameof(labels));
        }
    }

    private static BertModelBuilder Require(BertModelBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder;
    }
}
