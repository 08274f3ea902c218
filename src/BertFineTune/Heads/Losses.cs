using BertFineTune.Checkpoints;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>The loss functions of transformers' BERT heads.</summary>
internal static class Losses
{
    /// <summary>Label value ignored by cross-entropy (PyTorch's default <c>ignore_index</c>).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>
    /// transformers' sequence-classification loss. With no <paramref name="problemType"/>: one label → regression;
    /// integer labels → single-label; otherwise multi-label (<c>BertForSequenceClassification.forward</c>).
    /// </summary>
    public static Tensor SequenceClassification(Tensor logits, Tensor labels, ProblemType? problemType, LossOptions? options = null)
    {
        long numLabels = logits.shape[^1];
        problemType ??= numLabels == 1
            ? ProblemType.Regression
            : labels.dtype is ScalarType.Int64 or ScalarType.Int32 ? ProblemType.SingleLabelClassification : ProblemType.MultiLabelClassification;
        switch (problemType)
        {
            case ProblemType.Regression:
                var target = labels.to_type(logits.dtype);
                return numLabels == 1
                    ? nn.functional.mse_loss(logits.squeeze(), target.squeeze())
                    : nn.functional.mse_loss(logits, target);
            case ProblemType.SingleLabelClassification:
                return CrossEntropy(logits.view(-1, numLabels), labels.view(-1).to_type(ScalarType.Int64), options);
            case ProblemType.MultiLabelClassification:
                if (!labels.shape.SequenceEqual(logits.shape))
                {
                    throw new ArgumentException(
                        $"Multi-label targets must have the logits' shape [{string.Join(", ", logits.shape)}]; got [{string.Join(", ", labels.shape)}].");
                }
                using (var positive = Weights(options?.PositiveWeights, numLabels, "PositiveWeights", logits))
                {
                    return nn.functional.binary_cross_entropy_with_logits(logits, labels.to_type(logits.dtype), pos_weights: positive);
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(problemType), problemType, "Not a defined ProblemType.");
        }
    }

    /// <summary>Mean cross-entropy over all positions whose label is not -100.</summary>
    public static Tensor TokenCrossEntropy(Tensor logits, Tensor labels, LossOptions? options = null)
    {
        long classes = logits.shape[^1];
        return CrossEntropy(logits.view(-1, classes), labels.view(-1).to_type(ScalarType.Int64), options);
    }

    /// <summary>Cross-entropy with -100 ignored, and the class weights and label smoothing of <paramref name="options"/>.</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, LossOptions? options)
    {
        using var weight = Weights(options?.ClassWeights, logits.shape[^1], "ClassWeights", logits);
        return nn.functional.cross_entropy(logits, labels, weight, ignore_index: IgnoreIndex,
            label_smoothing: options?.LabelSmoothing ?? 0.0);
    }

    private static Tensor? Weights(IReadOnlyList<float>? values, long expected, string name, Tensor like)
    {
        if (values is null)
        {
            return null;
        }
        if (values.Count != expected)
        {
            throw new ArgumentException($"LossOptions.{name} has {values.Count} values but the head scores {expected} classes.");
        }
        return tensor(values.ToArray(), dtype: like.dtype, device: like.device);
    }
}
