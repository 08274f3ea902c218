namespace BertFineTune.Training;

/// <summary>A snapshot of a run for <see cref="IProgress{T}"/>.</summary>
/// <param name="Epoch">Fractional epoch (1.5 = half-way through the second epoch).</param>
/// <param name="Step">Optimizer steps done.</param>
/// <param name="TotalSteps">Optimizer steps the run will take.</param>
/// <param name="Loss">Mean training loss since the last report.</param>
/// <param name="LearningRate">Learning rate of the last step.</param>
/// <param name="SamplesPerSecond">Training examples per second since the last report.</param>
/// <param name="Remaining">Estimated time to finish.</param>
public sealed record TrainingProgress(double Epoch, int Step, int TotalSteps, double Loss, double LearningRate,
    double SamplesPerSecond, TimeSpan Remaining);

/// <summary>One optimizer step, as callbacks and the log history see it.</summary>
/// <param name="Step">The step's number, from 1.</param>
/// <param name="Epoch">Fractional epoch at the end of the step.</param>
/// <param name="Loss">The step's training loss (mean of its micro-batch losses).</param>
/// <param name="GradientNorm">Global gradient norm before clipping.</param>
/// <param name="LearningRate">Learning rate the update used.</param>
/// <param name="Skipped">True when the update was skipped because the loss or norm was not finite.</param>
public sealed record StepRecord(int Step, double Epoch, double Loss, double GradientNorm, double LearningRate, bool Skipped);

/// <summary>The result of one evaluation.</summary>
/// <param name="Step">The optimizer step it followed.</param>
/// <param name="Epoch">Fractional epoch.</param>
/// <param name="Metrics">Metrics by name, <c>loss</c> included.</param>
public sealed record EvaluationRecord(int Step, double Epoch, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// Hooks into a run. Each method sees one event and returns whether training should stop; override the ones you need.
/// </summary>
public abstract class TrainerCallback
{
    /// <summary>After every optimizer step. Return true to stop after it.</summary>
    public virtual bool OnStep(StepRecord step) => false;

    /// <summary>After every evaluation. Return true to stop.</summary>
    public virtual bool OnEvaluate(EvaluationRecord evaluation) => false;

    /// <summary>After a checkpoint is written to <paramref name="folder"/>. Return true to stop.</summary>
    public virtual bool OnSave(string folder, int step) => false;
}

/// <summary>What a finished (or stopped) run did.</summary>
/// <param name="GlobalStep">Optimizer steps done in total (resumed steps included).</param>
/// <param name="Epoch">Fractional epoch reached.</param>
/// <param name="TrainingLoss">Mean training loss over the steps of this run.</param>
/// <param name="StopReason">Why the run ended.</param>
/// <param name="BestMetric">The best value of the metric for the best model, when evaluated.</param>
/// <param name="BestStep">The step of that evaluation.</param>
/// <param name="LastCheckpoint">The newest checkpoint folder, when checkpoints were written.</param>
/// <param name="Steps">Every step of this run.</param>
/// <param name="Evaluations">Every evaluation of this run.</param>
public sealed record TrainingResult(int GlobalStep, double Epoch, double TrainingLoss, TrainingStopReason StopReason,
    double? BestMetric, int? BestStep, string? LastCheckpoint, IReadOnlyList<StepRecord> Steps,
    IReadOnlyList<EvaluationRecord> Evaluations)
{
    /// <summary>
    /// Where this run's wall time went (data, forward, backward, optimizer, evaluation, checkpoint) and the padding share
    /// of its training batches; a resumed run counts from the resume. <see cref="TrainingPhaseTimes.Zero"/> for a result
    /// built by hand.
    /// </summary>
    public TrainingPhaseTimes PhaseTimes { get; init; } = TrainingPhaseTimes.Zero;
}

/// <summary>Why a run ended.</summary>
public enum TrainingStopReason
{
    /// <summary>All epochs or steps were done.</summary>
    Completed,
    /// <summary>Early stopping found no improvement for the patience.</summary>
    EarlyStopping,
    /// <summary>A callback asked to stop.</summary>
    Callback,
    /// <summary>The cancellation token fired; a resumable checkpoint was written when an output folder is set.</summary>
    Cancelled,
}

/// <summary>A step's loss or gradient norm was NaN or infinite and <see cref="NonFiniteLossPolicy.Throw"/> was chosen.</summary>
public sealed class NonFiniteLossException : InvalidOperationException
{
    /// <summary>Creates the exception for <paramref name="step"/>.</summary>
    public NonFiniteLossException(int step, double loss, double gradientNorm)
        : base($"Training step {step}: loss {loss} and gradient norm {gradientNorm} are not both finite. Lower the learning rate, "
            + "check the inputs and labels, or set NonFiniteLoss = SkipStep to skip such steps.")
    {
        Step = step;
    }

    /// <summary>The step (from 1) whose loss or gradient was not finite.</summary>
    public int Step { get; }
}
