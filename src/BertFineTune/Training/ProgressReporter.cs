using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace BertFineTune.Training;

/// <summary>
/// Every <see cref="TrainerOptions.LoggingSteps"/> optimizer steps, and at the last: a log line and an
/// <see cref="IProgress{T}"/> report with the mean loss of the finite steps since the last report, the step's learning
/// rate and gradient norm, the throughput and the estimated time left.
/// </summary>
internal sealed class ProgressReporter
{
    private readonly ILogger _logger;
    private readonly IProgress<TrainingProgress>? _progress;
    private readonly int _totalSteps;
    private readonly int _loggingSteps;
    private readonly int _firstStep;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _lastReport;
    private long _examples;
    private double _loss;
    private int _steps;

    /// <summary>Reports on a run of <paramref name="totalSteps"/> steps that starts after step <paramref name="firstStep"/> (0, or the step resumed from).</summary>
    public ProgressReporter(ILogger logger, IProgress<TrainingProgress>? progress, int totalSteps, int loggingSteps, int firstStep)
    {
        _logger = logger;
        _progress = progress;
        _totalSteps = totalSteps;
        _loggingSteps = loggingSteps;
        _firstStep = firstStep;
    }

    /// <summary>Counts <paramref name="step"/>, which trained on <paramref name="examples"/> examples, and reports when it is time.</summary>
    public void Add(StepRecord step, long examples)
    {
        _examples += examples;
        if (!step.Skipped)
        {
            _loss += step.Loss;
            _steps++;
        }
        if (step.Step % _loggingSteps == 0 || step.Step == _totalSteps)
        {
            Report(step);
        }
    }

    private void Report(StepRecord step)
    {
        var now = _clock.Elapsed;
        double seconds = Math.Max(1e-9, (now - _lastReport).TotalSeconds);
        double samplesPerSecond = _examples / seconds;
        double loss = _steps > 0 ? _loss / _steps : double.NaN;
        int stepsThisRun = step.Step - _firstStep;
        var remaining = stepsThisRun > 0
            ? TimeSpan.FromSeconds(now.TotalSeconds / stepsThisRun * (_totalSteps - step.Step))
            : TimeSpan.Zero;
        Log.StepLogged(_logger, step.Step, _totalSteps, step.Epoch, loss, step.LearningRate, step.GradientNorm, samplesPerSecond);
        _progress?.Report(new TrainingProgress(step.Epoch, step.Step, _totalSteps, loss, step.LearningRate, samplesPerSecond, remaining));
        _lastReport = now;
        _examples = 0;
        _loss = 0;
        _steps = 0;
    }
}
