using BertFineTune.Data;
using BertFineTune.Training;

namespace BertFineTune.Tests.Training;

public class ReproducibilityTests
{
    private static TrainerOptions Options(int seed) => TrainingKit.Quiet() with
    {
        LearningRate = 2e-3,
        Epochs = 2,
        BatchSize = 3,
        Shuffle = true,
        GroupByLength = true,
        WarmupRatio = 0.1,
        Seed = seed,
        LoggingSteps = 2,
    };

    [Fact]
    public void The_same_seed_gives_bit_identical_weights_and_another_seed_does_not()
    {
        // Dropout draws from the seeded generator and the data order from the seeded plan.
        var config = TrainingKit.Config(dropout: 0.2);
        var examples = new InMemoryExamples(TrainingKit.Examples(12));
        using var first = TrainingKit.Model(config, seed: 1);
        using var second = TrainingKit.Model(config, seed: 1);
        using var other = TrainingKit.Model(config, seed: 1);

        var a = new Trainer(first, Options(seed: 42)).Train(examples);
        var b = new Trainer(second, Options(seed: 42)).Train(examples);
        new Trainer(other, Options(seed: 43)).Train(examples);

        Assert.Equal(a.Steps.Select(s => s.Loss), b.Steps.Select(s => s.Loss));
        var wa = TrainingKit.Snapshot(first);
        var wb = TrainingKit.Snapshot(second);
        var wc = TrainingKit.Snapshot(other);
        try
        {
            Assert.Empty(TrainingKit.Changed(wa, wb));
            Assert.NotEmpty(TrainingKit.Changed(wa, wc));
        }
        finally
        {
            TrainingKit.Dispose(wa);
            TrainingKit.Dispose(wb);
            TrainingKit.Dispose(wc);
        }
    }

    [Fact]
    public async Task TrainAsync_trains_on_another_thread_and_reports_progress_with_step_and_total()
    {
        var examples = new InMemoryExamples(TrainingKit.Examples(12));
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));
        using var reference = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));
        TrainingKit.CopyWeights(model, reference);
        var progress = new ProgressLog<TrainingProgress>();
        int callerThread = Environment.CurrentManagedThreadId;
        var threads = new HashSet<int>();

        // 12 examples in batches of 3: 4 steps per epoch, 8 in all; a report every 2 steps.
        var result = await new Trainer(model, Options(seed: 42)).TrainAsync(examples, progress: progress,
            callbacks: [new Hooks { Step = _ => { threads.Add(Environment.CurrentManagedThreadId); return false; } }]);
        var synchronous = new Trainer(reference, Options(seed: 42)).Train(examples);

        Assert.Equal(TrainingStopReason.Completed, result.StopReason);
        Assert.Equal(8, result.GlobalStep);
        Assert.DoesNotContain(callerThread, threads);
        Assert.Equal([2, 4, 6, 8], progress.Reports.Select(p => p.Step));
        Assert.All(progress.Reports, p => Assert.Equal(8, p.TotalSteps));
        Assert.Equal([0.5, 1.0, 1.5, 2.0], progress.Reports.Select(p => p.Epoch));
        Assert.All(progress.Reports, p => Assert.True(double.IsFinite(p.Loss) && p.Loss > 0, $"loss {p.Loss}"));
        Assert.All(progress.Reports, p => Assert.True(p.SamplesPerSecond > 0));
        Assert.Equal(TimeSpan.Zero, progress.Reports[^1].Remaining);
        // Each report's loss is the mean over the steps since the previous one.
        Assert.Equal((result.Steps[0].Loss + result.Steps[1].Loss) / 2, progress.Reports[0].Loss, 1e-12);
        Assert.Equal(synchronous.Steps.Select(s => s.Loss), result.Steps.Select(s => s.Loss));
    }
}
