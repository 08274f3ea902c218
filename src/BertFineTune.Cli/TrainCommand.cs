using System.ComponentModel;
using BertFineTune.Builder;
using BertFineTune.Data;
using BertFineTune.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Options of <c>train</c>.</summary>
internal sealed class TrainSettings : DataSettings
{
    [CommandOption("--task <TASK>")]
    [Description("Classification, PairClassification, MultiLabel, Regression, Ner or Qa.")]
    public TaskKind? Task { get; init; }

    [CommandOption("--train <FILE>")]
    [Description("Training file.")]
    public string? TrainFile { get; init; }

    [CommandOption("--validation <FILE>")]
    [Description("Validation file, evaluated every epoch (and every --eval-steps).")]
    public string? ValidationFile { get; init; }

    [CommandOption("-o|--output <FOLDER>")]
    [Description("Where the fine-tuned model, checkpoints, trainer_state.json and training-report.png go.")]
    public string? Output { get; init; }

    [CommandOption("--replace-head")]
    [Description("Initialise a new head when the checkpoint's has another label count.")]
    public bool ReplaceHead { get; init; }

    [CommandOption("--epochs <N>")] [DefaultValue(3)] public int Epochs { get; init; } = 3;
    [CommandOption("--max-steps <N>")] public int? MaxSteps { get; init; }
    [CommandOption("--batch-size <N>")] [DefaultValue(16)] public int BatchSize { get; init; } = 16;
    [CommandOption("--learning-rate <LR>")] [DefaultValue(5e-5)] public double LearningRate { get; init; } = 5e-5;
    [CommandOption("--weight-decay <WD>")] [DefaultValue(0.01)] public double WeightDecay { get; init; } = 0.01;
    [CommandOption("--warmup-ratio <R>")] [DefaultValue(0.1)] public double WarmupRatio { get; init; } = 0.1;
    [CommandOption("--warmup-steps <N>")] public int? WarmupSteps { get; init; }
    [CommandOption("--schedule <KIND>")] [DefaultValue(ScheduleKind.Linear)] public ScheduleKind Schedule { get; init; } = ScheduleKind.Linear;
    [CommandOption("--gradient-accumulation <N>")] [DefaultValue(1)] public int GradientAccumulation { get; init; } = 1;
    [CommandOption("--max-grad-norm <NORM>")] [DefaultValue(1.0)] public double MaxGradNorm { get; init; } = 1.0;
    [CommandOption("--seed <N>")] [DefaultValue(42)] public int Seed { get; init; } = 42;
    [CommandOption("--eval-steps <N>")] public int? EvalSteps { get; init; }
    [CommandOption("--save-steps <N>")] public int? SaveSteps { get; init; }
    [CommandOption("--save-total-limit <K>")] [DefaultValue(2)] public int SaveTotalLimit { get; init; } = 2;
    [CommandOption("--early-stopping-patience <N>")] public int? EarlyStoppingPatience { get; init; }
    [CommandOption("--metric <NAME>")] [Description("Metric for the best model (default: the task's).")] public string? Metric { get; init; }
    [CommandOption("--freeze-encoder")] public bool FreezeEncoder { get; init; }
    [CommandOption("--freeze-embeddings")] public bool FreezeEmbeddings { get; init; }
    [CommandOption("--freeze-layers <N>")] [DefaultValue(0)] public int FreezeLayers { get; init; }
    [CommandOption("--layerwise-lr-decay <D>")] public double? LayerwiseDecay { get; init; }
    [CommandOption("--label-smoothing <S>")] [DefaultValue(0.0)] public double LabelSmoothing { get; init; }
    [CommandOption("--group-by-length")] public bool GroupByLength { get; init; }
    [CommandOption("--resume <CHECKPOINT>")] [Description("A checkpoint folder to continue from.")] public string? Resume { get; init; }

    public override ValidationResult Validate() =>
        base.Validate() is { Successful: false } failed ? failed
        : Task is null ? ValidationResult.Error("--task is required: Classification, PairClassification, MultiLabel, Regression, Ner or Qa.")
        : TrainFile is null ? ValidationResult.Error("--train is required: the training file.")
        : Output is null ? ValidationResult.Error("--output is required: the folder for the fine-tuned model.")
        : ValidationResult.Success();
}

