using BertFineTune.Data;
using BertFineTune.Runtime;
using TorchSharp.Modules;

namespace BertFineTune.Training;

/// <summary>One run's fixed parts (optimizer, schedule, data, hooks) and its mutable position.</summary>
internal sealed class RunState
{
    /// <summary>Starts at <paramref name="position"/> (a new run's, or the checkpoint's resumed from).</summary>
    public RunState(TrainerPosition position)
    {
        GlobalStep = position.GlobalStep;
        Steps = [.. position.Steps];
        Evaluations = [.. position.Evaluations];
        ResumedSteps = Steps.Count;
        ResumedEvaluations = Evaluations.Count;
    }

    public required AdamW Optimizer { get; init; }
    public required List<Parameter> Trainable { get; init; }
    public required LearningRateSchedule Schedule { get; init; }
    public required int TotalSteps { get; init; }
    public required int BatchesPerEpoch { get; init; }
    public required BatchSource? Evaluation { get; init; }
    public required Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? ComputeMetrics { get; init; }
    public required IReadOnlyList<TrainerCallback> Callbacks { get; init; }
    public required ProgressReporter Reporter { get; init; }
    public required BestModelTracker Best { get; init; }
    public required CancellationToken Cancellation { get; init; }

    /// <summary>Casts of the frozen weights, made once for the run (null in float32).</summary>
    public required WeightCastCache? FrozenCasts { get; init; }

    /// <summary>Adapts the thread count to other processes' load between steps (null when the count is fixed).</summary>
    public required CoreContention? Contention { get; init; }

    /// <summary>The run's wall time per phase and token counts, from its start (or resume).</summary>
    public required PhaseClock Clock { get; init; }

    public int GlobalStep;
    public double Epoch;
    public int EpochIndex;
    public int BatchesDone;
    public string? LastCheckpoint;
    /// <summary>The steps this run wrote a checkpoint of: pruning ranks them newer than any earlier run's.</summary>
    public readonly HashSet<int> SavedSteps = [];
    public readonly List<StepRecord> Steps;
    public readonly List<EvaluationRecord> Evaluations;
    public readonly int ResumedSteps;
    public readonly int ResumedEvaluations;

    /// <summary>The position to store in a checkpoint now.</summary>
    public TrainerPosition Position => new(GlobalStep, EpochIndex, BatchesDone, Optimizer.StepCount, Best.BestMetric,
        Best.BestStep, Best.Patience, Steps, Evaluations, Clock.Snapshot());
}
