using System.ComponentModel;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Options of <c>train</c>.</summary>
internal sealed class TrainSettings : DataSettings
{
    [CommandOption("--task <TASK>")]
    [Description("What to learn: Classification, PairClassification, MultiLabel, Regression, Ner or Qa.")]
    public TaskKind? Task { get; init; }

    [CommandOption("--train <FILE>")]
    [Description("Labelled training file.")]
    public string? TrainFile { get; init; }

    [CommandOption("--validation <FILE>")]
    [Description("Labelled validation file, evaluated every epoch (and every --eval-steps); the best evaluation's weights are kept.")]
    public string? ValidationFile { get; init; }

    [CommandOption("-o|--output <FOLDER>")]
    [Description("Where the fine-tuned model and training-report.png go (checkpoints in its checkpoints/ folder).")]
    public string? Output { get; init; }

    [CommandOption("--overwrite-output-dir")]
    [Description("Allow a non-empty --output: its earlier checkpoints are deleted at the start, and the folder is replaced as a whole when training ends (transformers' overwrite_output_dir).")]
    public bool OverwriteOutputDir { get; init; }

    [CommandOption("--replace-head")]
    [Description("Start a new head when the checkpoint's head has another label count (its head weights are dropped).")]
    public bool ReplaceHead { get; init; }

    [CommandOption("--allow-random-init")]
    [Description("Train even when the checkpoint supplies no encoder weight (keys renamed, empty weight_map): the whole model starts random, from --seed. Without it such a checkpoint is refused.")]
    public bool AllowRandomInit { get; init; }

    [CommandOption("--pooling <POOLING>")]
    [Description("What a Classification, PairClassification, MultiLabel or Regression head classifies: Pooler (transformers' default), Cls (the [[CLS]] state), Mean or Max (over the text's tokens). Mean suits sentence-transformers checkpoints such as all-MiniLM-L6-v2. Saved as classifier_pooling. Default: the checkpoint's, else Pooler.")]
    public PoolingMode? Pooling { get; init; }

    [CommandOption("--epochs <N>")]
    [Description("Passes over the training data.")]
    [DefaultValue(3)]
    public int Epochs { get; init; } = 3;

    [CommandOption("--max-steps <N>")]
    [Description("Optimizer steps to run; overrides --epochs.")]
    public int? MaxSteps { get; init; }

    [CommandOption("--batch-size <N>")]
    [Description("Examples per batch (transformers' default is 8; see docs/command-line.md).")]
    [DefaultValue(16)]
    public int BatchSize { get; init; } = 16;

    [CommandOption("--learning-rate <LR>")]
    [Description("Peak learning rate of AdamW.")]
    [DefaultValue(5e-5)]
    public double LearningRate { get; init; } = 5e-5;

    [CommandOption("--weight-decay <WD>")]
    [Description("AdamW weight decay, not applied to biases and LayerNorm weights (transformers' default is 0).")]
    [DefaultValue(0.01)]
    public double WeightDecay { get; init; } = 0.01;

    [CommandOption("--warmup-ratio <R>")]
    [Description("Fraction of the steps spent warming the learning rate up from 0 (transformers' default is 0).")]
    [DefaultValue(0.1)]
    public double WarmupRatio { get; init; } = 0.1;

    [CommandOption("--warmup-steps <N>")]
    [Description("Warm-up steps; overrides --warmup-ratio.")]
    public int? WarmupSteps { get; init; }

    [CommandOption("--schedule <KIND>")]
    [Description("Learning-rate schedule after warm-up: Linear, Cosine, Constant or Polynomial.")]
    [DefaultValue(ScheduleKind.Linear)]
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Linear;

    [CommandOption("--gradient-accumulation <N>")]
    [Description("Batches whose gradients are summed before one optimizer step.")]
    [DefaultValue(1)]
    public int GradientAccumulation { get; init; } = 1;

    [CommandOption("--max-grad-norm <NORM>")]
    [Description("Clip gradients to this global L2 norm.")]
    [DefaultValue(1.0)]
    public double MaxGradNorm { get; init; } = 1.0;

