using BertFineTune.Data;
using BertFineTune.Tests.Training;
using BertFineTune.Training;

namespace BertFineTune.Tests.Data;

public class StreamingExamplesTests
{
    /// <summary>A stream of indexed examples that counts how often it is opened and how far it has been read.</summary>
    private sealed class CountingStream(int count, int seed = 4)
    {
        public int Opened { get; private set; }

        public int Read { get; private set; }

        public IEnumerable<EncodedExample> Open()
        {
            Opened++;
            Read = 0;
            var rng = new Random(seed);
            for (int i = 0; i < count; i++)
            {
                Read++;
                var ids = new int[rng.Next(3, 9)];
                ids[0] = 1;
                for (int k = 1; k < ids.Length; k++)
                {
                    ids[k] = 2 + (i + k) % 48;
                }
                yield return new EncodedExample(ids, null, new Dictionary<string, TargetValue>
                {
                    ["labels"] = TargetValue.Integer(i % 3),
                    ["index"] = TargetValue.Integer(i),
                });
            }
        }
    }

    [Fact]
    public void Bounded_shuffle_buffer_reorders_within_its_size_and_holds_no_more_than_it()
    {
        const int bufferSize = 5;
        const int batchSize = 2;
        var stream = new CountingStream(40);
        var plan = new BatchPlan(new StreamingExamples(stream.Open, bufferSize), batchSize, shuffle: true, groupByLength: false, seed: 9);

        var order = new List<long>();
        int mostPending = 0;
        foreach (var batch in plan.Batches(0))
        {
            // Examples read from the source but not yet handed out in a batch.
            mostPending = Math.Max(mostPending, stream.Read - order.Count - batch.Count);
            order.AddRange(batch.Select(e => e.Targets["index"].IntegerValue));
        }

        Assert.Equal(Enumerable.Range(0, 40).Select(i => (long)i), order.Order());
        Assert.NotEqual(Enumerable.Range(0, 40).Select(i => (long)i), order);
        // Example i enters the buffer after i - size outputs at the earliest, so it cannot come out before position i - size.
        for (int position = 0; position < order.Count; position++)
        {
            Assert.True(position >= order[position] - bufferSize, $"example {order[position]} came out at {position}");
        }
        Assert.InRange(mostPending, 0, bufferSize);
        Assert.Equal(order, plan.Batches(0).SelectMany(b => b.Select(e => e.Targets["index"].IntegerValue)));
        Assert.NotEqual(order, plan.Batches(1).SelectMany(b => b.Select(e => e.Targets["index"].IntegerValue)));
    }

    private static TrainerOptions Options() => new()
    {
        BatchSize = 4,
        Shuffle = true,
        EvaluateEveryEpoch = false,
        SaveEveryEpoch = false,
        LoggingSteps = 1,
    };

    [Fact]
    public void Training_on_a_stream_for_epochs_counts_the_batches_in_one_pass_first()
    {
        var stream = new CountingStream(10);
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));
        var progress = new ProgressLog<TrainingProgress>();

        // 10 examples in batches of 4: 3 batches per epoch, 6 steps over two epochs.
        var result = new Trainer(model, Options() with { Epochs = 2 }).Train(new StreamingExamples(stream.Open, 3), progress: progress);

        Assert.Equal(TrainingStopReason.Completed, result.StopReason);
        Assert.Equal(6, result.GlobalStep);
        Assert.Equal(2.0, result.Epoch, 1e-12);
        Assert.Equal(3, stream.Opened);
        Assert.All(progress.Reports, p => Assert.Equal(6, p.TotalSteps));
    }

    [Fact]
    public void Training_on_a_stream_with_max_steps_runs_exactly_that_many_steps_across_epochs()
    {
        var stream = new CountingStream(10);
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));

        var result = new Trainer(model, Options() with { MaxSteps = 7 }).Train(new StreamingExamples(stream.Open, 3));

        Assert.Equal(TrainingStopReason.Completed, result.StopReason);
        Assert.Equal(7, result.GlobalStep);
        Assert.Equal(Enumerable.Range(1, 7), result.Steps.Select(s => s.Step));
        // With a step budget the stream is not counted first (it could be endless): epochs of 3 batches are found as the
        // stream ends, so step 7 is in the third epoch and the stream was opened three times, all for training.
        Assert.Equal(2, (int)result.Epoch);
        Assert.Equal(3, stream.Opened);
    }

    [Fact]
    public void A_stream_ending_inside_an_accumulation_steps_on_the_mean_of_the_batches_it_had()
    {
        // 10 examples in batches of 2 = 5 batches; accumulating 2: steps of (1,2), (3,4) and (5) alone.
        var streamed = new CountingStream(10);
        using var fromStream = TrainingKit.Model(TrainingKit.Config(dropout: 0.0));
        using var inMemory = TrainingKit.Model(TrainingKit.Config(dropout: 0.0));
        var options = Options() with { BatchSize = 2, GradientAccumulationSteps = 2, Shuffle = false };

        var streamResult = new Trainer(fromStream, options with { MaxSteps = 3 }).Train(new StreamingExamples(streamed.Open, 3));
        var memoryResult = new Trainer(inMemory, options with { Epochs = 1 }).Train(new InMemoryExamples(new CountingStream(10).Open().ToList()));

        Assert.Equal(3, streamResult.GlobalStep);
        Assert.Equal(memoryResult.Steps.Select(s => s.Loss), streamResult.Steps.Select(s => s.Loss));
        var expected = inMemory.state_dict();
        foreach (var (name, value) in fromStream.state_dict())
        {
            Assert.True(value.eq(expected[name]).all().item<bool>(), name);
        }
    }
}
