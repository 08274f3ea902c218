namespace BertFineTune.Data;

/// <summary>
/// Decides which examples form each batch of an epoch: seeded shuffling, optional length grouping, and resuming in the
/// middle of an epoch without touching the batches before (they are skipped by index, never run through the model).
/// </summary>
internal sealed class BatchPlan
{
    // As transformers' LengthGroupedSampler: sort by length within windows of this many batches.
    private const int MegaBatchFactor = 50;

    /// <summary>Plans batches of <paramref name="batchSize"/> over <paramref name="source"/>.</summary>
    public BatchPlan(ExampleSource source, int batchSize, bool shuffle, bool groupByLength, int seed)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        Source = source;
        BatchSize = batchSize;
        Shuffle = shuffle;
        GroupByLength = groupByLength;
        Seed = seed;
    }

    /// <summary>The examples.</summary>
    public ExampleSource Source { get; }

    /// <summary>Examples per batch (the last batch of an epoch may be smaller).</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch visits the examples in a new seeded order.</summary>
    public bool Shuffle { get; }

    /// <summary>Whether batches gather examples of similar length, so dynamic padding wastes little.</summary>
    public bool GroupByLength { get; }

    /// <summary>The seed of the epoch orders.</summary>
    public int Seed { get; }

    /// <summary>Batches per epoch, when the source's size is known.</summary>
    public int? BatchesPerEpoch => Source.Count is { } n ? (n + BatchSize - 1) / BatchSize : null;

    /// <summary>The batches of <paramref name="epoch"/>, after skipping the first <paramref name="skip"/>.</summary>
    public IEnumerable<IReadOnlyList<EncodedExample>> Batches(int epoch, int skip = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(skip);
        return Source switch
        {
            InMemoryExamples memory => InMemoryBatches(memory, epoch).Skip(skip),
            StreamingExamples stream => StreamingBatches(stream, epoch).Skip(skip),
            _ => throw new NotSupportedException($"Unknown example source {Source.GetType().Name}."),
        };
    }

    private Random RandomFor(int epoch) => new(unchecked(Seed * 1_000_003 + epoch));

    private IEnumerable<IReadOnlyList<EncodedExample>> InMemoryBatches(InMemoryExamples memory, int epoch)
    {
        var examples = memory.Examples;
        var order = Enumerable.Range(0, examples.Count).ToArray();
        var random = RandomFor(epoch);
        if (Shuffle)
        {
            random.Shuffle(order);
        }
        var batches = new List<int[]>();
        if (GroupByLength)
        {
            int window = BatchSize * MegaBatchFactor;
            for (int start = 0; start < order.Length; start += window)
            {
                var sorted = order.Skip(start).Take(window).OrderByDescending(i => examples[i].Length).ToArray();
                batches.AddRange(sorted.Chunk(BatchSize));
            }
            if (Shuffle)
            {
                // Otherwise every epoch would start with its longest batches.
                var shuffled = batches.ToArray();
                random.Shuffle(shuffled);
                batches = [.. shuffled];
            }
        }
        else
        {
            batches.AddRange(order.Chunk(BatchSize));
        }
        foreach (var batch in batches)
        {
            yield return batch.Select(i => examples[i]).ToArray();
        }
    }

    private IEnumerable<IReadOnlyList<EncodedExample>> StreamingBatches(StreamingExamples stream, int epoch)
    {
        var random = RandomFor(epoch);
        var pending = new List<EncodedExample>(BatchSize);
        foreach (var example in Shuffle ? BufferShuffle(stream.Open(), stream.ShuffleBufferSize, random) : stream.Open())
        {
            pending.Add(example);
            if (pending.Count == BatchSize)
            {
                yield return pending.ToArray();
                pending.Clear();
            }
        }
        if (pending.Count > 0)
        {
            yield return pending.ToArray();
        }
    }

    /// <summary>A bounded-memory shuffle: each incoming example replaces a random member of the buffer, which is emitted.</summary>
    private static IEnumerable<EncodedExample> BufferShuffle(IEnumerable<EncodedExample> examples, int size, Random random)
    {
        var buffer = new List<EncodedExample>(size);
        foreach (var example in examples)
        {
            if (buffer.Count < size)
            {
                buffer.Add(example);
                continue;
            }
            int pick = random.Next(size);
            yield return buffer[pick];
            buffer[pick] = example;
        }
        var rest = buffer.ToArray();
        random.Shuffle(rest);
        foreach (var example in rest)
        {
            yield return example;
        }
    }
}
