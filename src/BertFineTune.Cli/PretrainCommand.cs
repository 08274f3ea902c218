using System.ComponentModel;
using BertFineTune.Builder;
using BertFineTune.Data;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Options of <c>pretrain</c>.</summary>
internal sealed class PretrainSettings : RunSettings
{
    [CommandOption("-t|--text <FILE>")]
    [Description("Plain-text file of the domain, one passage per line.")]
    public string? Text { get; init; }

    [CommandOption("-o|--output <FOLDER>")]
    [Description("Where the adapted model and training-report.png go (checkpoints in its checkpoints/ folder).")]
    public string? Output { get; init; }

    [CommandOption("--epochs <N>")]
    [Description("Passes over the text.")]
    [DefaultValue(1)]
    public int Epochs { get; init; } = 1;

    [CommandOption("--batch-size <N>")]
    [Description("Passages per batch (transformers' default is 8; see docs/command-line.md).")]
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
    [DefaultValue(0.06)]
    public double WarmupRatio { get; init; } = 0.06;

    [CommandOption("--mask-probability <P>")]
    [Description("Share of tokens masked for the model to predict, in (0, 1).")]
    [DefaultValue(0.15)]
    public double MaskProbability { get; init; } = 0.15;

    [CommandOption("--seed <N>")]
    [Description("Seed of the data order, the masking and dropout.")]
    [DefaultValue(42)]
    public int Seed { get; init; } = 42;

    [CommandOption("--logging-steps <N>")]
    [Description("Print progress every N optimizer steps.")]
    [DefaultValue(10)]
    public int LoggingSteps { get; init; } = 10;

    [CommandOption("--save-strategy <STRATEGY>")]
    [Description("When to write a resumable checkpoint (weights, optimizer and trainer state) to OUTPUT/checkpoints: No, Steps or Epoch. Default: Steps when --save-steps is given, else No.")]
    public SaveStrategy? SaveStrategy { get; init; }

    [CommandOption("--save-steps <N>")]
    [Description("With --save-strategy Steps: a checkpoint every N optimizer steps (default 500, as transformers).")]
    public int? SaveSteps { get; init; }

    [CommandOption("--overwrite-output-dir")]
    [Description("Allow a non-empty --output: its earlier checkpoints are deleted at the start, and the folder is replaced as a whole when training ends (transformers' overwrite_output_dir).")]
    public bool OverwriteOutputDir { get; init; }

    [CommandOption("--resume-from-checkpoint <FOLDER>")]
    [Description("Continue an interrupted run from its OUTPUT/checkpoints/checkpoint-N folder (same text and options).")]
    public string? ResumeFromCheckpoint { get; init; }

    public override ValidationResult Validate() =>
        base.Validate() is { Successful: false } failed ? failed
        : Text is null ? ValidationResult.Error("--text is required: the plain-text file to learn from.")
        : Output is null ? ValidationResult.Error("--output is required: the folder for the adapted model.")
        : MaskProbability is not (> 0 and < 1) ? ValidationResult.Error($"--mask-probability must be in (0, 1), got {MaskProbability}.")
        : RunOptions.Check(SaveStrategy, SaveSteps) ?? RunOptions.Check(TrainerOptions()) ?? ValidationResult.Success();

    /// <summary>The run's options, saving included; model-independent, so they are checked before anything loads.</summary>
    public TrainerOptions TrainerOptions() => RunOptions.Apply(new TrainerOptions
    {
        LearningRate = LearningRate,
        WeightDecay = WeightDecay,
        WarmupRatio = WarmupRatio,
        Epochs = Epochs,
        BatchSize = BatchSize,
        Seed = Seed,
        LoggingSteps = LoggingSteps,
        SaveTotalLimit = 1,
        ResumeFromCheckpoint = ResumeFromCheckpoint,
    }, SaveStrategy, SaveSteps, Output!);
}

