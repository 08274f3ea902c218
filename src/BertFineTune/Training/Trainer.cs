using System.Diagnostics;
using System.Globalization;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Runtime;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>One evaluation batch's outputs, handed to a metrics hook. The tensors are valid only during the call.</summary>
/// <param name="Outputs">The model's outputs by name (<c>logits</c>, <c>start_logits</c>, …), on the CPU.</param>
/// <param name="Targets">The batch's targets by name, on the CPU.</param>
/// <param name="AttentionMask">The batch's attention mask, when it has one.</param>
public sealed record EvaluationBatch(IReadOnlyDictionary<string, Tensor> Outputs, IReadOnlyDictionary<string, Tensor> Targets, Tensor? AttentionMask);

/// <summary>
/// Fine-tunes a <see cref="BertForTask"/>: AdamW with parameter groups (no decay for biases and LayerNorm weights),
/// warm-up schedules, gradient clipping and accumulation, evaluation with early stopping and best-model restore,
/// atomic checkpoints with exact resume, cancellation, progress and callbacks. The numbers follow PyTorch and
/// transformers' <c>Trainer</c> step for step.
/// </summary>
/// <remarks>
/// Training runs on the calling thread (TorchSharp's dispose scopes and grad mode are per thread);
/// <see cref="TrainAsync"/> runs it on a dedicated thread.
/// </remarks>
public sealed class Trainer
{
    private readonly BertForTask _model;
    private readonly ILogger _logger;
    private (TorchSharp.DeviceType Device, ScalarType? Type)? _computeType;

