namespace BertFineTune.Data;

/// <summary>Where training examples come from: all in memory, or streamed from a source larger than memory.</summary>
public abstract class ExampleSource
{
    /// <summary>The number of examples when known up front (in memory), else null (streamed).</summary>
    public abstract int? Count { get; }
}

/// <summary>Examples held in memory: shuffled by index with a seeded permutation, length grouping possible.</summary>
public sealed class InMemoryExamples : ExampleSource
{
    /// <summary>Wraps <paramref name="examples"/>.</summary>
    /// <exception cref="ArgumentException">The list is empty or holds an example without tokens.</exception>
    public InMemoryExamples(IReadOnlyList<EncodedExample> examples)
    {
        ArgumentNullException.ThrowIfNull(examples);
        for (int i = 0; i < examples.Count; i++)
        {
            if (examples[i] is null || examples[i].InputIds.Count == 0)
            {
                throw new ArgumentException($"Example {i} has no tokens.", nameof(examples));
            }
        }
        Examples = examples;
    }

    /// <summary>The examples.</summary>
    public IReadOnlyList<EncodedExample> Examples { get; }

    /// <inheritdoc />
    public override int? Count => Examples.Count;
}

/// <summary>
/// Examples read lazily, once per epoch, from a factory (for example a reader over a file larger than memory). Shuffling
/// uses a seeded buffer of <see cref="ShuffleBufferSize"/> examples, so memory stays bounded.
/// </summary>
public sealed class StreamingExamples : ExampleSource
{
    private readonly Func<IEnumerable<EncodedExample>> _open;

    /// <summary>Streams the examples <paramref name="open"/> yields; it is called again at every epoch.</summary>
    public StreamingExamples(Func<IEnumerable<EncodedExample>> open, int shuffleBufferSize = 10_000)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentOutOfRangeException.ThrowIfLessThan(shuffleBufferSize, 1);
        _open = open;
        ShuffleBufferSize = shuffleBufferSize;
    }

    /// <summary>How many examples the shuffle buffer holds.</summary>
    public int ShuffleBufferSize { get; }

    /// <inheritdoc />
    public override int? Count => null;

    /// <summary>Opens a new pass over the examples.</summary>
    public IEnumerable<EncodedExample> Open() => _open();
}
