using System.Text.Json;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Training;

namespace BertFineTune.Tests.Training;

public class ResumeTests
{
    // 12 examples in batches of 2: 6 steps per epoch, 12 in two epochs.
    private const int TotalSteps = 12;

    private static readonly BertConfig Config = TrainingKit.Config(dropout: 0.2);

    private static BertForTask RecordingModel(int seed)
    {
        TorchSharp.torch.random.manual_seed(seed);
        return new BertForTask(Config, new RecordingClassificationHead(Config));
    }

    private static List<string> Recorded(BertForTask model) => ((RecordingClassificationHead)model.Head).TrainingBatches;

    private static TrainerOptions Options(string output) => new()
    {
        LearningRate = 2e-3,
        WeightDecay = 0.01,
        WarmupSteps = 2,
        Epochs = 2,
        BatchSize = 2,
        Shuffle = true,
        Seed = 7,
        OutputDirectory = output,
        SaveEverySteps = 5,
        EvaluateEveryEpoch = false,
    };

    [Theory]
    [InlineData(3)]
    [InlineData(6)] // the last step of the first epoch: the resumed run finishes that epoch (and re-saves checkpoint-6)
    [InlineData(8)]
    public void Resuming_mid_epoch_ends_with_the_weights_of_an_uninterrupted_run(int stopAt)
    {
        using var straightFolder = new TempFolder();
        using var stoppedFolder = new TempFolder();
        var examples = new InMemoryExamples(TrainingKit.Examples(12, seed: 9));

        using var straight = RecordingModel(seed: 1);
        var full = new Trainer(straight, Options(straightFolder.Path)).Train(examples);

        using var stopped = RecordingModel(seed: 1);
        var first = new Trainer(stopped, Options(stoppedFolder.Path))
            .Train(examples, callbacks: [new Hooks { Step = s => s.Step == stopAt }]);

        Assert.Equal(TrainingStopReason.Callback, first.StopReason);
        Assert.Equal(stopAt, first.GlobalStep);
        var checkpoint = Path.Combine(stoppedFolder.Path, $"checkpoint-{stopAt}");
        Assert.Equal(checkpoint, first.LastCheckpoint);

        // Different random weights: everything must come from the checkpoint.
        using var resumed = RecordingModel(seed: 2);
        var rest = new Trainer(resumed, Options(stoppedFolder.Path) with { ResumeFromCheckpoint = checkpoint }).Train(examples);

        Assert.Equal(TrainingStopReason.Completed, full.StopReason);
        Assert.Equal(TrainingStopReason.Completed, rest.StopReason);
        Assert.Equal(TotalSteps, full.GlobalStep);
        Assert.Equal(TotalSteps, rest.GlobalStep);
        Assert.Equal(Enumerable.Range(stopAt + 1, TotalSteps - stopAt), rest.Steps.Select(s => s.Step));
        Assert.Equal(full.Steps.Skip(stopAt).Select(s => s.Loss), rest.Steps.Select(s => s.Loss));

        // The batches before the checkpoint are skipped, not run through the model; the rest come in the same order.
        Assert.Equal(TotalSteps, Recorded(straight).Count);
        // Re-saving a step replaces the folder without leaving the old copy or a temporary folder behind.
        Assert.Empty(Directory.GetDirectories(stoppedFolder.Path, ".*"));
        static IEnumerable<string?> Names(string folder) => Directory.GetDirectories(folder).Select(Path.GetFileName);
        Assert.Equal(Names(straightFolder.Path).Append($"checkpoint-{stopAt}").Distinct().Order(StringComparer.Ordinal),
            Names(stoppedFolder.Path).Order(StringComparer.Ordinal));
        Assert.Equal(Recorded(straight).Take(stopAt), Recorded(stopped));
        Assert.Equal(Recorded(straight).Skip(stopAt), Recorded(resumed));

        var expected = TrainingKit.Snapshot(straight);
        var actual = TrainingKit.Snapshot(resumed);
        try
        {
            var different = expected.Keys.Where(k => !TrainingKit.BitIdentical(expected[k], actual[k])).ToList();
            Assert.True(different.Count == 0,
                $"differ: {string.Join(", ", different)}; largest difference {TrainingKit.MaxDifference(expected, actual):G3}");
        }
        finally
        {
            TrainingKit.Dispose(expected);
            TrainingKit.Dispose(actual);
        }
    }

    [Fact]
    public void Cancellation_stops_at_the_step_boundary_with_a_checkpoint_that_resumes_to_the_end()
    {
        using var straightFolder = new TempFolder();
        using var cancelledFolder = new TempFolder();
        var examples = new InMemoryExamples(TrainingKit.Examples(12, seed: 4));
        // Only the cancellation writes a checkpoint here.
        TrainerOptions Plain(string output) => Options(output) with { SaveEverySteps = null, SaveEveryEpoch = false };

        using var straight = RecordingModel(seed: 3);
        new Trainer(straight, Plain(straightFolder.Path)).Train(examples);

        using var cancelled = RecordingModel(seed: 3);
        using var cancellation = new CancellationTokenSource();
        var first = new Trainer(cancelled, Plain(cancelledFolder.Path)).Train(examples, callbacks:
        [
            new Hooks
            {
                Step = s =>
                {
                    if (s.Step == 4)
                    {
                        cancellation.Cancel();
                    }
                    return false;
                },
            },
        ], cancellationToken: cancellation.Token);

        Assert.Equal(TrainingStopReason.Cancelled, first.StopReason);
        Assert.Equal(4, first.GlobalStep);
        Assert.Equal(4, first.Steps.Count);
        Assert.Equal(4, Recorded(cancelled).Count);
        var checkpoint = Path.Combine(cancelledFolder.Path, "checkpoint-4");
        Assert.Equal(checkpoint, first.LastCheckpoint);
        Assert.Equal([checkpoint], Directory.GetDirectories(cancelledFolder.Path));
        using (var state = JsonDocument.Parse(File.ReadAllText(Path.Combine(checkpoint, "trainer_state.json"))))
        {
            Assert.Equal(4, state.RootElement.GetProperty("global_step").GetInt32());
        }

        using var resumed = RecordingModel(seed: 5);
        var rest = new Trainer(resumed, Plain(cancelledFolder.Path) with { ResumeFromCheckpoint = checkpoint }).Train(examples);

        Assert.Equal(TrainingStopReason.Completed, rest.StopReason);
        Assert.Equal(TotalSteps, rest.GlobalStep);
        Assert.Equal(TotalSteps - 4, Recorded(resumed).Count);
        var expected = TrainingKit.Snapshot(straight);
        var actual = TrainingKit.Snapshot(resumed);
        try
        {
            Assert.Equal(0.0, TrainingKit.MaxDifference(expected, actual));
        }
        finally
        {
            TrainingKit.Dispose(expected);
            TrainingKit.Dispose(actual);
        }
    }
}
