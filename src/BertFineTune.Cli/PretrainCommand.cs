using System.ComponentModel;
using BertFineTune.Builder;
using BertFineTune.Data;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Options of <c>pretrain</c>.</summary>
internal sealed class PretrainSettings : ModelSettings
{
    [CommandOption("-t|--text <FILE>")]
    [Description("Plain-text file of the domain, one passage per line.")]
    public string? Text { get; init; }

    [CommandOption("-o|--output <FOLDER>")]
    [Description("Where the adapted model and checkpoints are written.")]
    public string? Output { get; init; }

    [CommandOption("--epochs <N>")]
    [DefaultValue(1)]
    public int Epochs { get; init; } = 1;

    [CommandOption("--batch-size <N>")]
    [DefaultValue(16)]
    public int BatchSize { get; init; } = 16;

    [CommandOption("--learning-rate <LR>")]
    [DefaultValue(5e-5)]
    public double LearningRate { get; init; } = 5e-5;

    [CommandOption("--mask-probability <P>")]
    [DefaultValue(0.15)]
    public double MaskProbability { get; init; } = 0.15;

    [CommandOption("--seed <N>")]
    [DefaultValue(42)]
    public int Seed { get; init; } = 42;

    public override ValidationResult Validate() =>
        base.Validate() is { Successful: false } failed ? failed
        : Text is null ? ValidationResult.Error("--text is required: the plain-text file to learn from.")
        : Output is null ? ValidationResult.Error("--output is required: the folder for the adapted model.")
        : ValidationResult.Success();
}

/// <summary><c>pretrain</c>: masked-language modelling on a domain's text.</summary>
internal sealed class PretrainCommand : Command<PretrainSettings>
{
    public override int Execute(CommandContext context, PretrainSettings settings, CancellationToken cancellationToken)
    {
        var builder = BertModelBuilder.FromPretrained(settings.Model!).WithMaskedLanguageModel().UseDevice(settings.Device);
        if (settings.MaxLength is { } max)
        {
            builder = builder.WithMaxSequenceLength(max);
        }
        using var model = builder.Build();
        if (!File.Exists(settings.Text))
        {
            throw new FileNotFoundException($"Text file not found: {settings.Text}", settings.Text);
        }
        int empty = 0;
        var examples = new List<EncodedExample>();
        foreach (var line in File.ReadLines(settings.Text!))
        {
            if (line.Trim().Length == 0)
            {
                empty++;
                continue;
            }
            var encoding = model.Tokenizer.Encode(line, options: new EncodingOptions { Truncation = TruncationStrategy.LongestFirst });
            examples.Add(new EncodedExample(encoding.Ids, encoding.TypeIds, new Dictionary<string, TargetValue>()));
        }
        if (examples.Count == 0)
        {
            throw new InvalidDataException($"{settings.Text} has no text (only {empty} empty lines).");
        }
        AnsiConsole.MarkupLine($"{examples.Count} passages from {Markup.Escape(settings.Text!)} ({empty} empty lines skipped)");

        var masking = new MaskedLanguageModeling(model.Tokenizer.MaskTokenId, model.Tokenizer.VocabularySize, model.Tokenizer.SpecialTokenIds, settings.MaskProbability);
        var batches = BatchSource.ForMaskedLanguageModeling(new InMemoryExamples(examples), masking, settings.BatchSize, model.Tokenizer.PadTokenId, seed: settings.Seed);
        var options = new TrainerOptions
        {
            LearningRate = settings.LearningRate,
            WeightDecay = 0.01,
            WarmupRatio = 0.06,
            Epochs = settings.Epochs,
            BatchSize = settings.BatchSize,
            Seed = settings.Seed,
            OutputDirectory = Path.Combine(settings.Output!, "checkpoints"),
            SaveTotalLimit = 1,
        };
        var trainer = model.CreateTrainer(options);
        var result = TrainingUi.Run(progress => trainer.Train(batches, progress: progress, cancellationToken: cancellationToken));
        model.Save(settings.Output!);
        TrainingReport.Write(settings.Output!, result, "loss");
        TrainingUi.PrintMetrics("masked-LM training", new Dictionary<string, double> { ["training loss"] = result.TrainingLoss, ["steps"] = result.GlobalStep });
        AnsiConsole.MarkupLine($"Saved the adapted model to {Markup.Escape(Path.GetFullPath(settings.Output!))}");
        return 0;
    }
}
