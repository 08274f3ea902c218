namespace BertFineTune.Training;

/// <summary>Where a run stands, as stored in a checkpoint's <c>trainer_state.json</c>.</summary>
internal sealed record TrainerPosition(
    int GlobalStep,
    int EpochIndex,
    int BatchesDoneInEpoch,
    long OptimizerSteps,
    double? BestMetric,
    int? BestStep,
    int EvaluationsWithoutImprovement,
    IReadOnlyList<StepRecord> Steps,
    IReadOnlyList<EvaluationRecord> Evaluations)
{
    /// <summary>The position of a run that starts from nothing.</summary>
    public static TrainerPosition Start { get; } = new(0, 0, 0, 0, null, null, 0, [], []);
}
