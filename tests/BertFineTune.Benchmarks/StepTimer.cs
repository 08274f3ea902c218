using System.Diagnostics;
using BertFineTune.Training;

namespace BertFineTune.Benchmarks;

/// <summary>Wall time between consecutive optimizer steps, and per epoch.</summary>
internal sealed class StepTimer : TrainerCallback
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private double _last;
    private double _epochStart;

    public List<double> StepSeconds { get; } = [];

    public List<double> EpochSeconds { get; } = [];

    public override bool OnStep(StepRecord step)
    {
        double now = _clock.Elapsed.TotalSeconds;
        StepSeconds.Add(now - _last);
        _last = now;
        if (Math.Abs(step.Epoch - Math.Round(step.Epoch)) < 1e-9)
        {
            EpochSeconds.Add(now - _epochStart);
            _epochStart = now;
        }
        return false;
    }
}
