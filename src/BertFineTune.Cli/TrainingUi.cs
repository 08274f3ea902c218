using System.Globalization;
using BertFineTune.Training;
using Spectre.Console;

namespace BertFineTune.Cli;

/// <summary>
/// What a training run shows: its effective hyper-parameters first, then progress (a live bar on a terminal, one plain
/// line per logging step otherwise), each evaluation and checkpoint, the final metrics, or what an interruption left.
/// </summary>
internal static class TrainingUi
{
    /// <summary>The exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).</summary>
    public const int InterruptedExitCode = 130;

    /// <summary>
    /// transformers' <c>TrainingArguments</c> defaults (transformers 5.x, src/transformers/training_args.py) for the
    /// values the commands print; a printed value that differs says so, with this default beside it.
    /// </summary>
    private static class Transformers
    {
        public const int Epochs = 3;
        public const int BatchSize = 8;
        public const double LearningRate = 5e-5;
        public const double WeightDecay = 0.0;
        public const int WarmupSteps = 0;
        public const int GradientAccumulation = 1;
        public const double MaxGradNorm = 1.0;
        public const int Seed = 42;
        public const int LoggingSteps = 500;
        public const string Schedule = "Linear";
        public const string Evaluation = "no";
        public const string BestModel = "off";
        public static readonly string Save = $"Steps, every {RunOptions.DefaultSaveSteps} steps, all kept";
    }

    /// <summary>
    /// Prints the run's effective hyper-parameters as one block, each that differs from transformers' default marked with
    /// that default. <paramref name="batchesPerEpoch"/> gives the step counts the trainer will use.
    /// </summary>
    public static void PrintHyperParameters(TrainerOptions options, int batchesPerEpoch, bool evaluated, SaveStrategy? strategy, int? saveSteps,
        IReadOnlyList<(string Name, double Value)>? extra = null)
    {
        int stepsPerEpoch = (batchesPerEpoch + options.GradientAccumulationSteps - 1) / options.GradientAccumulationSteps;
        int totalSteps = options.MaxSteps ?? stepsPerEpoch * options.Epochs;
        int warmup = options.EffectiveWarmupSteps(totalSteps);
        var rows = new List<(string, string)>
        {
            Row("epochs", options.MaxSteps is null ? Number(options.Epochs) : "- (--max-steps)", options.MaxSteps is null ? Number(Transformers.Epochs) : null),
            ("optimizer steps", $"{totalSteps} ({stepsPerEpoch} per epoch)"),
            Row("batch size", Number(options.BatchSize), Number(Transformers.BatchSize)),
            Row("gradient accumulation", Number(options.GradientAccumulationSteps), Number(Transformers.GradientAccumulation)),
            Row("learning rate", Number(options.LearningRate), Number(Transformers.LearningRate)),
            Row("schedule", options.Schedule.ToString(), Transformers.Schedule),
            Row("warm-up steps", options.WarmupSteps is null ? $"{warmup} (ratio {Number(options.WarmupRatio)})" : Number(warmup),
                warmup == Transformers.WarmupSteps ? null : Number(Transformers.WarmupSteps)),
            Row("weight decay", Number(options.WeightDecay), Number(Transformers.WeightDecay)),
            Row("max grad norm", options.MaxGradNorm is { } norm ? Number(norm) : "none", Number(Transformers.MaxGradNorm)),
            Row("seed", Number(options.Seed), Number(Transformers.Seed)),
            Row("logging", $"every {options.LoggingSteps} steps", $"every {Transformers.LoggingSteps} steps"),
        };
        if (evaluated)
        {
            var when = options.EvaluateEverySteps is { } every ? $"every epoch and every {every} steps" : "every epoch";
            rows.Add(Row("evaluation", when, Transformers.Evaluation));
            rows.Add(Row("best model", $"{options.MetricForBestModel}, restored at the end", Transformers.BestModel));
        }
        var effective = RunOptions.Effective(strategy, saveSteps);
        var save = effective switch
        {
            SaveStrategy.No => "No (only the final model is saved)",
            SaveStrategy.Steps => $"Steps, every {options.SaveEverySteps} steps, newest {options.SaveTotalLimit} kept",
            _ => $"Epoch, newest {options.SaveTotalLimit} kept",
        };
        rows.Add(Row("save strategy", save, Transformers.Save));
        if (options.ResumeFromCheckpoint is { } resume)
        {
            rows.Add(("resume from", Path.GetFullPath(resume)));
        }
        foreach (var (name, value) in extra ?? [])
        {
            rows.Add((name, Number(value)));
        }
        Terminal.WriteRows("hyper-parameters (transformers' default in brackets where it differs)", rows, "hyper-parameter", "value");
    }

    private static (string, string) Row(string name, string value, string? transformers) =>
        (name, transformers is null || value == transformers ? value : $"{value} [transformers: {transformers}]");

