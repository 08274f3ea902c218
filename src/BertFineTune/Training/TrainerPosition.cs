namespace BertFineTune.Training;

/// <summary>
/// Where a run stands, as stored in a checkpoint's <c>trainer_state.json</c>; <paramref name="PhaseTimes"/> is the time
/// per phase of the run that wrote it, from its start (or resume) to the checkpoint (null in a file written without it).
/// </summary>
internal sealed record TrainerPosition(
    int GlobalStep,
    int EpochIndex,
    int BatchesDoneInEpoch,
    long OptimizerSteps,
    double? BestMetric,
    int? BestStep,
    int EvaluationsWithoutImprovement,
    IReadOnlyList<StepRecord> Steps,
    IReadOnlyList<EvaluationRecord> Evaluations,
    TrainingPhaseTimes? PhaseTimes = null)
{
    /// <summary>The position of a run that starts from nothing.</summary>
    public static TrainerPosition Start { get; } = new(0, 0, 0, 0, null, null, 0, [], []);
}