    [CommandOption("--seed <N>")]
    [Description("Seed of the new weights (a new head), dropout, layer re-initialisation and the data order: the same seed gives the same model bit for bit.")]
    [DefaultValue(42)]
    public int Seed { get; init; } = 42;

    [CommandOption("--logging-steps <N>")]
    [Description("Print progress every N optimizer steps.")]
    [DefaultValue(10)]
    public int LoggingSteps { get; init; } = 10;

    [CommandOption("--eval-steps <N>")]
    [Description("Also evaluate every N optimizer steps (needs --validation).")]
    public int? EvalSteps { get; init; }

    [CommandOption("--save-strategy <STRATEGY>")]
    [Description("When to write a resumable checkpoint (weights, optimizer and trainer state) to OUTPUT/checkpoints: No, Steps or Epoch. Default: Steps when --save-steps is given, else No.")]
    public SaveStrategy? SaveStrategy { get; init; }

    [CommandOption("--save-steps <N>")]
    [Description("With --save-strategy Steps: a checkpoint every N optimizer steps (default 500, as transformers).")]
    public int? SaveSteps { get; init; }

    [CommandOption("--save-total-limit <K>")]
    [Description("Keep only the newest K checkpoints (the best one is always kept).")]
    [DefaultValue(2)]
    public int SaveTotalLimit { get; init; } = 2;

    [CommandOption("--resume-from-checkpoint <FOLDER>")]
    [Description("Continue an interrupted run from its OUTPUT/checkpoints/checkpoint-N folder (same data and options).")]
    public string? ResumeFromCheckpoint { get; init; }

    [CommandOption("--early-stopping-patience <N>")]
    [Description("Stop after N evaluations in a row without improvement (needs --validation).")]
    public int? EarlyStoppingPatience { get; init; }

    [CommandOption("--metric <NAME>")]
    [Description("Validation metric that picks the best model (default: accuracy, f1_micro, pearson or f1 by task).")]
    public string? Metric { get; init; }

    [CommandOption("--freeze-encoder")]
    [Description("Train the head only; the encoder's weights stay fixed.")]
    public bool FreezeEncoder { get; init; }

    [CommandOption("--freeze-embeddings")]
    [Description("Keep the embedding weights fixed.")]
    public bool FreezeEmbeddings { get; init; }

    [CommandOption("--freeze-layers <N>")]
    [Description("Keep the lowest N transformer layers (and the embeddings) fixed.")]
    [DefaultValue(0)]
    public int FreezeLayers { get; init; }

    [CommandOption("--cache-frozen-layers")]
    [Description("Run the frozen layers (--freeze-layers N or --freeze-encoder) once per example and train on their cached output.")]
    public bool CacheFrozenLayers { get; init; }

    [CommandOption("--cache-precision <PRECISION>")]
    [Description("Element type of the frozen-layer cache: BFloat16 (default, hidden × 2 bytes per token) or Float32 (exact, × 4).")]
    [DefaultValue(Training.CachePrecision.BFloat16)]
    public Training.CachePrecision CachePrecision { get; init; }

    [CommandOption("--cache-memory-limit <BYTES>")]
    [Description("Most bytes the frozen-layer cache keeps in memory; a larger one goes to a memory-mapped temporary file (default: half the available memory).")]
    public long? CacheMemoryLimit { get; init; }

    [CommandOption("--layerwise-lr-decay <D>")]
    [Description("Layer-wise learning-rate decay in (0, 1]]: layer k of L learns at lr × D^(L − k).")]
    public double? LayerwiseDecay { get; init; }

    [CommandOption("--label-smoothing <S>")]
    [Description("Label smoothing of the classification loss, in [[0, 1).")]
    [DefaultValue(0.0)]
    public double LabelSmoothing { get; init; }

    [CommandOption("--group-by-length")]
    [Description("Batch examples of similar length together, so padding wastes less time.")]
    public bool GroupByLength { get; init; }

