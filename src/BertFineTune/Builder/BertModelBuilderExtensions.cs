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
    /// <param name="builder">The builder.</param>
    /// <param name="labels">The label names, in id order.</param>
    /// <param name="pooling">
    /// What the classifier reads (<see cref="BertConfig.ClassifierPooling"/>, saved as <c>classifier_pooling</c>):
    /// <see cref="PoolingMode.Pooler"/> (transformers' <c>BertForSequenceClassification</c>), or <see cref="PoolingMode.Cls"/>,
    /// <see cref="PoolingMode.Mean"/>, <see cref="PoolingMode.Max"/> of the last hidden states, which need no pooler weights;
    /// mean suits checkpoints trained for mean pooling whose pooler was never trained (sentence-transformers models such
    /// as all-MiniLM-L6-v2), above all with a frozen encoder. Null keeps the checkpoint's <c>classifier_pooling</c>
    /// (the pooler when it has none).
    /// </param>
    public static BertModelBuilder WithSequenceClassification(this BertModelBuilder builder, IReadOnlyList<string> labels, PoolingMode? pooling = null) =>
        WithClassification(builder, labels, ProblemType.SingleLabelClassification, pooling, "sequence classification");

    /// <summary>Multi-label classification: any subset of <paramref name="labels"/> (BCE with logits, sigmoid scores).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="labels">The label names, in id order.</param>
    /// <param name="pooling">What the classifier reads; see <see cref="WithSequenceClassification"/>. Null keeps the checkpoint's.</param>
    public static BertModelBuilder WithMultiLabelClassification(this BertModelBuilder builder, IReadOnlyList<string> labels, PoolingMode? pooling = null) =>
        WithClassification(builder, labels, ProblemType.MultiLabelClassification, pooling, "multi-label classification");

    /// <summary>Regression to one number per text or pair (MSE).</summary>
    /// <param name="builder">The builder.</param>
    /// <param name="label">The name of the number.</param>
    /// <param name="pooling">What the regressor reads; see <see cref="WithSequenceClassification"/>. Null keeps the checkpoint's.</param>
    public static BertModelBuilder WithRegression(this BertModelBuilder builder, string label = "score", PoolingMode? pooling = null) =>
        WithClassification(builder, [label], ProblemType.Regression, pooling, "regression");

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
    /// <param name="builder">The builder.</param>
    /// <param name="pooling">What each candidate is scored from; see <see cref="WithSequenceClassification"/>. Null keeps the checkpoint's.</param>
    public static BertModelBuilder WithMultipleChoice(this BertModelBuilder builder, PoolingMode? pooling = null)
    {
        CheckPooling(pooling);
        return Require(builder).WithHead(c => new MultipleChoiceHead(c), c => c with { ClassifierPooling = pooling ?? c.ClassifierPooling },
            pooling is { } p ? $"multiple-choice head ({BertConfigJson.NameOf(p)} pooling)" : "multiple-choice head");
    }

    /// <summary>Masked-language modelling, to adapt a model to a domain's text.</summary>
    public static BertModelBuilder WithMaskedLanguageModel(this BertModelBuilder builder) =>
        Require(builder).WithHead(c => new MaskedLanguageModelHead(c), description: "masked-LM head");

    /// <summary>Sentence embeddings with <paramref name="pooling"/>, L2-normalised when <paramref name="normalize"/>.</summary>
    public static BertModelBuilder WithSentenceEmbeddings(this BertModelBuilder builder, PoolingMode pooling = PoolingMode.Mean, bool normalize = false) =>
        Require(builder).WithHead(_ => new SentenceEmbeddingHead(pooling, normalize), description: "sentence-embedding head");

    private static BertModelBuilder WithClassification(BertModelBuilder builder, IReadOnlyList<string> labels, ProblemType problemType,
        PoolingMode? pooling, string description)
    {
        ArgumentNullException.ThrowIfNull(builder);
        CheckLabels(labels);
        CheckPooling(pooling);
        return builder.WithHead(c => new SequenceClassificationHead(c),
            c => c with { Labels = labels, ProblemType = problemType, ClassifierPooling = pooling ?? c.ClassifierPooling },
            $"{description} head ({labels.Count} labels{PoolingNote(pooling)})");
    }

    /// <summary>", mean pooling" when a pooling was chosen (for the head's description in error messages), else empty.</summary>
    private static string PoolingNote(PoolingMode? pooling) => pooling is { } p ? $", {BertConfigJson.NameOf(p)} pooling" : "";

    private static void CheckPooling(PoolingMode? pooling)
    {
        if (pooling is { } p && !Enum.IsDefined(p))
        {
            throw new ArgumentOutOfRangeException(nameof(pooling), p, $"Use one of {string.Join(", ", Enum.GetNames<PoolingMode>())}.");
        }
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
