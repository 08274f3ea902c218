using BertFineTune.Heads;

namespace BertFineTune.Training;

/// <summary>What to do when a step's loss or gradient norm is NaN or infinite.</summary>
public enum NonFiniteLossPolicy
{
    /// <summary>Skip the update (weights and optimizer state unchanged), log it, and go on.</summary>
    SkipStep,
    /// <summary>Stop training with a <see cref="NonFiniteLossException"/> naming the step.</summary>
    Throw,
}

/// <summary>
/// Everything a training run is configured with. Defaults follow transformers' <c>TrainingArguments</c> where it has one
/// (learning rate 5e-5, no weight decay, linear schedule, 3 epochs, clipping at 1.0, seed 42).
/// </summary>
public sealed record TrainerOptions
{
    // Optimisation -------------------------------------------------------------------------------------------------

    /// <summary>Peak learning rate.</summary>
    public double LearningRate { get; init; } = 5e-5;

    /// <summary>Decoupled weight decay for every parameter except those matching <see cref="NoDecayPatterns"/>.</summary>
    public double WeightDecay { get; init; }

    /// <summary>Parameters whose name contains one of these get no weight decay.</summary>
    public IReadOnlyList<string> NoDecayPatterns { get; init; } = ["bias", "LayerNorm.weight"];

    /// <summary>Adam's first-moment decay.</summary>
    public double AdamBeta1 { get; init; } = 0.9;

    /// <summary>Adam's second-moment decay.</summary>
    public double AdamBeta2 { get; init; } = 0.999;

    /// <summary>Adam's epsilon.</summary>
    public double AdamEpsilon { get; init; } = 1e-8;

    /// <summary>Learning-rate schedule shape.</summary>
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Linear;

    /// <summary>Warm-up steps; when null, <see cref="WarmupRatio"/> of the total steps.</summary>
    public int? WarmupSteps { get; init; }

    /// <summary>Warm-up as a fraction of the total steps, used when <see cref="WarmupSteps"/> is null.</summary>
    public double WarmupRatio { get; init; }

    /// <summary>
    /// The warm-up steps of a run of <paramref name="totalSteps"/> optimizer steps: <see cref="WarmupSteps"/>, else
    /// ⌈<see cref="WarmupRatio"/> × the schedule's span⌉ (<see cref="ScheduleTotalSteps"/>, else the run), rounded up as
    /// transformers' <c>TrainingArguments.get_warmup_steps</c> does.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><see cref="WarmupRatio"/> is outside [0, 1].</exception>
    public int EffectiveWarmupSteps(int totalSteps) =>
        WarmupSteps ?? LearningRateSchedule.WarmupFromRatio(WarmupRatio, ScheduleTotalSteps ?? totalSteps);

    /// <summary>Steps the schedule spans; null = the run's total optimizer steps.</summary>
    public int? ScheduleTotalSteps { get; init; }

    /// <summary>Cosine waves of the cosine schedule.</summary>
    public double CosineCycles { get; init; } = 0.5;

    /// <summary>Exponent of the polynomial schedule.</summary>
    public double PolynomialPower { get; init; } = 1.0;

    /// <summary>Final learning rate of the polynomial schedule.</summary>
    public double PolynomialEndLearningRate { get; init; } = 1e-7;

    /// <summary>Clip gradients to this global L2 norm; null = no clipping (the norm is still reported).</summary>
    public double? MaxGradNorm { get; init; } = 1.0;

    /// <summary>Micro-batches whose gradients are summed before one optimizer step (each loss divided by this).</summary>
    public int GradientAccumulationSteps { get; init; } = 1;

    /// <summary>Passes over the training data.</summary>
    public int Epochs { get; init; } = 3;

    /// <summary>Optimizer steps to run; overrides <see cref="Epochs"/> when set (epochs repeat as needed).</summary>
    public int? MaxSteps { get; init; }

    /// <summary>Examples per micro-batch.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Examples per evaluation batch; null = <see cref="BatchSize"/>.</summary>
    public int? EvaluationBatchSize { get; init; }

    /// <summary>Seed of the data order, dropout and new weights; the same seed repeats a run bit for bit on one machine.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Shuffle the training examples each epoch.</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>
    /// Put examples of similar length in the same batch, so dynamic padding adds little. Default false, as transformers'
    /// <c>group_by_length</c>: batches are then a plain shuffle, and each is still padded only to its own longest example.
    /// Turning it on changes the batches (not the data seen per epoch) and usually shortens an epoch a lot on text of
    /// mixed length; see docs/performance.md.
    /// </summary>
    public bool GroupByLength { get; init; }

    /// <summary>Round padded batch lengths up to a multiple of this.</summary>
    public int? PadToMultipleOf { get; init; }

    // Fine-tuning strategies ----------------------------------------------------------------------------------------

    /// <summary>Keep the embedding weights fixed.</summary>
    public bool FreezeEmbeddings { get; init; }