    public override ValidationResult Validate()
    {
        var failed = base.Validate();
        if (!failed.Successful)
        {
            return failed;
        }
        if (Task is null)
        {
            return ValidationResult.Error("--task is required: Classification, PairClassification, MultiLabel, Regression, Ner or Qa.");
        }
        if (TrainFile is null)
        {
            return ValidationResult.Error("--train is required: the training file.");
        }
        if (Output is null)
        {
            return ValidationResult.Error("--output is required: the folder for the fine-tuned model.");
        }
        if (Pooling is not null && !TaskSupport.PoolsSequences(Task.Value))
        {
            return ValidationResult.Error($"--pooling applies to Classification, PairClassification, MultiLabel and Regression; {Task} predicts per token, not per text.");
        }
        if (ValidationFile is null)
        {
            foreach (var (given, flag) in new[] { (EvalSteps is not null, "--eval-steps"), (EarlyStoppingPatience is not null, "--early-stopping-patience"), (Metric is not null, "--metric") })
            {
                if (given)
                {
                    return ValidationResult.Error($"{flag} needs --validation: it acts on the validation metrics.");
                }
            }
        }
        return RunOptions.Check(SaveStrategy, SaveSteps) ?? RunOptions.Check(TrainerOptions()) ?? ValidationResult.Success();
    }

    /// <summary>The run's options, saving included; model-independent, so they are checked before anything loads.</summary>
    public TrainerOptions TrainerOptions() => RunOptions.Apply(new TrainerOptions
    {
        LearningRate = LearningRate,
        WeightDecay = WeightDecay,
        WarmupRatio = WarmupRatio,
        WarmupSteps = WarmupSteps,
        Schedule = Schedule,
        Epochs = Epochs,
        MaxSteps = MaxSteps,
        BatchSize = BatchSize,
        GradientAccumulationSteps = GradientAccumulation,
        MaxGradNorm = MaxGradNorm,
        Seed = Seed,
        LoggingSteps = LoggingSteps,
        EvaluateEverySteps = EvalSteps,
        SaveTotalLimit = SaveTotalLimit,
        EarlyStoppingPatience = EarlyStoppingPatience,
        MetricForBestModel = Metric ?? (ValidationFile is null ? "loss" : TaskSupport.BestMetric(Task!.Value)),
        LoadBestModelAtEnd = ValidationFile is not null,
        FreezeEncoder = FreezeEncoder,
        FreezeEmbeddings = FreezeEmbeddings,
        FreezeLowestLayers = FreezeLayers,
        CacheFrozenLayers = CacheFrozenLayers,
        CachePrecision = CachePrecision,
        CacheMemoryLimitBytes = CacheMemoryLimit,
        LayerwiseLearningRateDecay = LayerwiseDecay,
        Loss = LabelSmoothing != 0 ? new Heads.LossOptions(LabelSmoothing: LabelSmoothing) : null,
        GroupByLength = GroupByLength,
        ResumeFromCheckpoint = ResumeFromCheckpoint,
    }, SaveStrategy, SaveSteps, Output!);
}

