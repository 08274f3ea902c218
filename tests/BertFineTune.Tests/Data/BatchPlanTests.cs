using BertFineTune.Data;

namespace BertFineTune.Tests.Data;

public class BatchPlanTests
{
    /// <summary>Examples whose first token is their index, with lengths from 1 to 64.</summary>
    private static List<EncodedExample> Indexed(int count, int seed = 1)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(i => EncodedExample.WithLabel(Enumerable.Repeat(i, rng.Next(1, 65)).ToArray(), null, TargetValue.Integer(0)))
            .ToList();
    }

    private static List<int[]> Order(BatchPlan plan, int epoch, int skip = 0) =>
        plan.Batches(epoch, skip).Select(b => b.Select(e => e.InputIds[0]).ToArray()).ToList();

    [Fact]
    public void Without_shuffle_batches_follow_the_source_order_with_a_smaller_last_batch()
    {
        var plan = new BatchPlan(new InMemoryExamples(Indexed(10)), batchSize: 4, shuffle: false, groupByLength: false, seed: 1);

        Assert.Equal(3, plan.BatchesPerEpoch);
        Assert.Equal([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], Order(plan, 0));
        Assert.Equal(Order(plan, 0), Order(plan, 5));
    }

    [Fact]
    public void Seeded_shuffle_repeats_for_the_same_seed_and_epoch_and_changes_with_either()
    {
        var examples = new InMemoryExamples(Indexed(40));
        var plan = new BatchPlan(examples, 4, shuffle: true, groupByLength: false, seed: 3);
        var same = new BatchPlan(examples, 4, shuffle: true, groupByLength: false, seed: 3);
        var other = new BatchPlan(examples, 4, shuffle: true, groupByLength: false, seed: 4);

        var epoch0 = Order(plan, 0);

        Assert.Equal(epoch0, Order(same, 0));
        Assert.Equal(epoch0, Order(plan, 0));
        Assert.NotEqual(epoch0, Order(plan, 1));
        Assert.NotEqual(epoch0, Order(other, 0));
        Assert.NotEqual(Enumerable.Range(0, 40), epoch0.SelectMany(b => b));
        // Every epoch is a permutation: each example exactly once.
        Assert.Equal(Enumerable.Range(0, 40), epoch0.SelectMany(b => b).Order());
        Assert.Equal(Enumerable.Range(0, 40), Order(plan, 1).SelectMany(b => b).Order());
    }

    [Fact]
    public void Grouping_by_length_puts_similar_lengths_in_a_batch()
    {
        var source = Indexed(400, seed: 8);
        var examples = new InMemoryExamples(source);
        var grouped = new BatchPlan(examples, 8, shuffle: true, groupByLength: true, seed: 2);
        var plain = new BatchPlan(examples, 8, shuffle: true, groupByLength: false, seed: 2);

        static double MeanSpread(BatchPlan plan) =>
            plan.Batches(0).Average(b => b.Max(e => e.Length) - b.Min(e => e.Length));
        static long Padding(BatchPlan plan) =>
            plan.Batches(0).Sum(b => b.Sum(e => (long)(b.Max(x => x.Length) - e.Length)));

        double groupedSpread = MeanSpread(grouped);
        double plainSpread = MeanSpread(plain);

        Assert.True(groupedSpread * 10 < plainSpread, $"grouped spread {groupedSpread}, ungrouped {plainSpread}");
        Assert.True(Padding(grouped) * 10 < Padding(plain));
        Assert.Equal(Enumerable.Range(0, 400), Order(grouped, 0).SelectMany(b => b).Order());
        // Grouped batches are still shuffled: the epoch does not start with the longest batch every time.
        Assert.NotEqual(Order(grouped, 0), Order(grouped, 1));
    }

    [Theory]
    [InlineData(false, false, 0)]
    [InlineData(true, false, 3)]
    [InlineData(true, true, 5)]
    [InlineData(true, true, 12)]
    [InlineData(false, true, 1)]
    public void Skipping_k_batches_yields_the_tail_of_the_full_epoch(bool shuffle, bool group, int skip)
    {
        var plan = new BatchPlan(new InMemoryExamples(Indexed(50)), 4, shuffle, group, seed: 6);

        var full = Order(plan, 2);

        Assert.Equal(13, full.Count);
        Assert.Equal(full.Skip(skip), Order(plan, 2, skip));
    }

    [Fact]
    public void Skipping_streamed_batches_yields_the_tail_of_the_full_epoch()
    {
        var source = Indexed(30);
        var plan = new BatchPlan(new StreamingExamples(() => source, shuffleBufferSize: 7), 4, shuffle: true, groupByLength: false, seed: 6);

        var full = Order(plan, 1);

        Assert.Null(plan.BatchesPerEpoch);
        Assert.Equal(8, full.Count);
        Assert.Equal(full.Skip(5), Order(plan, 1, 5));
    }
}