    /// <summary>Keep the lowest N transformer layers fixed (with the embeddings, they then run without gradients).</summary>
    public int FreezeLowestLayers { get; init; }

    /// <summary>Keep the whole encoder fixed and train the head only (feature extraction).</summary>
    public bool FreezeEncoder { get; init; }

    /// <summary>
    /// Run the frozen part of the encoder once per example and train on its cached output in every later batch. With
    /// <see cref="FreezeEncoder"/> the whole encoder is frozen: its last hidden state and, when the head reads the pooler
    /// (<see cref="Checkpoints.BertConfig.ClassifierPooling"/>), pooled output are cached and only the head runs. With
    /// <see cref="FreezeLowestLayers"/> = N the hidden state after layer N − 1 (the output of the embeddings and layers
    /// 0..N − 1) is cached, and each batch runs only layers N.., the pooler and the head, in training mode. The cache is
    /// built in evaluation mode without gradients, so the frozen layers' dropout does not apply to it: the losses equal
    /// the uncached run's only when that dropout is 0. It holds [tokens, hidden] values per example in
    /// <see cref="CachePrecision"/> (hidden × 2 or × 4 bytes per token), in memory or, above
    /// <see cref="CacheMemoryLimitBytes"/>, in a memory-mapped temporary file deleted when the run ends. Needs in-memory
    /// examples (<c>Train(ExampleSource…)</c> with <see cref="Data.InMemoryExamples"/>); otherwise the trainer logs why
    /// and runs the frozen layers on every batch.
    /// </summary>
    public bool CacheFrozenLayers { get; init; }

    /// <summary>
    /// The element type of <see cref="CacheFrozenLayers"/>'s cache: <see cref="Training.CachePrecision.BFloat16"/>
    /// (default; half the bytes, the cached states rounded to 8 significant bits) or
    /// <see cref="Training.CachePrecision.Float32"/> (exactly the frozen layers' float32 output).
    /// </summary>
    public CachePrecision CachePrecision { get; init; }

    /// <summary>
    /// The most bytes <see cref="CacheFrozenLayers"/>'s cache may hold in memory; a larger cache is written to a
    /// memory-mapped file under <see cref="Path.GetTempPath"/> instead, deleted when the run ends. Null (default):
    /// half of <see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>. 0 always spills to a file.
    /// </summary>
    public long? CacheMemoryLimitBytes { get; init; }

    // Speed -----------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Layer-wise learning-rate decay: the head and pooler get the learning rate, layer k of L (0 = lowest) gets
    /// lr × decay^(L − k), the embeddings lr × decay^(L + 1). Null = off.
    /// </summary>
    public double? LayerwiseLearningRateDecay { get; init; }

    /// <summary>Re-initialise the top K transformer layers before training (helps small datasets).</summary>
    public int ReinitializeTopLayers { get; init; }

    /// <summary>Class weights, positive weights and label smoothing applied by the head's loss.</summary>
    public LossOptions? Loss { get; init; }

    // Evaluation, early stopping, best model ------------------------------------------------------------------------

    /// <summary>Evaluate every N optimizer steps; null = not by steps.</summary>
    public int? EvaluateEverySteps { get; init; }

    /// <summary>Evaluate at the end of every epoch.</summary>
    public bool EvaluateEveryEpoch { get; init; } = true;

    /// <summary>The metric that decides the best model (<c>loss</c>, or a name returned by the metrics hook).</summary>
    public string MetricForBestModel { get; init; } = "loss";

    /// <summary>Whether a larger metric is better; null = false for names containing "loss", else true.</summary>
    public bool? GreaterIsBetter { get; init; }

    /// <summary>
    /// Stop after this many evaluations in a row that do not improve on the best metric so far by more than
    /// <see cref="EarlyStoppingThreshold"/>; null = never (transformers' <c>EarlyStoppingCallback</c>).
    /// </summary>
    public int? EarlyStoppingPatience { get; init; }

    /// <summary>
    /// An improvement must exceed this (absolute, in the metric's units) to reset the early-stopping patience. It does not
    /// decide the best model: any strict improvement becomes the best metric and, with <see cref="LoadBestModelAtEnd"/>,
    /// the weights restored at the end, as in transformers (<c>trainer_callback.py</c> <c>check_metric_value</c> and
    /// <c>trainer.py</c> <c>_determine_best_metric</c>).
    /// </summary>
    public double EarlyStoppingThreshold { get; init; }

    /// <summary>Restore the weights of the best evaluation at the end.</summary>
    public bool LoadBestModelAtEnd { get; init; }

    // Checkpoints ---------------------------------------------------------------------------------------------------

    /// <summary>Folder for checkpoints (<c>checkpoint-{step}</c>); null = no checkpoints.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Save a checkpoint every N optimizer steps; null = not by steps.</summary>
    public int? SaveEverySteps { get; init; }

    /// <summary>Save a checkpoint at the end of every epoch (when <see cref="OutputDirectory"/> is set).</summary>
    public bool SaveEveryEpoch { get; init; } = true;

