using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>The loss functions of transformers' BERT heads.</summary>
internal static class Losses
{
    /// <summary>Label value ignored by cross-entropy (PyTorch's default <c>ignore_index</c>).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>
    /// transformers' sequence-classification loss. With no <paramref name="problemType"/>: one label → regression;
    /// integer labels → single-label; otherwise multi-label.
    /// </summary>
    public static Tensor SequenceClassification(Tensor logits, Tensor labels, string? problemType)
    {
        long numLabels = logits.shape[^1];
        problemType ??= numLabels == 1
            ? "regression"
            : labels.dtype is ScalarType.Int64 or ScalarType.Int32 ? "single_label_classification" : "multi_label_classification";
        switch (problemType)
        {
            case "regression":
                var target = labels.to_type(logits.dtype);
                return numLabels == 1
                    ? nn.functional.mse_loss(logits.squeeze(), target.squeeze())
                    : nn.functional.mse_loss(logits, target);
            case "single_label_classification":
                return nn.functional.cross_entropy(logits.view(-1, numLabels), labels.view(-1).to_type(ScalarType.Int64),
                    ignore_index: IgnoreIndex);
            case "multi_label_classification":
                if (!labels.shape.SequenceEqual(logits.shape))
                {
                    throw new ArgumentException(
                        $"Multi-label targets must have the logits' shape [{string.Join(", ", logits.shape)}]; got [{string.Join(", ", labels.shape)}].");
                }
                return nn.functional.binary_cross_entropy_with_logits(logits, labels.to_type(logits.dtype));
            default:
                throw new ArgumentException($"Unknown problem_type '{problemType}'.", nameof(problemType));
        }
    }

    /// <summary>Mean cross-entropy over all positions whose label is not -100.</summary>
    public static Tensor TokenCrossEntropy(Tensor logits, Tensor labels)
    {
        long classes = logits.shape[^1];
        return nn.functional.cross_entropy(logits.view(-1, classes), labels.view(-1).to_type(ScalarType.Int64),
            ignore_index: IgnoreIndex);
    }
}