/// <summary><c>train</c>: fine-tune on a labelled file, with progress, a metrics table and a training report.</summary>
internal sealed class TrainCommand : Command<TrainSettings>
{
    public override int Execute(CommandContext context, TrainSettings settings, CancellationToken cancellationToken)
    {
        var task = settings.Task!.Value;
        var options = settings.TrainerOptions();
        // Everything that needs no model is checked before the model loads: option values (by Validate), then files.
        settings.CheckFile("--train", settings.TrainFile!, task);
        if (settings.ValidationFile is not null)
        {
            settings.CheckFile("--validation", settings.ValidationFile, task);
        }
        RunOptions.CheckCheckpoint(settings.ResumeFromCheckpoint);
        OutputFolder.Check(settings.Output!, settings.OverwriteOutputDir, settings.ResumeFromCheckpoint,
            ("--model", settings.Model), ("--train", settings.TrainFile), ("--validation", settings.ValidationFile));
        var labels = settings.LabelList ?? ExistingLabels(settings.Model!)
            ?? (task is TaskKind.Regression or TaskKind.Qa ? ["score"] : throw new CliException(ErrorKind.Usage,
                $"--labels is required for {task}: the checkpoint has no labels of its own to reuse."));
        var builder = SpeedOptions.Apply(TaskSupport.WithTask(BertModelBuilder.FromPretrained(settings.Model!), task, labels, settings.Pooling).UseDevice(settings.Device)
            .WithSeed(settings.Seed).UseLoggerFactory(WarningLog.WithProgress), settings);
        if (settings.AllowRandomInit)
        {
            builder = builder.AllowingRandomInitialization();
        }
        if (settings.ReplaceHead)
        {
            builder = builder.ReplacingExistingHead();
        }
        if (settings.MaxLength is { } max)
        {
            builder = builder.WithMaxSequenceLength(max);
        }
        using var model = CliException.During(ErrorKind.Model, () => builder.Build(cancellationToken: cancellationToken));
        if (settings.FreezeLayers > model.Model.Config.NumHiddenLayers)
        {
            throw new CliException(ErrorKind.Usage,
                $"--freeze-layers {settings.FreezeLayers}: the model has {model.Model.Config.NumHiddenLayers} layers; use at most {model.Model.Config.NumHiddenLayers}.");
        }
        var train = settings.Load(settings.TrainFile!, task, model.Tokenizer, labels, model.MaxSequenceLength);
        var validation = settings.ValidationFile is null ? null : settings.Load(settings.ValidationFile, task, model.Tokenizer, labels, model.MaxSequenceLength);
        Terminal.WriteLine($"{train.Count} training and {validation?.Count ?? 0} validation examples");

        OutputFolder.ClearOldCheckpoints(settings.Output!, settings.OverwriteOutputDir, settings.ResumeFromCheckpoint);
        var trainer = model.CreateTrainer(options);
        var metrics = TaskSupport.Metrics(task, labels);
        TrainingUi.PrintHyperParameters(options, batchesPerEpoch: (train.Count + options.BatchSize - 1) / options.BatchSize,
            evaluated: validation is not null, settings.SaveStrategy, settings.SaveSteps);
        SpeedOptions.Print(settings, model, options);
        var result = TrainingUi.Run(options, (progress, callbacks) => trainer.Train(new InMemoryExamples(train),
            validation is null ? null : new InMemoryExamples(validation), metrics, progress, callbacks, cancellationToken));
        if (result.StopReason == TrainingStopReason.Cancelled)
        {
            return TrainingUi.ReportInterrupted(result, context.Arguments);
        }

        // The model, its trainer state and report replace the output folder as a whole (this run's checkpoints move in).
        OutputFolder.Save(settings.Output!, model, folder =>
        {
            if (result.LastCheckpoint is { } last)
            {
                File.Copy(Path.Combine(last, "trainer_state.json"), Path.Combine(folder, "trainer_state.json"), overwrite: true);
            }
            TrainingReport.Write(folder, result, options.MetricForBestModel);
        });
        var report = Path.Combine(Path.GetFullPath(settings.Output!), TrainingReport.FileName);
        var final = validation is null
            ? new Dictionary<string, double> { ["training loss"] = result.TrainingLoss }
            : trainer.Evaluate(BatchSource.FromExamples(new InMemoryExamples(validation), new BatchCollator(model.Tokenizer.PadTokenId), settings.BatchSize), metrics);
        TrainingUi.PrintMetrics(validation is null ? "training" : "validation (best model)", final);
        SpeedOptions.PrintPhaseTimes(result.PhaseTimes);
        Terminal.WriteLine($"{result.GlobalStep} steps ({result.StopReason}); model saved to {Path.GetFullPath(settings.Output!)}");
        Terminal.WriteLine($"report: {report}");
        return 0;
    }

    /// <summary>The checkpoint's own labels, when it has a classification head with named labels.</summary>
    private static IReadOnlyList<string>? ExistingLabels(string folder)
    {
        // A Hub id (or a folder the builder will refuse) has no local config to take labels from here.
        if (!File.Exists(Path.Combine(folder, "config.json")))
        {
            return null;
        }
        var config = CliException.During(ErrorKind.Model, () => Checkpoints.BertConfig.Load(folder));
        bool named = config.Labels.Where((l, i) => l != $"LABEL_{i}").Any();
        return named && config.Architectures.Any(a => a is "BertForSequenceClassification" or "BertForTokenClassification") ? config.Labels : null;
    }
}
