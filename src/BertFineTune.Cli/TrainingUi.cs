using System.Globalization;
using BertFineTune.Training;
using Spectre.Console;

namespace BertFineTune.Cli;

/// <summary>Runs training under a live progress bar (loss, learning rate, samples/s, ETA) and prints the final metrics.</summary>
internal static class TrainingUi
{
    public static TrainingResult Run(Func<IProgress<TrainingProgress>, TrainingResult> train)
    {
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
                    task.Description = string.Create(CultureInfo.InvariantCulture,
                        $"step {p.Step}/{p.TotalSteps} epoch {p.Epoch:F2} loss {p.Loss:F4} lr {p.LearningRate:E2} {p.SamplesPerSecond:F0} samples/s ETA {p.Remaining:hh\\:mm\\:ss}");
                });
                result = train(progress);
                task.Value = task.MaxValue;
            });
        return result!;
    }

    public static void PrintMetrics(string title, IReadOnlyDictionary<string, double> metrics)
    {
        var table = new Table().Title(Markup.Escape(title)).AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        foreach (var (name, value) in metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            table.AddRow(Markup.Escape(name), value.ToString("F4", CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
    }

    /// <summary>Reports synchronously on the training thread.</summary>
    private sealed class Reporter(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