    /// <summary>Keep only the newest K checkpoints (the best one is always kept); null = keep all.</summary>
    public int? SaveTotalLimit { get; init; }

    /// <summary>A checkpoint folder to resume from (its weights, optimizer, schedule and data position).</summary>
    public string? ResumeFromCheckpoint { get; init; }

    // Control -------------------------------------------------------------------------------------------------------

    /// <summary>What a NaN or infinite loss or gradient norm does.</summary>
    public NonFiniteLossPolicy NonFiniteLoss { get; init; } = NonFiniteLossPolicy.SkipStep;

    /// <summary>Report progress and log every N optimizer steps.</summary>
    public int LoggingSteps { get; init; } = 10;

    /// <summary>Checks every value and combination; the message names the option and the way out.</summary>
    /// <exception cref="ArgumentException">An option is out of range or contradicts another.</exception>
    public void Validate()
    {
        void Require(bool condition, string option, string message)
        {
            if (!condition)
            {
                throw new ArgumentException($"TrainerOptions.{option}: {message}", option);
            }
        }

        Require(LearningRate > 0 && double.IsFinite(LearningRate), nameof(LearningRate), $"must be a positive number, got {LearningRate}.");
        Require(WeightDecay >= 0, nameof(WeightDecay), $"must not be negative, got {WeightDecay}.");
        Require(GradientAccumulationSteps >= 1, nameof(GradientAccumulationSteps), $"must be at least 1, got {GradientAccumulationSteps}.");
        Require(Epochs >= 1 || MaxSteps is not null, nameof(Epochs), $"must be at least 1 (or set MaxSteps), got {Epochs}.");
        Require(MaxSteps is null or >= 1, nameof(MaxSteps), $"must be at least 1, got {MaxSteps}.");
        Require(BatchSize >= 1, nameof(BatchSize), $"must be at least 1, got {BatchSize}.");
        Require(EvaluationBatchSize is null or >= 1, nameof(EvaluationBatchSize), $"must be at least 1, got {EvaluationBatchSize}.");
        Require(WarmupSteps is null or >= 0, nameof(WarmupSteps), $"must not be negative, got {WarmupSteps}.");
        Require(WarmupRatio is >= 0 and <= 1, nameof(WarmupRatio), $"must be in [0, 1], got {WarmupRatio}.");
        Require(MaxGradNorm is null or > 0, nameof(MaxGradNorm), $"must be positive (null disables clipping), got {MaxGradNorm}.");
        Require(FreezeLowestLayers >= 0, nameof(FreezeLowestLayers), $"must not be negative, got {FreezeLowestLayers}.");
        Require(ReinitializeTopLayers >= 0, nameof(ReinitializeTopLayers), $"must not be negative, got {ReinitializeTopLayers}.");
        Require(LayerwiseLearningRateDecay is null or (> 0 and <= 1), nameof(LayerwiseLearningRateDecay), $"must be in (0, 1], got {LayerwiseLearningRateDecay}.");
        Require(Loss?.LabelSmoothing is null or (>= 0 and < 1), nameof(Loss), $"label smoothing must be in [0, 1), got {Loss?.LabelSmoothing}.");
        Require(EvaluateEverySteps is null or >= 1, nameof(EvaluateEverySteps), $"must be at least 1, got {EvaluateEverySteps}.");
        Require(SaveEverySteps is null or >= 1, nameof(SaveEverySteps), $"must be at least 1, got {SaveEverySteps}.");
        Require(SaveTotalLimit is null or >= 1, nameof(SaveTotalLimit), $"must be at least 1, got {SaveTotalLimit}.");
        Require(EarlyStoppingPatience is null or >= 1, nameof(EarlyStoppingPatience), $"must be at least 1, got {EarlyStoppingPatience}.");
        Require(LoggingSteps >= 1, nameof(LoggingSteps), $"must be at least 1, got {LoggingSteps}.");
        Require(PadToMultipleOf is null or >= 1, nameof(PadToMultipleOf), $"must be at least 1, got {PadToMultipleOf}.");
        Require(!CacheFrozenLayers || FreezeEncoder || FreezeLowestLayers > 0, nameof(CacheFrozenLayers),
            "needs frozen layers to cache: set FreezeEncoder (cache the whole encoder's output) or FreezeLowestLayers > 0 "
            + "(cache the output of the lowest layers); cached states are only valid while the layers that made them do not change.");
        Require(Enum.IsDefined(CachePrecision), nameof(CachePrecision), $"must be BFloat16 or Float32, got {(int)CachePrecision}.");
        Require(CacheMemoryLimitBytes is null or >= 0, nameof(CacheMemoryLimitBytes), $"must not be negative (null = automatic), got {CacheMemoryLimitBytes}.");
    }

    /// <summary>Whether a larger <see cref="MetricForBestModel"/> is better, resolving the null default.</summary>
    public bool EffectiveGreaterIsBetter =>
        GreaterIsBetter ?? !MetricForBestModel.Contains("loss", StringComparison.OrdinalIgnoreCase);
}
