using System.Globalization;
using BertFineTune.Tokenization;
using Microsoft.Extensions.Logging;

namespace BertFineTune.Training;

/// <summary>
/// What happens between optimizer steps, as <see cref="TrainerOptions"/> schedules it (transformers'
/// <c>_maybe_log_save_evaluate</c>): evaluation with the best-model and early-stopping rules, checkpoints (and their
/// pruning), and the callbacks that may stop the run after either.
/// </summary>
internal sealed class EvaluationAndCheckpoints(ForwardPass forward, TrainerOptions options, ILogger logger, BertTokenizer? tokenizer = null)
{
    private readonly ForwardPass _forward = forward;
    private readonly TrainerOptions _options = options;
    private readonly ILogger _logger = logger;

    /// <summary>Step-based evaluation and saving; returns a stop reason when training must end.</summary>
    public TrainingStopReason? AfterStep(RunState run, bool endOfEpoch)
    {
        bool evaluate = run.Evaluation is not null
            && ((_options.EvaluateEverySteps is { } every && run.GlobalStep % every == 0) || (endOfEpoch && _options.EvaluateEveryEpoch));
        bool earlyStop = false;
        if (evaluate)
        {
            earlyStop = EvaluateAndTrack(run);
            if (run.Callbacks.Any(c => c.OnEvaluate(run.Evaluations[^1])))
            {
                SaveIfConfigured(run);
                return TrainingStopReason.Callback;
            }
        }
        // A new best is saved too, so a resumed run can still restore it at the end.
        bool newBest = evaluate && _options.LoadBestModelAtEnd && run.Best.BestStep == run.GlobalStep;
        bool save = _options.OutputDirectory is not null
            && ((_options.SaveEverySteps is { } saveEvery && run.GlobalStep % saveEvery == 0) || (endOfEpoch && _options.SaveEveryEpoch) || earlyStop || newBest);
        if (save && SaveCheckpoint(run))
        {
            return TrainingStopReason.Callback;
        }
        return earlyStop ? TrainingStopReason.EarlyStopping : null;
    }

    /// <summary>
    /// The end of an epoch (<paramref name="endOfData"/>) or of the run's steps inside one: evaluation and saving as after
    /// any step, and a final checkpoint when the run ends mid-epoch without one.
    /// </summary>
    public TrainingStopReason FinishEpoch(RunState run, bool endOfData)
    {
        if (endOfData)
        {
            // The next epoch starts from its first batch.
            run.EpochIndex++;
            run.BatchesDone = 0;
        }
        var stop = AfterStep(run, endOfEpoch: endOfData);
        if (stop is not null)
        {
            return stop.Value;
        }
        if (run.GlobalStep >= run.TotalSteps && _options.OutputDirectory is not null && !endOfData
            && run.LastCheckpoint != TrainerCheckpoint.FolderFor(_options.OutputDirectory, run.GlobalStep))
        {
            SaveCheckpoint(run);
        }
        return TrainingStopReason.Completed;
    }

    /// <summary>Evaluates, records and logs the result, and updates the best model; returns true when early stopping triggers.</summary>
    private bool EvaluateAndTrack(RunState run)
    {
        IReadOnlyDictionary<string, double> metrics;
        using (run.Clock.Measure(TrainingPhase.Evaluation))
        {
            metrics = Evaluator.Evaluate(_forward, run.Evaluation!, run.ComputeMetrics);
        }
        run.Evaluations.Add(new EvaluationRecord(run.GlobalStep, run.Epoch, metrics));
        Log.Evaluated(_logger, run.GlobalStep, string.Join(", ", metrics.Select(m => $"{m.Key}={m.Value.ToString("G5", CultureInfo.InvariantCulture)}")));
        // A new best is copied aside (in memory): counted with the checkpoints, as saving it is.
        using (run.Clock.Measure(TrainingPhase.Checkpoint))
        {
            return run.Best.Update(metrics, run.GlobalStep, run.Evaluations.Count);
        }
    }

    /// <summary>Writes a checkpoint when <see cref="TrainerOptions.OutputDirectory"/> is set.</summary>
    public void SaveIfConfigured(RunState run)
    {
        if (_options.OutputDirectory is not null)
        {
            SaveCheckpoint(run);
        }
    }

    /// <summary>Writes a checkpoint, prunes old ones (never the best); returns true when a callback asks to stop.</summary>
    private bool SaveCheckpoint(RunState run)
    {
        var model = _forward.Model;
        string folder;
        using (run.Clock.Measure(TrainingPhase.Checkpoint))
        {
            bool wasTraining = model.training;
            folder = TrainerCheckpoint.Save(_options.OutputDirectory!, model, run.Optimizer, run.Position, run.TotalSteps, run.Epoch, tokenizer);
            if (wasTraining)
            {
                model.train();
            }
            run.LastCheckpoint = folder;
            run.SavedSteps.Add(run.GlobalStep);
            TrainerCheckpoint.Prune(_options.OutputDirectory!, _options.SaveTotalLimit, run.Best.BestStep, run.SavedSteps);
        }
        Log.CheckpointSaved(_logger, folder);
        return run.Callbacks.Any(c => c.OnSave(folder, run.GlobalStep));
    }
}