/// <summary><c>train</c>: fine-tune on a labelled file, with live progress, a metrics table and a training report.</summary>
internal sealed class TrainCommand : Command<TrainSettings>
{
    public override int Execute(CommandContext context, TrainSettings settings, CancellationToken cancellationToken)
    {
        var task = settings.Task!.Value;
        var labels = settings.LabelList ?? ExistingLabels(settings.Model!)
            ?? (task is TaskKind.Regression or TaskKind.Qa ? ["score"] : throw new InvalidOperationException(
                $"--labels is required for {task}: the checkpoint has no labels of its own to reuse."));
        var builder = TaskSupport.WithTask(BertModelBuilder.FromPretrained(settings.Model!), task, labels).UseDevice(settings.Device);
        if (settings.ReplaceHead)
        {
            builder = builder.ReplacingExistingHead();
        }
        if (settings.MaxLength is { } max)
        {
            builder = builder.WithMaxSequenceLength(max);
        }
        using var model = builder.Build();
        var train = settings.Load(settings.TrainFile!, task, model.Tokenizer, labels, model.MaxSequenceLength);
        var validation = settings.ValidationFile is null ? null : settings.Load(settings.ValidationFile, task, model.Tokenizer, labels, model.MaxSequenceLength);
        AnsiConsole.MarkupLine($"{train.Count} training and {validation?.Count ?? 0} validation examples");

        var checkpoints = Path.Combine(settings.Output!, "checkpoints");
        var options = new TrainerOptions
        {
            LearningRate = settings.LearningRate,
            WeightDecay = settings.WeightDecay,
            WarmupRatio = settings.WarmupRatio,
            WarmupSteps = settings.WarmupSteps,
            Schedule = settings.Schedule,
            Epochs = settings.Epochs,
            MaxSteps = settings.MaxSteps,
            BatchSize = settings.BatchSize,
            GradientAccumulationSteps = settings.GradientAccumulation,
            MaxGradNorm = settings.MaxGradNorm,
            Seed = settings.Seed,
            EvaluateEverySteps = settings.EvalSteps,
            SaveEverySteps = settings.SaveSteps,
            SaveTotalLimit = settings.SaveTotalLimit,
            EarlyStoppingPatience = settings.EarlyStoppingPatience,
            MetricForBestModel = settings.Metric ?? (validation is null ? "loss" : TaskSupport.BestMetric(task)),
            LoadBestModelAtEnd = validation is not null,
            FreezeEncoder = settings.FreezeEncoder,
            FreezeEmbeddings = settings.FreezeEmbeddings,
            FreezeLowestLayers = settings.FreezeLayers,
            LayerwiseLearningRateDecay = settings.LayerwiseDecay,
            Loss = settings.LabelSmoothing > 0 ? new Heads.LossOptions(LabelSmoothing: settings.LabelSmoothing) : null,
            GroupByLength = settings.GroupByLength,
            OutputDirectory = checkpoints,
            ResumeFromCheckpoint = settings.Resume,
        };
        var trainer = model.CreateTrainer(options);
        var metrics = TaskSupport.Metrics(task, labels);
        var result = TrainingUi.Run(progress => trainer.Train(new InMemoryExamples(train),
            validation is null ? null : new InMemoryExamples(validation), metrics, progress, cancellationToken: cancellationToken));

        model.Save(settings.Output!);
        if (result.LastCheckpoint is { } last)
        {
            File.Copy(Path.Combine(last, "trainer_state.json"), Path.Combine(settings.Output!, "trainer_state.json"), overwrite: true);
        }
        var report = TrainingReport.Write(settings.Output!, result, options.MetricForBestModel);
        var final = validation is null
            ? new Dictionary<string, double> { ["training loss"] = result.TrainingLoss }
            : trainer.Evaluate(BatchSource.FromExamples(new InMemoryExamples(validation), new BatchCollator(model.Tokenizer.PadTokenId), settings.BatchSize), metrics);
        TrainingUi.PrintMetrics(validation is null ? "training" : "validation (best model)", final);
        AnsiConsole.MarkupLine($"{result.GlobalStep} steps ({result.StopReason}); model saved to {Markup.Escape(Path.GetFullPath(settings.Output!))}; report {Markup.Escape(report)}");
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
        var config = Checkpoints.BertConfig.Load(folder);
        bool named = config.Labels.Where((l, i) => l != $"LABEL_{i}").Any();
        return named && config.Architectures.Any(a => a is "BertForSequenceClassification" or "BertForTokenClassification") ? config.Labels : null;
    }
}
