using BertFineTune.Checkpoints;

namespace BertFineTune.Heads;

/// <summary>Creates the built-in head that a checkpoint's <c>architectures</c> names.</summary>
internal static class TaskHeads
{
    /// <summary>The transformers class names with a built-in head.</summary>
    public static IReadOnlyList<string> SupportedArchitectures { get; } =
    [
        "BertModel", "BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering",
        "BertForMultipleChoice", "BertForMaskedLM", "BertForPreTraining",
    ];

    /// <summary>The head for <paramref name="architecture"/>, sized by <paramref name="config"/>.</summary>
    /// <exception cref="NotSupportedException">No built-in head has that name (the message lists those that do).</exception>
    public static TaskHead Create(string architecture, BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return architecture switch
        {
            "BertModel" => new FeatureExtractionHead(),
            "BertForSequenceClassification" => new SequenceClassificationHead(config),
            "BertForTokenClassification" => new TokenClassificationHead(config),
            "BertForQuestionAnswering" => new QuestionAnsweringHead(config),
            "BertForMultipleChoice" => new MultipleChoiceHead(config),
            "BertForMaskedLM" => new MaskedLanguageModelHead(config),
            "BertForPreTraining" => new PreTrainingHead(config),
            _ => throw new NotSupportedException(
                $"Architecture '{architecture}' has no built-in head; supported: {string.Join(", ", SupportedArchitectures)}. "
                + "Pass a TaskHead of your own to load it."),
        };
    }

    /// <summary>The head for the first entry of <paramref name="config"/>'s <c>architectures</c> (the bare encoder when it is empty).</summary>
    public static TaskHead FromConfig(BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return Create(config.Architectures.Count > 0 ? config.Architectures[0] : "BertModel", config);
    }
}
