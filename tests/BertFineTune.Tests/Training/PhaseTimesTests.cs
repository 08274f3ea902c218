using System.Text.Json.Nodes;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Training;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Training;

/// <summary>
/// The trainer's time per phase (<see cref="TrainingResult.PhaseTimes"/>) and its token counts. No timing is asserted
/// beyond the sign of a phase and the phases fitting in the total; the token counts are counted by hand.
/// </summary>
public class PhaseTimesTests
{
    [Fact]
    public void Phases_are_non_negative_fit_in_the_total_and_a_checkpointing_evaluating_run_has_both()
    {
        using var folder = new TempFolder();
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));
        var options = TrainingKit.Quiet() with
        {
            BatchSize = 4, MaxSteps = 4, EvaluateEverySteps = 2, SaveEverySteps = 2, OutputDirectory = folder.Path,
        };

        var result = new Trainer(model, options).Train(new InMemoryExamples(TrainingKit.Examples(8)),
            new InMemoryExamples(TrainingKit.Examples(5, seed: 77)));

        var times = result.PhaseTimes;
        Assert.All(times.Phases, p => Assert.True(p.Time >= TimeSpan.Zero, $"{p.Name} is {p.Time}"));
        var measured = times.Data + times.Forward + times.Backward + times.Optimizer + times.Evaluation + times.Checkpoint;
        Assert.True(measured <= times.Total, $"the phases ({measured}) exceed the total ({times.Total})");
        Assert.Equal(times.Total, measured + times.Other);
        foreach (var (name, time) in new[] { ("forward", times.Forward), ("backward", times.Backward), ("optimizer", times.Optimizer),
            ("evaluation", times.Evaluation), ("checkpoint", times.Checkpoint) })
        {
            Assert.True(time > TimeSpan.Zero, $"{name} was not measured");
        }
        Assert.True(times.RealTokens > 0);
        Assert.InRange(times.PaddingShare, 0, 1);

        // The last checkpoint's state holds the counts up to it: every batch was read by then.
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(result.LastCheckpoint!, TrainerStateFile.FileName)))!.AsObject();
        var seconds = state["phase_seconds"]!.AsObject();
        Assert.Equal(["data", "forward", "backward", "optimizer", "evaluation", "checkpoint", "other", "total"], seconds.Select(p => p.Key));
        Assert.All(seconds, p => Assert.True((double)p.Value! >= 0, $"{p.Key} is negative"));
        Assert.True((double)seconds["checkpoint"]! > 0, "the checkpoint at step 2 was not counted in the one at step 4");
        Assert.Equal(times.RealTokens, (long)state["real_tokens"]!);
        Assert.Equal(times.PaddingTokens, (long)state["padding_tokens"]!);
    }

    [Fact]
    public void Token_counts_equal_a_hand_count_of_the_batches()
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.0));
        // Lengths 3, 5 | 2, 7 in order, batches of 2 padded to their longest (DataCollatorWithPadding's padding=True):
        // batch 1: 8 real of 2 × 5 = 10 positions (2 padding); batch 2: 9 real of 2 × 7 = 14 (5 padding).
        // Two epochs read both batches twice: 34 real, 14 padding.
        var examples = new[] { 3, 5, 2, 7 }.Select(length =>
            EncodedExample.WithLabel(Enumerable.Range(1, length).ToArray(), null, TargetValue.Integer(length % 3))).ToList();
        var batches = BatchSource.FromExamples(new InMemoryExamples(examples), new BatchCollator(padTokenId: 0), batchSize: 2);

        var result = new Trainer(model, TrainingKit.Quiet() with { Epochs = 2 }).Train(batches);

        Assert.Equal(34, result.PhaseTimes.RealTokens);
        Assert.Equal(14, result.PhaseTimes.PaddingTokens);
        Assert.Equal(14.0 / 48, result.PhaseTimes.PaddingShare, 12);
    }

    [Fact]
    public void A_resumed_run_counts_from_the_resume()
    {
        using var folder = new TempFolder();
        // The batches of Token_counts_equal_a_hand_count_of_the_batches, checkpointed every step; the first run stops
        // after step 2 (epoch 1 done), the resumed one reads epoch 2 only: 8 + 9 = 17 real, 2 + 5 = 7 padding.
        var examples = new[] { 3, 5, 2, 7 }.Select(length =>
            EncodedExample.WithLabel(Enumerable.Range(1, length).ToArray(), null, TargetValue.Integer(length % 3))).ToList();
        BatchSource Batches() => BatchSource.FromExamples(new InMemoryExamples(examples), new BatchCollator(padTokenId: 0), batchSize: 2);
        var options = TrainingKit.Quiet() with { Epochs = 2, SaveEverySteps = 1, OutputDirectory = folder.Path };
        using var first = TrainingKit.Model(TrainingKit.Config(dropout: 0.0));
        var stopped = new Trainer(first, options).Train(Batches(), callbacks: [new StopAt(2)]);
        Assert.Equal(17, stopped.PhaseTimes.RealTokens);

        using var second = TrainingKit.Model(TrainingKit.Config(dropout: 0.0));
        var resumed = new Trainer(second, options with { ResumeFromCheckpoint = stopped.LastCheckpoint }).Train(Batches());

        Assert.Equal(4, resumed.GlobalStep);
        Assert.Equal(17, resumed.PhaseTimes.RealTokens);
        Assert.Equal(7, resumed.PhaseTimes.PaddingTokens);
    }

    private sealed class StopAt(int step) : TrainerCallback
    {
        public override bool OnStep(StepRecord record) => record.Step == step;
    }

    [Fact]
    public void Multiple_choice_batches_count_every_choice()
    {
        var config = TrainingKit.Config(dropout: 0.0);
        random.manual_seed(3);
        using var model = new BertForTask(config, new MultipleChoiceHead(config));
        // One batch of 2 questions × 3 choices × 4 positions; the masks keep 4+3+2 and 1+4+2 positions: 16 real of 24.
        long[] mask =
        [
            1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0,
            1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0,
        ];

        var result = new Trainer(model, TrainingKit.Quiet() with { Epochs = 1 }).Train(new FixedBatches(mask, [2, 3, 4]));

        Assert.Equal(16, result.PhaseTimes.RealTokens);
        Assert.Equal(8, result.PhaseTimes.PaddingTokens);
    }

    [Fact]
    public void The_state_file_round_trips_the_phase_times_and_reads_a_file_without_them()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, TrainerStateFile.FileName);
        // Whole milliseconds, so the seconds written as JSON numbers read back to the same ticks.
        var times = new TrainingPhaseTimes(TimeSpan.FromMilliseconds(1250), TimeSpan.FromMilliseconds(3500), TimeSpan.FromMilliseconds(7125),
            TimeSpan.FromMilliseconds(2000), TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(750), TimeSpan.FromMilliseconds(16000), 1234, 567);
        var position = TrainerPosition.Start with { GlobalStep = 3, PhaseTimes = times };

        TrainerStateFile.Write(path, position, totalSteps: 10, epoch: 0.3);
        var read = TrainerStateFile.Read(path);

        Assert.Equal(times, read.PhaseTimes);
        // other = 16 − (1.25 + 3.5 + 7.125 + 2 + 0.5 + 0.75) = 0.875 s.
        Assert.Equal(0.875, (double)JsonNode.Parse(File.ReadAllText(path))!["phase_seconds"]!["other"]!);

        TrainerStateFile.Write(path, position with { PhaseTimes = null }, totalSteps: 10, epoch: 0.3);
        Assert.DoesNotContain("phase_seconds", File.ReadAllText(path), StringComparison.Ordinal);
        var old = TrainerStateFile.Read(path);
        Assert.Null(old.PhaseTimes);
        Assert.Equal(3, old.GlobalStep);
    }

    /// <summary>One batch a epoch, made anew each time (the trainer disposes what it reads): ids 1..n, the given mask, label 0.</summary>
    private sealed class FixedBatches(long[] mask, long[] shape) : BatchSource
    {
        public override int? BatchesPerEpoch => 1;

        public override int CountBatches() => 1;

        public override IEnumerable<BertBatch> Batches(int epoch, int skip = 0)
        {
            if (skip > 0)
            {
                yield break;
            }
            var ids = arange(1, mask.Length + 1, dtype: ScalarType.Int64).reshape(shape);
            var attention = tensor(mask).reshape(shape);
            var labels = zeros(shape[0], dtype: ScalarType.Int64);
            yield return new BertBatch(ids, attention, null, new Dictionary<string, Tensor> { ["labels"] = labels }, ownsTensors: true);
        }
    }
}
