using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Training;

namespace BertFineTune.Cli;

/// <summary>What each task needs: its head, its labels, its metrics.</summary>
internal static class TaskSupport
{
    /// <summary>The task's head; <paramref name="pooling"/> (null: the checkpoint's) for the sequence-level tasks.</summary>
    public static BertModelBuilder WithTask(BertModelBuilder builder, TaskKind task, IReadOnlyList<string> labels, PoolingMode? pooling = null) => task switch
    {
        TaskKind.Classification => builder.WithSequenceClassification(labels, pooling),
        TaskKind.PairClassification => builder.WithSequenceClassification(labels, pooling),
        TaskKind.MultiLabel => builder.WithMultiLabelClassification(labels, pooling),
        TaskKind.Regression => builder.WithRegression(labels.Count == 1 ? labels[0] : "score", pooling),
        TaskKind.Ner => builder.WithTokenClassification(labels),
        _ => builder.WithQuestionAnswering(),
    };

    /// <summary>Whether <paramref name="task"/> classifies whole sequences, the tasks <c>--pooling</c> applies to.</summary>
    public static bool PoolsSequences(TaskKind task) => task is TaskKind.Classification or TaskKind.PairClassification or TaskKind.MultiLabel or TaskKind.Regression;

    /// <summary>The task a loaded model's head serves.</summary>
    public static TaskKind TaskOf(TaskModel model) => model.Model.Head switch
    {
        SequenceClassificationHead h when h.ProblemType == ProblemType.MultiLabelClassification => TaskKind.MultiLabel,
        SequenceClassificationHead h when h.ProblemType == ProblemType.Regression || (h.ProblemType is null && h.Labels.Count == 1) => TaskKind.Regression,
        SequenceClassificationHead => TaskKind.Classification,
        TokenClassificationHead => TaskKind.Ner,
        QuestionAnsweringHead => TaskKind.Qa,
        var head => throw new NotSupportedException($"The model's {head.GetType().Name} head has no evaluation in the CLI."),
    };

    public static Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? Metrics(TaskKind task, IReadOnlyList<string> labels) => task switch
    {
        TaskKind.Classification or TaskKind.PairClassification => TaskMetrics.SingleLabel(),
        TaskKind.MultiLabel => TaskMetrics.MultiLabel(),
        TaskKind.Regression => TaskMetrics.Regression(),
        TaskKind.Ner => TaskMetrics.Entities(labels),
        _ => null,
    };

    public static string BestMetric(TaskKind task) => task switch
    {
        TaskKind.Classification or TaskKind.PairClassification => "accuracy",
        TaskKind.MultiLabel => "f1_micro",
        TaskKind.Regression => "pearson",
        TaskKind.Ner => "f1",
        _ => "loss",
    };
}
