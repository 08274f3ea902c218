using System.Globalization;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Runtime;
using BertFineTune.Heads;
using BertFineTune.Tokenization;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>
/// One training run, step for step as transformers' <c>Trainer._inner_training_loop</c>: the set-up (seed, re-initialised
/// top layers, parameter groups, optimizer, step count, schedule, resume), the epochs of micro-batches with gradient
/// accumulation, clipping and optimizer steps, evaluation and checkpoints between steps, the stop rules (steps done,
/// early stopping, callbacks, cancellation) and the result.
/// </summary>
internal sealed class TrainingLoop(ForwardPass forward, TrainerOptions options, ILogger logger, BertTokenizer? tokenizer = null)
{
    /// <summary>Batches per epoch of a stream whose length is not counted (training bounded by MaxSteps).</summary>
    private const int UnknownLength = int.MaxValue;

    private readonly ForwardPass _forward = forward;
    private readonly TrainerOptions _options = options;
    private readonly ILogger _logger = logger;
    private readonly EvaluationAndCheckpoints _between = new(forward, options, logger, tokenizer);

    /// <summary>Trains on <paramref name="train"/>; see <see cref="Trainer"/>'s <c>Train</c> for what it throws.</summary>
    public TrainingResult Run(BatchSource train, BatchSource? evaluation,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics,
        IProgress<TrainingProgress>? progress, IReadOnlyList<TrainerCallback> callbacks, CancellationToken cancellationToken)
    {
        var model = _forward.Model;
        var clock = new PhaseClock(_forward.Device);
        if (_options.OutputDirectory is { } output)
        {
            // Before any step: a checkpoint folder that cannot be written would otherwise fail only at the first save.
            ModelFolder.CheckOutput(output);
        }
        random.manual_seed(_options.Seed);
        if (_options.ReinitializeTopLayers > 0 && _options.ResumeFromCheckpoint is null)
        {
            model.Encoder.ReinitializeTopLayers(_options.ReinitializeTopLayers);
        }
        var groups = ParameterGroups.Build(model, _options);
        using var optimizer = new AdamW(groups, _options.AdamBeta1, _options.AdamBeta2, _options.AdamEpsilon);
        var trainable = groups.SelectMany(g => g.Parameters).ToList();

        var (batchesPerEpoch, totalSteps) = CountSteps(train);
        var schedule = LearningRateSchedule.FromOptions(_options, totalSteps);

        var position = TrainerPosition.Start;
        if (_options.ResumeFromCheckpoint is { } resume)
        {
            position = TrainerCheckpoint.Load(resume, model, optimizer);
            Log.Resumed(_logger, resume, position.GlobalStep, position.EpochIndex, position.BatchesDoneInEpoch);
        }
        Log.TrainingStarted(_logger, batchesPerEpoch == UnknownLength ? "an unknown number of" : batchesPerEpoch.ToString(CultureInfo.InvariantCulture), totalSteps, trainable.Sum(p => p.numel()), model.parameters().Sum(p => p.numel()));
        if (_forward.Precision.IsMixed)
        {
            Log.MixedPrecisionTraining(_logger);
        }

        using var best = new BestModelTracker(model, _options, _logger, position);
        // Gives up the cores other processes keep busy while they do (unless the thread count was set explicitly).
        using var contention = CoreContention.Start(_logger);
        // Frozen weights cannot change during the run, so their low-precision casts are made once.
        using var frozenCasts = _forward.Precision.CreateCastCache(frozenOnly: true);
        var run = new RunState(position)
        {
            Optimizer = optimizer,
            Trainable = trainable,
            Schedule = schedule,
            TotalSteps = totalSteps,
            BatchesPerEpoch = batchesPerEpoch,
            Evaluation = evaluation,
            ComputeMetrics = computeMetrics,
            Callbacks = callbacks,
            Reporter = new ProgressReporter(_logger, progress, totalSteps, _options.LoggingSteps,
                position.Steps.Count > 0 ? position.Steps[^1].Step : 0),
            Best = best,
            Cancellation = cancellationToken,
            FrozenCasts = frozenCasts,
            Contention = contention,
            Clock = clock,
        };
        var stop = RunEpochs(train, run, position);
        best.RestoreBest();
        var steps = run.Steps;
        double meanLoss = steps.Where(s => !s.Skipped).Select(s => s.Loss).DefaultIfEmpty(double.NaN).Average();
        var times = clock.Snapshot();
        LogPhaseTimes(times);
        return new TrainingResult(run.GlobalStep, run.Epoch, meanLoss, stop, best.BestMetric, best.BestStep, run.LastCheckpoint,
            steps.Skip(run.ResumedSteps).ToList(), run.Evaluations.Skip(run.ResumedEvaluations).ToList())
        {
            PhaseTimes = times,
        };
    }

