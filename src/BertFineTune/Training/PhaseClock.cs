using System.Diagnostics;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>The phases <see cref="PhaseClock"/> measures (see <see cref="TrainingPhaseTimes"/> for what each includes).</summary>
internal enum TrainingPhase
{
    Data,
    Forward,
    Backward,
    Optimizer,
    Evaluation,
    Checkpoint,
}

/// <summary>
/// Adds up one run's wall time per <see cref="TrainingPhase"/> and the training batches' real and padding tokens. Phases
/// do not nest: a phase started inside another is not counted twice (the outer one holds it).
/// </summary>
internal sealed class PhaseClock(Device device)
{
    private readonly long[] _ticks = new long[Enum.GetValues<TrainingPhase>().Length];
    private readonly long _start = Stopwatch.GetTimestamp();
    // CUDA queues kernels and returns at once: without a synchronisation the clock would credit them to a later phase.
    private readonly bool _synchronize = device.type == TorchSharp.DeviceType.CUDA;
    private bool _inside;

    public long RealTokens { get; private set; }
    public long PaddingTokens { get; private set; }

    /// <summary>Starts timing <paramref name="phase"/>; disposing the result stops it.</summary>
    public Scope Measure(TrainingPhase phase)
    {
        if (_inside)
        {
            return default;
        }
        Synchronize();
        _inside = true;
        return new Scope(this, phase, Stopwatch.GetTimestamp());
    }

    /// <summary>Counts the tokens of a training batch: the attention mask's sum is real, the rest of its elements padding; without a mask every position is real.</summary>
    public void CountTokens(Tensor inputIds, Tensor? attentionMask)
    {
        if (attentionMask is null)
        {
            RealTokens += inputIds.numel();
            return;
        }
        using var _ = NewDisposeScope();
        long real = attentionMask.count_nonzero().item<long>();
        RealTokens += real;
        PaddingTokens += attentionMask.numel() - real;
    }

    /// <summary>The times so far; <see cref="TrainingPhaseTimes.Total"/> runs from this clock's creation to now.</summary>
    public TrainingPhaseTimes Snapshot() => new(
        Time(TrainingPhase.Data), Time(TrainingPhase.Forward), Time(TrainingPhase.Backward), Time(TrainingPhase.Optimizer),
        Time(TrainingPhase.Evaluation), Time(TrainingPhase.Checkpoint), Stopwatch.GetElapsedTime(_start), RealTokens, PaddingTokens);

    private TimeSpan Time(TrainingPhase phase) => Stopwatch.GetElapsedTime(0, _ticks[(int)phase]);

    private void Synchronize()
    {
        if (_synchronize)
        {
            cuda.synchronize();
        }
    }

    private void Stop(TrainingPhase phase, long started)
    {
        Synchronize();
        _ticks[(int)phase] += Stopwatch.GetTimestamp() - started;
        _inside = false;
    }

    /// <summary>One timed phase; a default instance (a nested phase) does nothing.</summary>
    public readonly struct Scope(PhaseClock? clock, TrainingPhase phase, long started) : IDisposable
    {
        public void Dispose() => clock?.Stop(phase, started);
    }
}