/// <summary><c>pretrain</c>: masked-language modelling on a domain's text.</summary>
internal sealed class PretrainCommand : Command<PretrainSettings>
{
    public override int Execute(CommandContext context, PretrainSettings settings, CancellationToken cancellationToken)
    {
        var options = settings.TrainerOptions();
        // Everything that needs no model is checked before the model loads: option values (by Validate), then files.
        if (!File.Exists(settings.Text))
        {
            throw new FileNotFoundException($"--text {settings.Text}: no such file.", settings.Text);
        }
        RunOptions.CheckCheckpoint(settings.ResumeFromCheckpoint);
        OutputFolder.Check(settings.Output!, settings.OverwriteOutputDir, settings.ResumeFromCheckpoint,
            ("--model", settings.Model), ("--text", settings.Text));
        var builder = SpeedOptions.Apply(BertModelBuilder.FromPretrained(settings.Model!).WithMaskedLanguageModel().UseDevice(settings.Device)
            .WithSeed(settings.Seed).UseLoggerFactory(WarningLog.WithProgress), settings);
        if (settings.MaxLength is { } max)
        {
            builder = builder.WithMaxSequenceLength(max);
        }
        using var model = CliException.During(ErrorKind.Model, () => builder.Build(cancellationToken: cancellationToken));
        var examples = CliException.During(ErrorKind.Data, () => Passages(settings.Text!, model.Tokenizer));

        var masking = new MaskedLanguageModeling(model.Tokenizer.MaskTokenId, model.Tokenizer.VocabularySize, model.Tokenizer.SpecialTokenIds, settings.MaskProbability);
        var batches = BatchSource.ForMaskedLanguageModeling(new InMemoryExamples(examples), masking, settings.BatchSize, model.Tokenizer.PadTokenId, seed: settings.Seed);
        OutputFolder.ClearOldCheckpoints(settings.Output!, settings.OverwriteOutputDir, settings.ResumeFromCheckpoint);
        var trainer = model.CreateTrainer(options);
        TrainingUi.PrintHyperParameters(options, batches.BatchesPerEpoch ?? batches.CountBatches(), evaluated: false, settings.SaveStrategy, settings.SaveSteps,
            [("mask probability", settings.MaskProbability)]);
        SpeedOptions.Print(settings, model, training: null);
        var result = TrainingUi.Run(options, (progress, callbacks) => trainer.Train(batches, progress: progress, callbacks: callbacks, cancellationToken: cancellationToken));
        if (result.StopReason == TrainingStopReason.Cancelled)
        {
            return TrainingUi.ReportInterrupted(result, context.Arguments);
        }
        OutputFolder.Save(settings.Output!, model, folder => TrainingReport.Write(folder, result, "loss"));
        TrainingUi.PrintMetrics("masked-LM training", new Dictionary<string, double> { ["training loss"] = result.TrainingLoss, ["steps"] = result.GlobalStep });
        SpeedOptions.PrintPhaseTimes(result.PhaseTimes);
        Terminal.WriteLine($"Saved the adapted model to {Path.GetFullPath(settings.Output!)}");
        return 0;
    }

    /// <summary>The file's non-empty lines, tokenized and truncated to the model's length.</summary>
    private static List<EncodedExample> Passages(string path, BertTokenizer tokenizer)
    {
        int empty = 0;
        var examples = new List<EncodedExample>();
        foreach (var line in File.ReadLines(path))
        {
            if (line.Trim().Length == 0)
            {
                empty++;
                continue;
            }
            var encoding = tokenizer.Encode(line, options: new EncodingOptions { Truncation = TruncationStrategy.LongestFirst });
            examples.Add(EncodedExample.FromEncoding(encoding));
        }
        if (examples.Count == 0)
        {
            throw new InvalidDataException($"{path} has no text (only {empty} empty lines).");
        }
        Terminal.WriteLine($"{examples.Count} passages from {path} ({empty} empty lines skipped)");
        return examples;
    }
}
