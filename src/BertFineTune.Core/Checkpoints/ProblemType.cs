namespace BertFineTune.Checkpoints;

/// <summary>
/// The loss a sequence-classification head trains with, as <c>problem_type</c> in <c>config.json</c>
/// (transformers <c>configuration_utils.py</c>, <c>PretrainedConfig</c>: the allowed problem types). When a config leaves
/// it unset (<see cref="BertConfig.ProblemType"/> null) it is inferred as <c>BertForSequenceClassification.forward</c>
/// does: one label → regression, integer labels → single-label, otherwise multi-label.
/// </summary>
public enum ProblemType
{
    /// <summary><c>single_label_classification</c>: one class per example, cross-entropy, softmax scores.</summary>
    SingleLabelClassification,

    /// <summary><c>multi_label_classification</c>: any subset of the labels, BCE with logits, sigmoid scores.</summary>
    MultiLabelClassification,

    /// <summary><c>regression</c>: one number per label, mean squared error, raw scores.</summary>
    Regression,
}
