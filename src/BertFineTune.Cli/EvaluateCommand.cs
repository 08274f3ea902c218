using System.ComponentModel;
using BertFineTune.Builder;
using BertFineTune.Data;
using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Options of <c>evaluate</c>.</summary>
internal sealed class EvaluateSettings : DataSettings
{
    [CommandOption("-d|--data <FILE>")]
    [Description("Labelled file to score the model on.")]
    public string? Data { get; init; }

    [CommandOption("--batch-size <N>")]
    [Description("Examples per evaluation batch.")]
    [DefaultValue(32)]
    public int BatchSize { get; init; } = 32;

    public override ValidationResult Validate() =>
        base.Validate() is { Successful: false } failed ? failed
        : Data is null ? ValidationResult.Error("--data is required: the labelled file to evaluate on.")
        : BatchSize < 1 ? ValidationResult.Error($"--batch-size must be at least 1, got {BatchSize}.")
        : ValidationResult.Success();
}

/// <summary><c>evaluate</c>: the task's metrics of a model on a labelled file.</summary>
internal sealed class EvaluateCommand : Command<EvaluateSettings>
{
    public override int Execute(CommandContext context, EvaluateSettings settings, CancellationToken cancellationToken)
    {
        if (!File.Exists(settings.Data))
        {
            throw new FileNotFoundException($"--data {settings.Data}: no such file.", settings.Data);
        }
        var builder = SpeedOptions.Apply(BertModelBuilder.FromPretrained(settings.Model!).UseDevice(settings.Device).UseLoggerFactory(WarningLog.WithProgress), settings);
        if (settings.MaxLength is { } max)
        {
            builder = builder.WithMaxSequenceLength(max);
        }
        using var model = CliException.During(ErrorKind.Model, () => builder.Build(cancellationToken: cancellationToken));
        var task = TaskSupport.TaskOf(model);
        if (task == TaskKind.Classification && settings.PairColumn is not null)
        {
            task = TaskKind.PairClassification;
        }
        var labels = model.Labels;
        var examples = settings.Load(settings.Data!, task, model.Tokenizer, labels, model.MaxSequenceLength);
        SpeedOptions.Print(settings, model, training: null);
        var trainer = model.CreateTrainer(new Training.TrainerOptions { BatchSize = settings.BatchSize });
        var metrics = trainer.Evaluate(BatchSource.FromExamples(new InMemoryExamples(examples), new BatchCollator(model.Tokenizer.PadTokenId), settings.BatchSize),
            TaskSupport.Metrics(task, labels));
        Terminal.WriteLine($"{examples.Count} examples from {settings.Data}");
        TrainingUi.PrintMetrics($"{task} evaluation", metrics);
        return 0;
    }
}
