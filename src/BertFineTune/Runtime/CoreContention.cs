using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BertFineTune.Runtime;

/// <summary>
/// Keeps a training run's libtorch threads to the cores other processes leave free. libtorch's threads meet at a
/// barrier after every operation; when another process keeps a core busy, the thread that shares that core is
/// descheduled for whole time slices and every barrier waits for it, so a run on all cores falls far below the speed of
/// a run on the cores still free (docs/performance.md, "Threads"). Every <see cref="Interval"/> this reads how much CPU
/// the other processes used (Linux <c>/proc/stat</c> minus this process's <c>/proc/self/stat</c>) and sets the thread
/// count to the cores they left, never above the count the run started with; when they leave, the count goes back up.
/// </summary>
/// <remarks>
/// Only when the thread count is libtorch's default: after <see cref="TorchThreads.Set"/> (CLI <c>--threads</c>) the count
/// stays as set, and a run's numbers then do not depend on the machine's load (reductions split over threads round
/// differently). Linux only; elsewhere nothing changes. The thread count is process-wide; the run restores its starting
/// count when it ends (<see cref="Dispose"/>).
/// </remarks>
internal sealed class CoreContention : IDisposable
{
    /// <summary>How often the other processes' CPU use is sampled.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly ILogger _logger;
    private readonly int _startThreads;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private CpuSample? _last;
    private int _threads;

    private CoreContention(ILogger logger, int startThreads, CpuSample first)
    {
        _logger = logger;
        _startThreads = startThreads;
        _threads = startThreads;
        _last = first;
    }

    /// <summary>
    /// Watches the cores for a training run, or returns null when the thread count was set explicitly, there is one
    /// thread already, or the system has no <c>/proc</c>.
    /// </summary>
    public static CoreContention? Start(ILogger logger)
    {
        if (TorchThreads.IsExplicit || !OperatingSystem.IsLinux() || CpuSample.Read() is not { } first)
        {
            return null;
        }
        int threads = TorchThreads.Count;
        return threads > 1 ? new CoreContention(logger, threads, first) : null;
    }

    /// <summary>Call between steps: at most every <see cref="Interval"/>, re-reads the CPU use and adjusts the thread count.</summary>
    public void Check()
    {
        if (_clock.Elapsed < Interval)
        {
            return;
        }
        _clock.Restart();
        var now = CpuSample.Read();
        if (now is null || _last is null)
        {
            return;
        }
        double others = CpuSample.OtherCores(_last.Value, now.Value);
        _last = now;
        int threads = ThreadsFor(_startThreads, Environment.ProcessorCount, others);
        if (threads != _threads)
        {
            Log.ThreadsAdjusted(_logger, others, Environment.ProcessorCount, threads, _threads);
            set_num_threads(threads);
            _threads = threads;
        }
    }

    /// <summary>
    /// The thread count for a run that started with <paramref name="startThreads"/> on <paramref name="processors"/>
    /// logical processors while other processes use <paramref name="otherCores"/> cores on average: the processors they
    /// leave free (a core counts as taken from half its use up), at least 1 and at most <paramref name="startThreads"/>.
    /// </summary>
    internal static int ThreadsFor(int startThreads, int processors, double otherCores)
    {
        int taken = (int)Math.Round(Math.Max(0, otherCores), MidpointRounding.AwayFromZero);
        return Math.Clamp(processors - taken, 1, startThreads);
    }

    /// <summary>Restores the thread count the run started with.</summary>
    public void Dispose()
    {
        if (_threads != _startThreads)
        {
            set_num_threads(_startThreads);
            _threads = _startThreads;
        }
    }

    /// <summary>The machine's busy CPU time and this process's CPU time, both in clock ticks, and the wall clock.</summary>
    internal readonly record struct CpuSample(long MachineBusyTicks, long MachineTotalTicks, long ProcessTicks)
    {
        /// <summary>Reads <c>/proc/stat</c> and <c>/proc/self/stat</c>; null when either cannot be read or parsed.</summary>
        public static CpuSample? Read()
        {
            try
            {
                var machine = ParseMachine(File.ReadLines("/proc/stat").First());
                var process = ParseProcess(File.ReadAllText("/proc/self/stat"));
                return machine is { } m && process is { } p ? new CpuSample(m.Busy, m.Total, p) : null;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                return null;
            }
        }

        /// <summary>
        /// Cores the other processes kept busy between two samples on average: (machine busy − this process) ÷ (machine
        /// total) × processors, the total being all processors' ticks together.
        /// </summary>
        public static double OtherCores(CpuSample before, CpuSample after)
        {
            long total = after.MachineTotalTicks - before.MachineTotalTicks;
            if (total <= 0)
            {
                return 0;
            }
            long others = after.MachineBusyTicks - before.MachineBusyTicks - (after.ProcessTicks - before.ProcessTicks);
            return Math.Max(0, (double)others / total * Environment.ProcessorCount);
        }

        /// <summary>
        /// The "cpu" line of /proc/stat (proc(5)): user nice system idle iowait irq softirq steal …; busy = all but idle
        /// and iowait, total = user through steal (guest time is already inside user and nice).
        /// </summary>
        internal static (long Busy, long Total)? ParseMachine(string line)
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 9 || fields[0] != "cpu")
            {
                return null;
            }
            var values = new long[8];
            for (int i = 0; i < 8; i++)
            {
                if (!long.TryParse(fields[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]))
                {
                    return null;
                }
            }
            long total = values.Sum();
            return (total - values[3] - values[4], total);
        }

        /// <summary>utime + stime (fields 14 and 15 of /proc/self/stat, proc(5)), counted after the parenthesised command name.</summary>
        internal static long? ParseProcess(string stat)
        {
            int close = stat.LastIndexOf(')');
            if (close < 0)
            {
                return null;
            }
            // After ") " come field 3 (state) onwards: utime is field 14, so index 11 here, stime index 12.
            var fields = stat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields.Length > 12
                && long.TryParse(fields[11], NumberStyles.None, CultureInfo.InvariantCulture, out var user)
                && long.TryParse(fields[12], NumberStyles.None, CultureInfo.InvariantCulture, out var system)
                ? user + system
                : null;
        }
    }
}
