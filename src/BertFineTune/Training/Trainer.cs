using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Runtime;
using BertFineTune.Tokenization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BertFineTune.Training;

/// <summary>
/// Fine-tunes a <see cref="BertForTask"/>: AdamW with parameter groups (no decay for biases and LayerNorm weights),
/// warm-up schedules, gradient clipping and accumulation, evaluation with early stopping and best-model restore,
/// atomic checkpoints with exact resume, cancellation, progress and callbacks. The numbers follow PyTorch and
/// transformers' <c>Trainer</c> step for step. Create one with <see cref="Builder.TaskModel.CreateTrainer"/>.
/// </summary>
/// <remarks>
/// Training runs on the calling thread (TorchSharp's dispose scopes and grad mode are per thread);
/// <see cref="TrainAsync"/> runs it on a dedicated thread.
/// </remarks>
public sealed class Trainer
{
    private readonly ForwardPass _forward;
    private readonly ILogger _logger;
    // Saved into every checkpoint, so a checkpoint is a complete model folder (transformers' Trainer._save saves the processing class).
    private readonly BertTokenizer? _tokenizer;

    /// <summary>
    /// Prepares training of <paramref name="model"/> with <paramref name="options"/>; with <paramref name="mixedPrecision"/>
    /// the encoder computes in bfloat16 (decided for the model's device beforehand, as <see cref="Builder.TaskModel.MixedPrecision"/> is).
    /// </summary>
    /// <exception cref="ArgumentException">An option is invalid, or asks for more layers than the model has.</exception>
    internal Trainer(BertForTask model, TrainerOptions options, ILoggerFactory? loggerFactory = null, bool mixedPrecision = false, BertTokenizer? tokenizer = null)
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
        Options = options;
        _forward = new ForwardPass(model, PrecisionPolicy.For(mixedPrecision), options.Loss);
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<Trainer>();
        _tokenizer = tokenizer;
    }

    /// <summary>The run's options.</summary>
    public TrainerOptions Options { get; }

    /// <summary>Whether the encoder computes in bfloat16 (<see cref="Builder.TaskModel.MixedPrecision"/>).</summary>
    internal bool MixedPrecision => _forward.Precision.IsMixed;

    /// <summary>
    /// Trains on tokenized examples, with dynamic padding and the options' batch size, shuffling and grouping; evaluates
    /// on <paramref name="evaluation"/> as <see cref="TrainerOptions"/> schedules it.
    /// </summary>
    /// <param name="train">The training examples.</param>
    /// <param name="evaluation">The evaluation examples, or null for no evaluation.</param>
    /// <param name="computeMetrics">Metrics from the evaluation batches' outputs (see <see cref="TaskMetrics"/>); <c>loss</c> is always computed.</param>
    /// <param name="progress">Told every <see cref="TrainerOptions.LoggingSteps"/> steps.</param>
    /// <param name="callbacks">Told about every step, evaluation and checkpoint; each may stop the run.</param>
    /// <param name="cancellationToken">
    /// Stops the run after the optimizer step in progress, without an exception: a checkpoint is written when
    /// <see cref="TrainerOptions.OutputDirectory"/> is set, and the result's <see cref="TrainingResult.StopReason"/> is
    /// <see cref="TrainingStopReason.Cancelled"/>. No <see cref="OperationCanceledException"/> is thrown.
    /// </param>
    /// <returns>The steps, evaluations, best metric and last checkpoint of the run.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="train"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// <paramref name="train"/> has no examples, or the examples of a batch disagree on their targets.
    /// </exception>
    /// <exception cref="NonFiniteLossException">
    /// A step's loss or gradient norm is not finite and <see cref="TrainerOptions.NonFiniteLoss"/> is
    /// <see cref="NonFiniteLossPolicy.Throw"/>.
    /// </exception>
    /// <exception cref="InvalidOperationException">
    /// Every parameter is frozen; a training batch gives no loss (it lacks the targets its head needs); a streamed source
    /// yields no batch in an epoch; <see cref="TrainerOptions.MetricForBestModel"/> is not among the evaluation metrics;
    /// with <see cref="TrainerOptions.LoadBestModelAtEnd"/> after a resume, the best evaluation's checkpoint no longer
    /// exists; the polynomial schedule's end learning rate exceeds the learning rate; or, on resume, the checkpoint's
    /// weights do not match the model (<see cref="CheckpointMismatchException"/>).
    /// </exception>
    /// <exception cref="FileNotFoundException"><see cref="TrainerOptions.ResumeFromCheckpoint"/> is not a training checkpoint, or lacks a file.</exception>
    /// <exception cref="InvalidDataException">The resumed checkpoint's trainer state or optimizer state cannot be read or does not fit the model.</exception>
    /// <exception cref="SafeTensorsFormatException">A resumed checkpoint's weights file is malformed.</exception>
    /// <exception cref="IOException">A checkpoint cannot be written.</exception>
    /// <remarks>Exceptions from <paramref name="computeMetrics"/>, <paramref name="progress"/> and <paramref name="callbacks"/> pass through unchanged.</remarks>
    public TrainingResult Train(ExampleSource train, ExampleSource? evaluation = null,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics = null,
        IProgress<TrainingProgress>? progress = null, IReadOnlyList<TrainerCallback>? callbacks = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        var collator = new BatchCollator(_forward.Model.Config.PadTokenId ?? 0, Options.PadToMultipleOf, Options.Loss);
        var trainPlan = new BatchPlan(train, Options.BatchSize, Options.Shuffle, Options.GroupByLength, Options.Seed);
        var evalPlan = evaluation is null ? null : new BatchPlan(evaluation, Options.EvaluationBatchSize ?? Options.BatchSize, false, false, 42);
        if (!Options.CacheFrozenLayers)
        {
            return Run(BatchSource.FromPlan(trainPlan, collator), evalPlan is null ? null : BatchSource.FromPlan(evalPlan, collator),
                computeMetrics, progress, callbacks, cancellationToken);
        }

        if (train is not InMemoryExamples)
        {
            Log.FeatureCacheUnavailable(_logger, "the training examples are streamed, and the cache needs them in memory");
        }
        // The caches encode lazily, at their first batch: after top layers are re-initialised or a checkpoint is loaded.
        using var trainCache = train is InMemoryExamples ? new CachedFeatureBatches(trainPlan, collator, _forward.Model, _forward.Precision, Options, _logger) : null;
        using var evalCache = evaluation is InMemoryExamples ? new CachedFeatureBatches(evalPlan!, collator, _forward.Model, _forward.Precision, Options, _logger) : null;
        return Run((BatchSource?)trainCache ?? BatchSource.FromPlan(trainPlan, collator),
            (BatchSource?)evalCache ?? (evalPlan is null ? null : BatchSource.FromPlan(evalPlan, collator)),
            computeMetrics, progress, callbacks, cancellationToken);
    }

    /// <summary>
    /// Runs <see cref="Train(ExampleSource, ExampleSource?, Func{IReadOnlyList{EvaluationBatch}, IReadOnlyDictionary{string, double}}?, IProgress{TrainingProgress}?, IReadOnlyList{TrainerCallback}?, CancellationToken)"/>
    /// on a dedicated thread. The task faults with the exceptions that method documents; cancellation completes it
    /// normally, with <see cref="TrainingStopReason.Cancelled"/>, never as a cancelled task.
    /// </summary>
    public Task<TrainingResult> TrainAsync(ExampleSource train, ExampleSource? evaluation = null,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics = null,
        IProgress<TrainingProgress>? progress = null, IReadOnlyList<TrainerCallback>? callbacks = null,
        CancellationToken cancellationToken = default) =>
        Task.Factory.StartNew(() => Train(train, evaluation, computeMetrics, progress, callbacks, cancellationToken),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>
    /// Trains on ready batches (for example fixed tensors). Loss settings of <see cref="TrainerOptions.Loss"/> are applied
    /// to batches that carry none. <see cref="TrainerOptions.CacheFrozenLayers"/> does not apply (the frozen layers run on
    /// every batch; a log line says so).
    /// </summary>
    /// <param name="train">The training batches.</param>
    /// <param name="evaluation">The evaluation batches, or null for no evaluation.</param>
    /// <param name="computeMetrics">Metrics from the evaluation batches' outputs; <c>loss</c> is always computed.</param>
    /// <param name="progress">Told every <see cref="TrainerOptions.LoggingSteps"/> steps.</param>
    /// <param name="callbacks">Told about every step, evaluation and checkpoint; each may stop the run.</param>
    /// <param name="cancellationToken">Stops the run after the optimizer step in progress, without an exception (see the other overload).</param>
    /// <returns>The steps, evaluations, best metric and last checkpoint of the run.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="train"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="train"/> has no batches.</exception>
    /// <exception cref="NonFiniteLossException">As for the other overload.</exception>
    /// <exception cref="InvalidOperationException">As for the other overload.</exception>
    /// <exception cref="FileNotFoundException">As for the other overload.</exception>
    /// <exception cref="InvalidDataException">As for the other overload.</exception>
    /// <exception cref="SafeTensorsFormatException">As for the other overload.</exception>
    /// <exception cref="IOException">A checkpoint cannot be written.</exception>
    public TrainingResult Train(BatchSource train, BatchSource? evaluation = null,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics = null,
        IProgress<TrainingProgress>? progress = null, IReadOnlyList<TrainerCallback>? callbacks = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (Options.CacheFrozenLayers)
        {
            Log.FeatureCacheUnavailable(_logger, "the training data is given as batches, not as examples (use Train(ExampleSource…))");
        }
        return Run(train, evaluation, computeMetrics, progress, callbacks, cancellationToken);
    }

    /// <summary>Evaluates <paramref name="data"/> in eval mode without gradients: mean loss plus the hook's metrics.</summary>
    /// <param name="data">The evaluation batches.</param>
    /// <param name="computeMetrics">Metrics from the batches' outputs; an <c>eval_</c> prefix on their names is dropped.</param>
    /// <returns>The metrics by name: <c>loss</c> (the mean over examples, absent when no batch has targets) and the hook's.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <remarks>Exceptions from <paramref name="computeMetrics"/> and from <paramref name="data"/>'s batches pass through unchanged.</remarks>
    public IReadOnlyDictionary<string, double> Evaluate(BatchSource data,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Evaluator.Evaluate(_forward, data, computeMetrics);
    }

    private TrainingResult Run(BatchSource train, BatchSource? evaluation,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics,
        IProgress<TrainingProgress>? progress, IReadOnlyList<TrainerCallback>? callbacks, CancellationToken cancellationToken) =>
        new TrainingLoop(_forward, Options, _logger, _tokenizer).Run(train, evaluation, computeMetrics, progress, callbacks ?? [], cancellationToken);
}