    /// <summary>One line: each phase's seconds and share of the total, and the padding share of the training batches.</summary>
    private void LogPhaseTimes(TrainingPhaseTimes times)
    {
        double total = times.Total.TotalSeconds;
        var phases = string.Join(", ", times.Phases.Select(p => string.Create(CultureInfo.InvariantCulture,
            $"{p.Name} {p.Time.TotalSeconds:F2} s ({(total > 0 ? 100 * p.Time.TotalSeconds / total : 0):F1}%)")));
        Log.PhaseTimes(_logger, total, phases, times.RealTokens, times.PaddingTokens, 100 * times.PaddingShare);
    }

    /// <summary>
    /// Batches per epoch and optimizer steps of the run. A source of unknown size (a stream) is counted once, unless a
    /// step budget makes the count unnecessary: then epochs end when the stream does.
    /// </summary>
    private (int BatchesPerEpoch, int TotalSteps) CountSteps(BatchSource train)
    {
        int batchesPerEpoch = train.BatchesPerEpoch ?? (_options.MaxSteps is null ? train.CountBatches() : UnknownLength);
        if (batchesPerEpoch == 0)
        {
            throw new ArgumentException("The training data has no batches.", nameof(train));
        }
        int stepsPerEpoch = batchesPerEpoch == UnknownLength
            ? UnknownLength
            : (batchesPerEpoch + _options.GradientAccumulationSteps - 1) / _options.GradientAccumulationSteps;
        return (batchesPerEpoch, _options.MaxSteps ?? stepsPerEpoch * _options.Epochs);
    }

    /// <summary>The epochs from <paramref name="position"/> on, in training mode, until the steps are done or a stop rule ends the run.</summary>
    private TrainingStopReason RunEpochs(BatchSource train, RunState run, TrainerPosition position)
    {
        var model = _forward.Model;
        var stop = TrainingStopReason.Completed;
        model.train();
        try
        {
            for (int epoch = position.EpochIndex; run.GlobalStep < run.TotalSteps; epoch++)
            {
                int skip = epoch == position.EpochIndex ? position.BatchesDoneInEpoch : 0;
                stop = RunEpoch(train, run, epoch, skip);
                if (stop != TrainingStopReason.Completed)
                {
                    break;
                }
                if (run.Cancellation.IsCancellationRequested && run.GlobalStep < run.TotalSteps)
                {
                    stop = Cancel(run);
                    break;
                }
            }
        }
        finally
        {
            model.eval();
        }
        return stop;
    }

    private TrainingStopReason RunEpoch(BatchSource train, RunState run, int epoch, int skip)
    {
        run.EpochIndex = epoch;
        run.BatchesDone = skip;
        int microInStep = 0;
        double stepLoss = 0;
        long stepExamples = 0;
        int stepMicroBatches = MicroBatchesInStep(skip, run.BatchesPerEpoch);
        run.Optimizer.ZeroGrad();

        var clock = run.Clock;
        foreach (var batch in Timed(train.Batches(epoch, skip), clock))
        {
            using (var scope = NewDisposeScope())
            using (batch)
            {
                BertBatch onDevice;
                using (clock.Measure(TrainingPhase.Data))
                {
                    // Counted on the batch as collated (before the move), so no device round trip is added.
                    clock.CountTokens(batch.InputIds, batch.AttentionMask);
                    onDevice = batch.To(_forward.Device);
                }
                using var movedBatch = onDevice;
                ModelOutput output;
                using (clock.Measure(TrainingPhase.Forward))
                {
                    output = _forward.Run(onDevice, run.FrozenCasts);
                }
                using var ownedOutput = output;
                var loss = output.Loss ?? throw new InvalidOperationException(
                    $"The model produced no loss for training batch {run.BatchesDone} of epoch {epoch}: the batch lacks the targets "
                    + $"its head needs (it has: {string.Join(", ", batch.Targets.Keys)}).");
                using (clock.Measure(TrainingPhase.Backward))
                {
                    // Each micro-batch contributes its share, so the step's gradient is that of the mean loss.
                    var scaled = loss / stepMicroBatches;
                    scaled.backward();
                }
                stepLoss += loss.to_type(ScalarType.Float64).item<double>() / stepMicroBatches;
                stepExamples += batch.Size;
            }
            microInStep++;
            run.BatchesDone++;
            if (microInStep < stepMicroBatches)
            {
                continue;
            }

            OptimizerStep(run, stepLoss, stepExamples);
            microInStep = 0;
            stepLoss = 0;
            stepExamples = 0;
            stepMicroBatches = MicroBatchesInStep(run.BatchesDone, run.BatchesPerEpoch);
            if (StepCallbacksStop(run))
            {
                return TrainingStopReason.Callback;
            }

            bool lastOfEpoch = run.BatchesDone == run.BatchesPerEpoch;
            if (lastOfEpoch || run.GlobalStep >= run.TotalSteps)
            {
                return _between.FinishEpoch(run, endOfData: lastOfEpoch);
            }
            var stop = _between.AfterStep(run, endOfEpoch: false);
            if (stop is not null)
            {
                return stop.Value;
            }
            if (run.Cancellation.IsCancellationRequested)
            {
                return Cancel(run);
            }
        }
        if (run.BatchesDone == skip && run.BatchesPerEpoch == UnknownLength)
        {
            throw new InvalidOperationException($"The training data yielded no batches in epoch {epoch}.");
        }
        if (microInStep > 0)
        {
            // A stream of unknown length ended inside an accumulation: the micro-batches seen were each scaled for a full
            // step, so rescale to their mean before the update.
            double rescale = (double)stepMicroBatches / microInStep;
            using (no_grad())
            {
                foreach (var parameter in run.Trainable)
                {
                    using var grad = parameter.grad;
                    grad?.mul_(rescale);
                }
            }
            OptimizerStep(run, stepLoss * rescale, stepExamples);
            if (StepCallbacksStop(run))
            {
                return TrainingStopReason.Callback;
            }
        }
        return _between.FinishEpoch(run, endOfData: true);
    }