    /// <summary>A number as Python prints it (5e-05, 0.01, 16), so values read like transformers' logs.</summary>
    public static string Number(double value) =>
        value != 0 && Math.Abs(value) < 1e-3
            ? value.ToString("0.##e-00", CultureInfo.InvariantCulture)
            : value.ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>One progress line: step, epoch, loss, learning rate, speed and time left.</summary>
    public static string ProgressLine(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"step {p.Step}/{p.TotalSteps}  epoch {p.Epoch:F2}  loss {p.Loss:F4}  lr {Number(p.LearningRate)}  {p.SamplesPerSecond:F0} samples/s  ETA {p.Remaining:hh\\:mm\\:ss}");

    /// <summary>Runs <paramref name="train"/> with a progress display and a callback that prints evaluations and checkpoints.</summary>
    public static TrainingResult Run(TrainerOptions options, Func<IProgress<TrainingProgress>, IReadOnlyList<TrainerCallback>, TrainingResult> train)
    {
        var callbacks = new TrainerCallback[] { new RunLog() };
        if (Terminal.IsPlain)
        {
            return train(new Reporter(p => Terminal.WriteLine(ProgressLine(p))), callbacks);
        }
        TrainingResult? result = null;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask("training", maxValue: 1);
                var progress = new Reporter(p =>
                {
                    task.MaxValue = p.TotalSteps;
                    task.Value = p.Step;
                    task.Description = Markup.Escape(ProgressLine(p));
                });
                result = train(progress, callbacks);
                task.Value = task.MaxValue;
            });
        return result!;
    }

    /// <summary>
    /// After Ctrl-C: which step the run reached, which checkpoint is left, and the command line that resumes from it
    /// (this one, with <c>--resume-from-checkpoint</c> set to that checkpoint). Returns <see cref="InterruptedExitCode"/>.
    /// </summary>
    public static int ReportInterrupted(TrainingResult result, IReadOnlyList<string> arguments)
    {
        foreach (var line in InterruptionReport(result.GlobalStep, result.Epoch, result.LastCheckpoint, arguments, OperatingSystem.IsWindows()))
        {
            Console.Error.WriteLine(line);
        }
        return InterruptedExitCode;
    }

    /// <summary>The lines <see cref="ReportInterrupted"/> prints.</summary>
    public static IReadOnlyList<string> InterruptionReport(int step, double epoch, string? checkpoint, IReadOnlyList<string> arguments, bool windows)
    {
        var reached = string.Create(CultureInfo.InvariantCulture, $"interrupted after step {step} (epoch {epoch:F2}); the model was not saved.");
        if (checkpoint is null)
        {
            return
            [
                reached,
                "no checkpoint is left (--save-strategy No), so this run cannot be resumed.",
                "to make a run resumable, add --save-strategy Epoch, or --save-strategy Steps --save-steps N.",
            ];
        }
        var folder = Path.GetFullPath(checkpoint);
        return
        [
            reached,
            $"checkpoint left: {folder}",
            $"resume with: {ResumeCommand(arguments, folder, windows)}",
        ];
    }

    /// <summary>The command line of <paramref name="arguments"/> with <c>--resume-from-checkpoint</c> set to <paramref name="checkpoint"/>, quoted for the shell.</summary>
    public static string ResumeCommand(IReadOnlyList<string> arguments, string checkpoint, bool windows)
    {
        const string option = "--resume-from-checkpoint";
        var kept = new List<string>();
        for (int i = 0; i < arguments.Count; i++)
        {
            if (arguments[i] == option)
            {
                i++;
                continue;
            }
            if (!arguments[i].StartsWith(option + "=", StringComparison.Ordinal))
            {
                kept.Add(arguments[i]);
            }
        }
        kept.Add(option);
        kept.Add(checkpoint);
        return "bert-finetune " + string.Join(' ', kept.Select(a => Quote(a, windows)));
    }

    private static string Quote(string argument, bool windows) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=,@%+".Contains(c))
            ? argument
            : windows ? $"\"{argument.Replace("\"", "\\\"", StringComparison.Ordinal)}\"" : $"'{argument.Replace("'", "'\\''", StringComparison.Ordinal)}'";

    public static void PrintMetrics(string title, IReadOnlyDictionary<string, double> metrics) =>
        Terminal.WriteRows(title, metrics.OrderBy(m => m.Key, StringComparer.Ordinal)
            .Select(m => (m.Key, m.Value.ToString("F4", CultureInfo.InvariantCulture))).ToList(), "metric", "value");

    /// <summary>Prints each evaluation and each checkpoint as one line.</summary>
    private sealed class RunLog : TrainerCallback
    {
        public override bool OnEvaluate(EvaluationRecord evaluation)
        {
            var metrics = string.Join(", ", evaluation.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal)
                .Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Key} {m.Value:F4}")));
            Terminal.WriteLine(string.Create(CultureInfo.InvariantCulture, $"evaluation at step {evaluation.Step} (epoch {evaluation.Epoch:F2}): {metrics}"));
            return false;
        }

        public override bool OnSave(string folder, int step)
        {
            Terminal.WriteLine($"checkpoint saved: {Path.GetFullPath(folder)}");
            return false;
        }
    }

    /// <summary>Reports synchronously on the training thread.</summary>
    private sealed class Reporter(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