    /// <summary>Prepares training of <paramref name="model"/> with <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public Trainer(BertForTask model, TrainerOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.FreezeLowestLayers > model.Config.NumHiddenLayers || options.ReinitializeTopLayers > model.Config.NumHiddenLayers)
        {
            throw new ArgumentException(
                $"TrainerOptions: the model has {model.Config.NumHiddenLayers} layers; FreezeLowestLayers ({options.FreezeLowestLayers}) "
                + $"and ReinitializeTopLayers ({options.ReinitializeTopLayers}) must not exceed it.", nameof(options));
        }
        _model = model;
        Options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<Trainer>();
    }

    /// <summary>The run's options.</summary>
    public TrainerOptions Options { get; }

    /// <summary>Trains on tokenized examples, with dynamic padding and the options' batch size, shuffling and grouping.</summary>
    public TrainingResult Train(ExampleSource train, ExampleSource? evaluation = null,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics = null,
        IProgress<TrainingProgress>? progress = null, IReadOnlyList<TrainerCallback>? callbacks = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        var collator = new BatchCollator(PadTokenId(), Options.PadToMultipleOf, Options.Loss);
        var trainPlan = new BatchPlan(train, Options.BatchSize, Options.Shuffle, Options.GroupByLength, Options.Seed);
        var evalPlan = evaluation is null ? null : new BatchPlan(evaluation, Options.EvaluationBatchSize ?? Options.BatchSize, false, false, 42);
        if (!Options.CacheEncoderFeatures)
        {
            return TrainCore(BatchSource.FromPlan(trainPlan, collator), evalPlan is null ? null : BatchSource.FromPlan(evalPlan, collator),
                computeMetrics, progress, callbacks, cancellationToken);
        }

        if (train is not InMemoryExamples)
        {
            Log.FeatureCacheUnavailable(_logger, "the training examples are streamed, and the cache needs them in memory");
        }
        // The caches encode lazily, at their first batch: after top layers are re-initialised or a checkpoint is loaded.
        using var trainCache = train is InMemoryExamples ? new CachedFeatureBatches(trainPlan, collator, _model, ComputeType, _logger) : null;
        using var evalCache = evaluation is InMemoryExamples ? new CachedFeatureBatches(evalPlan!, collator, _model, ComputeType, _logger) : null;
        return TrainCore((BatchSource?)trainCache ?? BatchSource.FromPlan(trainPlan, collator),
            (BatchSource?)evalCache ?? (evalPlan is null ? null : BatchSource.FromPlan(evalPlan, collator)),
            computeMetrics, progress, callbacks, cancellationToken);
    }

    /// <summary>Runs <see cref="Train(ExampleSource, ExampleSource?, Func{IReadOnlyList{EvaluationBatch}, IReadOnlyDictionary{string, double}}?, IProgress{TrainingProgress}?, IReadOnlyList{TrainerCallback}?, CancellationToken)"/> on a dedicated thread.</summary>
    public Task<TrainingResult> TrainAsync(ExampleSource train, ExampleSource? evaluation = null,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics = null,
        IProgress<TrainingProgress>? progress = null, IReadOnlyList<TrainerCallback>? callbacks = null,
        CancellationToken cancellationToken = default) =>
        Task.Factory.StartNew(() => Train(train, evaluation, computeMetrics, progress, callbacks, cancellationToken),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>
    /// Trains on ready batches (for example fixed tensors). Loss settings of <see cref="TrainerOptions.Loss"/> are applied
    /// to batches that carry none.
    /// </summary>
    public TrainingResult Train(BatchSource train, BatchSource? evaluation = null,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics = null,
        IProgress<TrainingProgress>? progress = null, IReadOnlyList<TrainerCallback>? callbacks = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (Options.CacheEncoderFeatures)
        {
            Log.FeatureCacheUnavailable(_logger, "the training data is given as batches, not as examples (use Train(ExampleSource…))");
        }
        return TrainCore(train, evaluation, computeMetrics, progress, callbacks, cancellationToken);
    }

    private TrainingResult TrainCore(BatchSource train, BatchSource? evaluation,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics,
        IProgress<TrainingProgress>? progress, IReadOnlyList<TrainerCallback>? callbacks, CancellationToken cancellationToken)
    {
        callbacks ??= [];
        random.manual_seed(Options.Seed);
        if (Options.ReinitializeTopLayers > 0 && Options.ResumeFromCheckpoint is null)
        {
            _model.Encoder.ReinitializeTopLayers(Options.ReinitializeTopLayers);
        }
        var groups = BuildParameterGroups();
        using var optimizer = new AdamW(groups, Options.AdamBeta1, Options.AdamBeta2, Options.AdamEpsilon);
        var trainable = groups.SelectMany(g => g.Parameters).ToList();

        // A source of unknown size (a stream) is counted once, unless a step budget makes the count unnecessary: then
        // epochs end when the stream does.
        int batchesPerEpoch = train.BatchesPerEpoch ?? (Options.MaxSteps is null ? CountBatches(train) : UnknownLength);
        if (batchesPerEpoch == 0)
        {
            throw new ArgumentException("The training data has no batches.", nameof(train));
        }
        int stepsPerEpoch = batchesPerEpoch == UnknownLength
            ? UnknownLength
            : (batchesPerEpoch + Options.GradientAccumulationSteps - 1) / Options.GradientAccumulationSteps;
        int totalSteps = Options.MaxSteps ?? stepsPerEpoch * Options.Epochs;
        int scheduleSteps = Options.ScheduleTotalSteps ?? totalSteps;
        var schedule = new LearningRateSchedule(Options.Schedule, scheduleSteps,
            Options.WarmupSteps ?? LearningRateSchedule.WarmupFromRatio(Options.WarmupRatio, scheduleSteps), Options.LearningRate)
        {
            CosineCycles = Options.CosineCycles,
            PolynomialPower = Options.PolynomialPower,
            PolynomialEndLearningRate = Options.PolynomialEndLearningRate,
        };

        var position = new TrainerPosition(0, 0, 0, 0, null, null, 0, [], []);
        if (Options.ResumeFromCheckpoint is { } resume)
        {
            position = TrainerCheckpoint.Load(resume, _model, optimizer);
            Log.Resumed(_logger, resume, position.GlobalStep, position.EpochIndex, position.BatchesDoneInEpoch);
        }
        Log.TrainingStarted(_logger, batchesPerEpoch == UnknownLength ? "an unknown number of" : batchesPerEpoch.ToString(CultureInfo.InvariantCulture), totalSteps, trainable.Sum(p => p.numel()), _model.parameters().Sum(p => p.numel()));

        var run = new RunState(position, callbacks, progress, totalSteps, stepsPerEpoch, batchesPerEpoch);
        // Frozen weights cannot change during the run, so their low-precision casts are made once.
        using var frozenCasts = ComputeType() is null ? null : new WeightCastCache(frozenOnly: true);
        run.FrozenCasts = frozenCasts;
        var stop = TrainingStopReason.Completed;
        _model.train();
        try
        {
            for (int epoch = position.EpochIndex; run.GlobalStep < totalSteps; epoch++)
            {
                int skip = epoch == position.EpochIndex ? position.BatchesDoneInEpoch : 0;
                stop = RunEpoch(train, evaluation, computeMetrics, optimizer, trainable, schedule, run, epoch, skip, cancellationToken);
                if (stop != TrainingStopReason.Completed)
                {
                    break;
                }
                if (cancellationToken.IsCancellationRequested && run.GlobalStep < totalSteps)
                {
                    Log.Cancelled(_logger, run.GlobalStep);
                    SaveIfConfigured(optimizer, run);
                    stop = TrainingStopReason.Cancelled;
                    break;
                }
            }
        }
        finally
        {
            _model.eval();
        }

        if (Options.LoadBestModelAtEnd && run.BestWeights is not null)
        {
            RestoreBest(run);
        }
        else if (Options.LoadBestModelAtEnd && run.BestStep is { } bestStep && Options.OutputDirectory is not null)
        {
            // The best evaluation came before a resume: its weights are in the checkpoint saved at that step.
            RestoreBestFromCheckpoint(run, bestStep);
        }
        run.BestWeights?.Values.ToList().ForEach(t => t.Dispose());
        var steps = run.Steps;
        double meanLoss = steps.Where(s => !s.Skipped).Select(s => s.Loss).DefaultIfEmpty(double.NaN).Average();
        return new TrainingResult(run.GlobalStep, run.Epoch, meanLoss, stop, run.BestMetric, run.BestStep, run.LastCheckpoint,
            steps.Skip(run.ResumedSteps).ToList(), run.Evaluations.Skip(run.ResumedEvaluations).ToList());
    }

    /// <summary>Evaluates <paramref name="data"/> in eval mode without gradients: mean loss plus the hook's metrics.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(BatchSource data,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        bool wasTraining = _model.training;
        _model.eval();
        var collected = new List<EvaluationBatch>();
        double lossSum = 0;
        long examples = 0;
        // Without gradients the weights cannot change during the evaluation: their low-precision casts are made once.
        using var casts = ComputeType() is null ? null : new WeightCastCache();
        try
        {
            using var _ = no_grad();
            foreach (var batch in data.Batches(0))
            {
                using var scope = NewDisposeScope();
                using var owned = batch;
                using var onDevice = batch.To(ModelDevice);
                using var output = Forward(WithDefaultLoss(onDevice), casts);
                if (output.Loss is { } loss)
                {
                    lossSum += loss.to_type(ScalarType.Float64).item<double>() * batch.Size;
                    examples += batch.Size;
                }
                if (computeMetrics is not null)
                {
                    collected.Add(new EvaluationBatch(
                        output.Tensors.Where(p => p.Key != "loss").ToDictionary(p => p.Key, p => p.Value.detach().cpu().MoveToOuterDisposeScope()),
                        batch.Targets.ToDictionary(p => p.Key, p => p.Value.cpu().clone().MoveToOuterDisposeScope()),
                        batch.AttentionMask?.cpu().clone().MoveToOuterDisposeScope()));
                }
            }
            var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
            if (examples > 0)
            {
                metrics["loss"] = lossSum / examples;
            }
            if (computeMetrics is not null)
            {
                foreach (var (name, value) in computeMetrics(collected))
                {
                    metrics[name.StartsWith("eval_", StringComparison.Ordinal) ? name["eval_".Length..] : name] = value;
                }
            }
            return metrics;
        }
        finally
        {
            foreach (var batch in collected)
            {
                foreach (var t in batch.Outputs.Values.Concat(batch.Targets.Values))
                {
                    t.Dispose();
                }
                batch.AttentionMask?.Dispose();
            }
            if (wasTraining)
            {
                _model.train();
            }
        }
    }

    /// <summary>Mutable bookkeeping of one run.</summary>
    private sealed class RunState
    {
        public RunState(TrainerPosition position, IReadOnlyList<TrainerCallback> callbacks, IProgress<TrainingProgress>? progress,
            int totalSteps, int stepsPerEpoch, int batchesPerEpoch)
        {
            GlobalStep = position.GlobalStep;
            BestMetric = position.BestMetric;
            BestStep = position.BestStep;
            Patience = position.EvaluationsWithoutImprovement;
            Steps = [.. position.Steps];
            Evaluations = [.. position.Evaluations];
            ResumedSteps = Steps.Count;
            ResumedEvaluations = Evaluations.Count;
            Callbacks = callbacks;
            Progress = progress;
            TotalSteps = totalSteps;
            StepsPerEpoch = stepsPerEpoch;
            BatchesPerEpoch = batchesPerEpoch;
        }

        public int GlobalStep;
        public double Epoch;
        public int EpochIndex;
        public int BatchesDone;
        public double? BestMetric;
        public int? BestStep;
        public int Patience;
        public string? LastCheckpoint;
        public Dictionary<string, Tensor>? BestWeights;
        public readonly List<StepRecord> Steps;
        public readonly List<EvaluationRecord> Evaluations;
        public readonly int ResumedSteps;
        public readonly int ResumedEvaluations;
        public readonly IReadOnlyList<TrainerCallback> Callbacks;
        public readonly IProgress<TrainingProgress>? Progress;
        public readonly int TotalSteps;
        public readonly int StepsPerEpoch;
        public readonly int BatchesPerEpoch;
        public readonly Stopwatch Clock = Stopwatch.StartNew();
        public long ExamplesSinceReport;
        public double LossSinceReport;
        public int StepsSinceReport;
        public TimeSpan LastReport;
        public WeightCastCache? FrozenCasts;
    }

    private TrainingStopReason RunEpoch(BatchSource train, BatchSource? evaluation,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics, AdamW optimizer,
        List<Parameter> trainable, LearningRateSchedule schedule, RunState run, int epoch, int skip, CancellationToken cancellationToken)
    {
        run.EpochIndex = epoch;
        run.BatchesDone = skip;
        int accumulation = Options.GradientAccumulationSteps;
        int microInStep = 0;
        double stepLoss = 0;
        long stepExamples = 0;
        int stepMicroBatches = MicroBatchesInStep(skip, run.BatchesPerEpoch);
        optimizer.ZeroGrad();

        foreach (var batch in train.Batches(epoch, skip))
        {
            using (var scope = NewDisposeScope())
            using (batch)
            {
                using var onDevice = batch.To(ModelDevice);
                using var output = Forward(WithDefaultLoss(onDevice), run.FrozenCasts);
                var loss = output.Loss ?? throw new InvalidOperationException(
                    $"The model produced no loss for training batch {run.BatchesDone} of epoch {epoch}: the batch lacks the targets "
                    + $"its head needs (it has: {string.Join(", ", batch.Targets.Keys)}).");
                // Each micro-batch contributes its share, so the step's gradient is that of the mean loss.
                var scaled = loss / stepMicroBatches;
                scaled.backward();
                stepLoss += loss.to_type(ScalarType.Float64).item<double>() / stepMicroBatches;
                stepExamples += batch.Size;
            }
            microInStep++;
            run.BatchesDone++;
            if (microInStep < stepMicroBatches)
            {
                continue;
            }

            OptimizerStep(optimizer, trainable, schedule, run, stepLoss, stepExamples);
            microInStep = 0;
            stepLoss = 0;
            stepExamples = 0;
            stepMicroBatches = MicroBatchesInStep(run.BatchesDone, run.BatchesPerEpoch);
            if (run.Callbacks.Any(c => c.OnStep(run.Steps[^1])))
            {
                SaveIfConfigured(optimizer, run);
                return TrainingStopReason.Callback;
            }

            bool lastOfEpoch = run.BatchesDone == run.BatchesPerEpoch;
            if (lastOfEpoch || run.GlobalStep >= run.TotalSteps)
            {
                return FinishEpoch(evaluation, computeMetrics, optimizer, run, endOfData: lastOfEpoch);
            }
            var stop = AfterStep(evaluation, computeMetrics, optimizer, run, endOfEpoch: false);
            if (stop is not null)
            {
                return stop.Value;
            }
            if (cancellationToken.IsCancellationRequested)
            {
                Log.Cancelled(_logger, run.GlobalStep);
                SaveIfConfigured(optimizer, run);
                return TrainingStopReason.Cancelled;
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
                foreach (var parameter in trainable)
                {
                    using var grad = parameter.grad;
                    grad?.mul_(rescale);
                }
            }
            OptimizerStep(optimizer, trainable, schedule, run, stepLoss * rescale, stepExamples);
            if (run.Callbacks.Any(c => c.OnStep(run.Steps[^1])))
            {
                SaveIfConfigured(optimizer, run);
                return TrainingStopReason.Callback;
            }
        }
        return FinishEpoch(evaluation, computeMetrics, optimizer, run, endOfData: true);
    }

    /// <summary>Batches per epoch of a stream whose length is not counted (training bounded by MaxSteps).</summary>
    private const int UnknownLength = int.MaxValue;

    private int MicroBatchesInStep(int batchesDone, int batchesPerEpoch) =>
        Math.Max(1, Math.Min(Options.GradientAccumulationSteps, batchesPerEpoch - batchesDone));

    private void OptimizerStep(AdamW optimizer, List<Parameter> trainable, LearningRateSchedule schedule, RunState run,
        double loss, long examples)
    {
        double norm = GradientClipping.ClipByGlobalNorm(trainable, Options.MaxGradNorm);
        double learningRate = schedule.LearningRateAt(run.GlobalStep);
        bool finite = double.IsFinite(loss) && double.IsFinite(norm);
        int stepNumber = run.GlobalStep + 1;
        if (finite)
        {
            optimizer.Step(learningRate);
        }
        else if (Options.NonFiniteLoss == NonFiniteLossPolicy.Throw)
        {
            optimizer.ZeroGrad();
            throw new NonFiniteLossException(stepNumber, loss, norm);
        }
        else
        {
            Log.NonFiniteStepSkipped(_logger, stepNumber, loss, norm);
        }
        optimizer.ZeroGrad();
        run.GlobalStep = stepNumber;
        run.Epoch = run.EpochIndex + (double)run.BatchesDone / run.BatchesPerEpoch;
        run.Steps.Add(new StepRecord(stepNumber, run.Epoch, loss, norm, learningRate, !finite));
        run.ExamplesSinceReport += examples;
        if (finite)
        {
            run.LossSinceReport += loss;
            run.StepsSinceReport++;
        }
        if (stepNumber % Options.LoggingSteps == 0 || stepNumber == run.TotalSteps)
        {
            Report(run, learningRate, norm);
        }
    }

    private void Report(RunState run, double learningRate, double norm)
    {
        var now = run.Clock.Elapsed;
        double seconds = Math.Max(1e-9, (now - run.LastReport).TotalSeconds);
        double samplesPerSecond = run.ExamplesSinceReport / seconds;
        double loss = run.StepsSinceReport > 0 ? run.LossSinceReport / run.StepsSinceReport : double.NaN;
        int stepsThisRun = run.GlobalStep - (run.ResumedSteps > 0 ? run.Steps[run.ResumedSteps - 1].Step : 0);
        var remaining = stepsThisRun > 0
            ? TimeSpan.FromSeconds(now.TotalSeconds / stepsThisRun * (run.TotalSteps - run.GlobalStep))
            : TimeSpan.Zero;
        Log.StepLogged(_logger, run.GlobalStep, run.TotalSteps, run.Epoch, loss, learningRate, norm, samplesPerSecond);
        run.Progress?.Report(new TrainingProgress(run.Epoch, run.GlobalStep, run.TotalSteps, loss, learningRate, samplesPerSecond, remaining));
        run.LastReport = now;
        run.ExamplesSinceReport = 0;
        run.LossSinceReport = 0;
        run.StepsSinceReport = 0;
    }

    /// <summary>Step-based evaluation and saving; returns a stop reason when training must end.</summary>
    private TrainingStopReason? AfterStep(BatchSource? evaluation,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics, AdamW optimizer, RunState run, bool endOfEpoch)
    {
        bool evaluate = evaluation is not null
            && ((Options.EvaluateEverySteps is { } every && run.GlobalStep % every == 0) || (endOfEpoch && Options.EvaluateEveryEpoch));
        bool earlyStop = false;
        if (evaluate)
        {
            earlyStop = EvaluateAndTrack(evaluation!, computeMetrics, run);
            if (run.Callbacks.Any(c => c.OnEvaluate(run.Evaluations[^1])))
            {
                SaveIfConfigured(optimizer, run);
                return TrainingStopReason.Callback;
            }
        }
        // A new best is saved too, so a resumed run can still restore it at the end.
        bool newBest = evaluate && Options.LoadBestModelAtEnd && run.BestStep == run.GlobalStep;
        bool save = Options.OutputDirectory is not null
            && ((Options.SaveEverySteps is { } saveEvery && run.GlobalStep % saveEvery == 0) || (endOfEpoch && Options.SaveEveryEpoch) || earlyStop || newBest);
        if (save && SaveCheckpoint(optimizer, run))
        {
            return TrainingStopReason.Callback;
        }
        return earlyStop ? TrainingStopReason.EarlyStopping : null;
    }

    private TrainingStopReason FinishEpoch(BatchSource? evaluation,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics, AdamW optimizer, RunState run, bool endOfData)
    {
        if (endOfData)
        {
            // The next epoch starts from its first batch.
            run.EpochIndex++;
            run.BatchesDone = 0;
        }
        var stop = AfterStep(evaluation, computeMetrics, optimizer, run, endOfEpoch: endOfData);
        if (stop is not null)
        {
            return stop.Value;
        }
        if (run.GlobalStep >= run.TotalSteps && Options.OutputDirectory is not null && !endOfData && run.LastCheckpoint?.EndsWith(
                $"{TrainerCheckpoint.Prefix}{run.GlobalStep}", StringComparison.Ordinal) != true)
        {
            SaveCheckpoint(optimizer, run);
        }
        return TrainingStopReason.Completed;
    }

    /// <summary>Evaluates, records the best metric and keeps its weights; returns true when early stopping triggers.</summary>
    private bool EvaluateAndTrack(BatchSource evaluation,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics, RunState run)
    {
        var metrics = Evaluate(evaluation, computeMetrics);
        var record = new EvaluationRecord(run.GlobalStep, run.Epoch, metrics);
        run.Evaluations.Add(record);
        Log.Evaluated(_logger, run.GlobalStep, string.Join(", ", metrics.Select(m => $"{m.Key}={m.Value.ToString("G5", CultureInfo.InvariantCulture)}")));

        var name = Options.MetricForBestModel.StartsWith("eval_", StringComparison.Ordinal)
            ? Options.MetricForBestModel["eval_".Length..]
            : Options.MetricForBestModel;
        if (!metrics.TryGetValue(name, out var value))
        {
            throw new InvalidOperationException(
                $"TrainerOptions.MetricForBestModel '{Options.MetricForBestModel}' is not among the evaluation metrics ({string.Join(", ", metrics.Keys)}).");
        }
        // transformers keeps two rules apart. EarlyStoppingCallback.check_metric_value (trainer_callback.py) runs first,
        // in on_evaluate, against the best metric so far: only an improvement beyond the threshold resets the patience.
        // Then Trainer._determine_best_metric (trainer.py) records any strict improvement as the new best, threshold or
        // not, starting from -inf (greater is better) or +inf; that best is what load_best_model_at_end restores.
        // BestMetric stays null until a value beats that start (a NaN never does), so nothing infinite is saved.
        bool greater = Options.EffectiveGreaterIsBetter;
        double best = run.BestMetric ?? (greater ? double.NegativeInfinity : double.PositiveInfinity);
        bool first = run.Evaluations.Count == 1;
        bool resetsPatience = first || (IsBetter(value, best, greater) && Math.Abs(value - best) > Options.EarlyStoppingThreshold);
        run.Patience = resetsPatience ? 0 : run.Patience + 1;
        if (IsBetter(value, best, greater))
        {
            run.BestMetric = value;
            run.BestStep = run.GlobalStep;
            if (Options.LoadBestModelAtEnd)
            {
                run.BestWeights?.Values.ToList().ForEach(t => t.Dispose());
                using var _ = no_grad();
                run.BestWeights = _model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
            }
        }
        if (Options.EarlyStoppingPatience is { } patience && run.Patience >= patience)
        {
            Log.EarlyStopped(_logger, run.GlobalStep, name, patience);
            return true;
        }
        return false;
    }

    // np.greater / np.less: false whenever either side is NaN, so a NaN metric is never a new best.
    private static bool IsBetter(double value, double than, bool greater) => greater ? value > than : value < than;

    private void RestoreBest(RunState run)
    {
        using var _ = no_grad();
        foreach (var (name, tensor) in _model.state_dict())
        {
            tensor.copy_(run.BestWeights![name]);
        }
        Log.BestRestored(_logger, run.BestStep ?? 0, Options.MetricForBestModel, run.BestMetric ?? double.NaN);
    }

    private void RestoreBestFromCheckpoint(RunState run, int bestStep)
    {
        var folder = Path.Combine(Options.OutputDirectory!, $"{TrainerCheckpoint.Prefix}{bestStep}");
        if (!Directory.Exists(folder))
        {
            throw new InvalidOperationException(
                $"LoadBestModelAtEnd: the best evaluation was at step {bestStep}, but {folder} no longer exists; its weights cannot be restored.");
        }
        using var weights = Checkpoints.SafeTensorsCheckpoint.OpenFolder(folder);
        Checkpoints.StateDictLoader.Load(weights, _model.state_dict(), new Checkpoints.StateDictLoadOptions { TiedKeys = _model.Head.TiedKeys, Strict = true }, folder);
        Log.BestRestored(_logger, bestStep, Options.MetricForBestModel, run.BestMetric ?? double.NaN);
    }

    private void SaveIfConfigured(AdamW optimizer, RunState run)
    {
        if (Options.OutputDirectory is not null)
        {
            SaveCheckpoint(optimizer, run);
        }
    }

    /// <summary>Writes a checkpoint; returns true when a callback asks to stop.</summary>
    private bool SaveCheckpoint(AdamW optimizer, RunState run)
    {
        var position = new TrainerPosition(run.GlobalStep, run.EpochIndex, run.BatchesDone, optimizer.StepCount, run.BestMetric,
            run.BestStep, run.Patience, run.Steps, run.Evaluations);
        bool wasTraining = _model.training;
        var folder = TrainerCheckpoint.Save(Options.OutputDirectory!, _model, optimizer, position, run.TotalSteps, run.Epoch);
        if (wasTraining)
        {
            _model.train();
        }
        run.LastCheckpoint = folder;
        TrainerCheckpoint.Prune(Options.OutputDirectory!, Options.SaveTotalLimit, run.BestStep);
        Log.CheckpointSaved(_logger, folder);
        return run.Callbacks.Any(c => c.OnSave(folder, run.GlobalStep));
    }

    /// <summary>
    /// Trainable parameters grouped by learning-rate scale and weight decay. Frozen parameters get requires_grad false,
    /// so autograd records nothing for a frozen bottom of the network.
    /// </summary>
    private List<ParameterGroup> BuildParameterGroups()
    {
        int layers = _model.Config.NumHiddenLayers;
        var byKey = new Dictionary<(double Scale, double Decay), (List<string> Names, List<Parameter> Parameters)>();
        foreach (var (name, parameter) in _model.named_parameters())
        {
            int? layer = LayerIndex(name);
            bool embeddings = name.StartsWith("bert.embeddings.", StringComparison.Ordinal);
            bool frozen = (Options.FreezeEncoder && name.StartsWith("bert.", StringComparison.Ordinal))
                || (Options.FreezeEmbeddings && embeddings)
                || (layer is { } l && l < Options.FreezeLowestLayers)
                || (Options.FreezeLowestLayers > 0 && embeddings);
            parameter.requires_grad = !frozen;
            if (frozen)
            {
                continue;
            }
            double scale = Options.LayerwiseLearningRateDecay is { } decay
                ? Math.Pow(decay, embeddings ? layers + 1 : layer is { } k ? layers - k : 0)
                : 1.0;
            double weightDecay = Options.NoDecayPatterns.Any(p => name.Contains(p, StringComparison.Ordinal)) ? 0.0 : Options.WeightDecay;
            if (!byKey.TryGetValue((scale, weightDecay), out var group))
            {
                group = ([], []);
                byKey[(scale, weightDecay)] = group;
            }
            group.Names.Add(name);
            group.Parameters.Add(parameter);
        }
        if (byKey.Count == 0)
        {
            throw new InvalidOperationException("Every parameter is frozen: nothing would be trained. Unfreeze the head at least.");
        }
        return byKey.Select(p => new ParameterGroup(p.Value.Names, p.Value.Parameters, p.Key.Scale, p.Key.Decay)).ToList();
    }

    /// <summary>The index N of "bert.encoder.layer.N.", or null.</summary>
    internal static int? LayerIndex(string name)
    {
        const string prefix = "bert.encoder.layer.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }
        int end = name.IndexOf('.', prefix.Length);
        return end > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, end - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            ? index
            : null;
    }

    private static int CountBatches(BatchSource source) => source.CountBatches();

    private int PadTokenId() => _model.Config.PadTokenId ?? 0;

    private Device ModelDevice => _model.Encoder.Embeddings.WordEmbeddingWeight.device;

    /// <summary>The model's forward pass, under mixed precision when it is on.</summary>
    private ModelOutput Forward(BertBatch batch, WeightCastCache? casts)
    {
        using var _ = Autocast.Begin(ComputeType(), casts);
        return _model.Forward(batch);
    }

    /// <summary>
    /// The compute type of <see cref="TrainerOptions.MixedPrecision"/> (null = float32), decided on first use for the
    /// model's device; when the device cannot use it, one log line says why.
    /// </summary>
    private ScalarType? ComputeType()
    {
        if (!Options.MixedPrecision)
        {
            return null;
        }
        var device = ModelDevice;
        if (_computeType is { } known && known.Device == device.type)
        {
            return known.Type;
        }
        bool supported = Autocast.IsBFloat16Supported(device, out var reason);
        if (supported)
        {
            Log.MixedPrecisionOn(_logger, reason);
        }
        else
        {
            Log.MixedPrecisionUnavailable(_logger, reason);
        }
        _computeType = (device.type, supported ? ScalarType.BFloat16 : null);
        return _computeType.Value.Type;
    }

    /// <summary>The options' loss settings for batches that carry none.</summary>
    private BertBatch WithDefaultLoss(BertBatch batch) =>
        batch.Loss is null && Options.Loss is not null ? batch.WithLoss(Options.Loss) : batch;
}