    /// <summary><paramref name="batches"/>, the time spent producing each (enumeration and collation) counted as <see cref="TrainingPhase.Data"/>.</summary>
    private static IEnumerable<BertBatch> Timed(IEnumerable<BertBatch> batches, PhaseClock clock)
    {
        using var enumerator = batches.GetEnumerator();
        while (true)
        {
            bool more;
            using (clock.Measure(TrainingPhase.Data))
            {
                more = enumerator.MoveNext();
            }
            if (!more)
            {
                yield break;
            }
            yield return enumerator.Current;
        }
    }

    private int MicroBatchesInStep(int batchesDone, int batchesPerEpoch) =>
        Math.Max(1, Math.Min(_options.GradientAccumulationSteps, batchesPerEpoch - batchesDone));

    /// <summary>Clips, updates (unless the loss or norm is not finite), records and reports one optimizer step.</summary>
    private void OptimizerStep(RunState run, double loss, long examples)
    {
        double norm;
        double learningRate = run.Schedule.LearningRateAt(run.GlobalStep);
        bool finite;
        int stepNumber = run.GlobalStep + 1;
        using (run.Clock.Measure(TrainingPhase.Optimizer))
        {
            norm = GradientClipping.ClipByGlobalNorm(run.Trainable, _options.MaxGradNorm);
            finite = double.IsFinite(loss) && double.IsFinite(norm);
            if (finite)
            {
                run.Optimizer.Step(learningRate);
            }
            else if (_options.NonFiniteLoss == NonFiniteLossPolicy.Throw)
            {
                run.Optimizer.ZeroGrad();
                throw new NonFiniteLossException(stepNumber, loss, norm);
            }
            run.Optimizer.ZeroGrad();
        }
        if (!finite)
        {
            Log.NonFiniteStepSkipped(_logger, stepNumber, loss, norm);
        }
        run.GlobalStep = stepNumber;
        run.Epoch = run.EpochIndex + (double)run.BatchesDone / run.BatchesPerEpoch;
        var record = new StepRecord(stepNumber, run.Epoch, loss, norm, learningRate, !finite);
        run.Steps.Add(record);
        run.Reporter.Add(record, examples);
        run.Contention?.Check();
    }

    /// <summary>Tells the callbacks about the last step; when one asks to stop, saves (when configured) and returns true.</summary>
    private bool StepCallbacksStop(RunState run)
    {
        if (!run.Callbacks.Any(c => c.OnStep(run.Steps[^1])))
        {
            return false;
        }
        _between.SaveIfConfigured(run);
        return true;
    }

    private TrainingStopReason Cancel(RunState run)
    {
        Log.Cancelled(_logger, run.GlobalStep);
        _between.SaveIfConfigured(run);
        return TrainingStopReason.Cancelled;
    }
}
