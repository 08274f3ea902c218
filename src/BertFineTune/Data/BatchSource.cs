using BertFineTune.Heads;

namespace BertFineTune.Data;

/// <summary>The batches a trainer or evaluator consumes, epoch by epoch.</summary>
public abstract partial class BatchSource
{
    /// <summary>Batches in one epoch, when known without reading the data.</summary>
    public abstract int? BatchesPerEpoch { get; }

    /// <summary>
    /// The batches of <paramref name="epoch"/> after the first <paramref name="skip"/> (skipped by position, without
    /// building them). The consumer disposes each batch.
    /// </summary>
    public abstract IEnumerable<BertBatch> Batches(int epoch, int skip = 0);

    /// <summary>Counts one epoch's batches (for sources whose size is not known up front) by reading the data once.</summary>
    public virtual int CountBatches()
    {
        int count = 0;
        foreach (var batch in Batches(0))
        {
            batch.Dispose();
            count++;
        }
        return count;
    }

    /// <summary>Batches collated from examples with dynamic padding, shuffled with the seed and grouped by length when asked.</summary>
    public static BatchSource FromExamples(ExampleSource examples, BatchCollator collator, int batchSize, bool shuffle = false,
        bool groupByLength = false, int seed = 42) =>
        new ExampleBatches(new BatchPlan(examples, batchSize, shuffle, groupByLength, seed), collator);

    /// <summary>Batches collated from the examples a <paramref name="plan"/> groups, with dynamic padding.</summary>
    internal static BatchSource FromPlan(BatchPlan plan, BatchCollator collator) => new ExampleBatches(plan, collator);

    /// <summary>The same ready-made batches every epoch, in order (the caller keeps ownership of their tensors).</summary>
    public static BatchSource FromBatches(IReadOnlyList<BertBatch> batches) => new FixedBatches(batches);

    private sealed class ExampleBatches(BatchPlan plan, BatchCollator collator) : BatchSource
    {
        public override int? BatchesPerEpoch => plan.BatchesPerEpoch;

        public override IEnumerable<BertBatch> Batches(int epoch, int skip = 0) =>
            plan.Batches(epoch, skip).Select(examples => collator.Collate(examples));

        // Counting reads the examples but builds no tensors.
        public override int CountBatches() => plan.BatchesPerEpoch ?? plan.Batches(0).Count();
    }

    private sealed class FixedBatches : BatchSource
    {
        private readonly IReadOnlyList<BertBatch> _batches;

        public FixedBatches(IReadOnlyList<BertBatch> batches)
        {
            ArgumentNullException.ThrowIfNull(batches);
            if (batches.Count == 0)
            {
                throw new ArgumentException("At least one batch is needed.", nameof(batches));
            }
            _batches = batches;
        }

        public override int? BatchesPerEpoch => _batches.Count;

        // Non-owning views, so the trainer's dispose does not free the caller's tensors.
        public override IEnumerable<BertBatch> Batches(int epoch, int skip = 0) =>
            _batches.Skip(skip).Select(b => new BertBatch(b.InputIds, b.AttentionMask, b.TokenTypeIds, b.Targets, b.Loss, b.EncoderOutput, ownsTensors: false));
    }
}
