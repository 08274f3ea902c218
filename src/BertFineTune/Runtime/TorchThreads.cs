using static TorchSharp.torch;

namespace BertFineTune.Runtime;

/// <summary>
/// libtorch's intra-op thread pool: how many threads one matmul, attention or element-wise operation may use. Process-wide.
/// Without a call libtorch picks the number of physical cores, which is usually right for a machine that does nothing
/// else; set fewer when several processes or models share the cores.
/// </summary>
public static class TorchThreads
{
    /// <summary>The number of intra-op threads libtorch uses now.</summary>
    public static int Count
    {
        get
        {
            TorchRuntime.EnsureAvailable();
            return get_num_threads();
        }
    }

    /// <summary>
    /// Sets the number of intra-op threads (torch.set_num_threads) for the whole process. From then on training keeps
    /// exactly this count; without a call, a training run gives up the cores other processes keep busy (docs/performance.md,
    /// "Threads").
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is below 1 or above 4 × the logical processors.</exception>
    public static void Set(int threads)
    {
        if (Problem(threads) is { } problem)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, problem);
        }
        TorchRuntime.EnsureAvailable();
        set_num_threads(threads);
        IsExplicit = true;
    }

    /// <summary>Whether <see cref="Set"/> chose the count (then training does not adapt it to other processes' load).</summary>
    internal static bool IsExplicit { get; private set; }

    /// <summary>Why <paramref name="threads"/> is not a valid count (null when it is); <see cref="Set"/> throws with this message.</summary>
    internal static string? Problem(int threads)
    {
        int limit = 4 * Environment.ProcessorCount;
        return threads < 1 || threads > limit
            ? $"The intra-op thread count must be in [1, {limit}] ({Environment.ProcessorCount} logical processors here); "
                + "more threads than cores only adds contention."
            : null;
    }
}
