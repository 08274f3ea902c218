using BertFineTune.Training;

namespace BertFineTune.Cli;

/// <summary>Draws <c>training-report.png</c>: training loss per step and the validation metrics per evaluation.</summary>
internal static class TrainingReport
{
    public const string FileName = "training-report.png";

    public static string Write(string folder, TrainingResult result, string metric)
    {
        var plot = new ScottPlot.Plot();
        var steps = result.Steps.Where(s => !s.Skipped && double.IsFinite(s.Loss)).ToList();
        var loss = plot.Add.Scatter(steps.Select(s => (double)s.Step).ToArray(), steps.Select(s => s.Loss).ToArray());
        loss.LegendText = "training loss";
        loss.MarkerSize = 0;
        var evaluations = result.Evaluations.Where(e => e.Metrics.ContainsKey("loss")).ToList();
        if (evaluations.Count > 0)
        {
            var validationLoss = plot.Add.Scatter(evaluations.Select(e => (double)e.Step).ToArray(), evaluations.Select(e => e.Metrics["loss"]).ToArray());
            validationLoss.LegendText = "validation loss";
        }
        var withMetric = result.Evaluations.Where(e => metric != "loss" && e.Metrics.ContainsKey(metric)).ToList();
        if (withMetric.Count > 0)
        {
            var curve = plot.Add.Scatter(withMetric.Select(e => (double)e.Step).ToArray(), withMetric.Select(e => e.Metrics[metric]).ToArray());
            curve.LegendText = $"validation {metric}";
            curve.Axes.YAxis = plot.Axes.Right;
            plot.Axes.Right.Label.Text = metric;
        }
        plot.Title("Training report");
        plot.Axes.Bottom.Label.Text = "optimizer step";
        plot.Axes.Left.Label.Text = "loss";
        plot.ShowLegend();
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, FileName);
        plot.SavePng(path, 1000, 560);
        return path;
    }
}
