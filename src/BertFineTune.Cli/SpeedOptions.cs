using System.Globalization;
using BertFineTune.Builder;
using BertFineTune.Runtime;
using BertFineTune.Training;

namespace BertFineTune.Cli;

/// <summary>
/// The speed options of the commands that run a model (<c>--mixed-precision</c>, <c>--threads</c>, and for training
/// <c>--group-by-length</c> and the frozen-layer cache): applied to the builder before the model loads, reported in one "speed:" block once it has,
/// and the end-of-run table of where a training run's time went.
/// </summary>
internal static class SpeedOptions
{
    /// <summary>Sets the thread count (before anything runs) and asks for mixed precision on <paramref name="builder"/>.</summary>
    public static BertModelBuilder Apply(BertModelBuilder builder, RunSettings settings)
    {
        if (settings.Threads is { } threads)
        {
            TorchThreads.Set(threads);
        }
        return settings.MixedPrecision ? builder.UseMixedPrecision() : builder;
    }

    /// <summary>
    /// The "speed:" block's rows: mixed precision on or off and why, the thread count and who chose it, the OpenMP wait
    /// policy, and for a fine-tuning run (<paramref name="training"/> given) length grouping and the frozen-layer cache.
    /// </summary>
    public static IReadOnlyList<(string Name, string Value)> Rows(RunSettings settings, TaskModel model, TrainerOptions? training)
    {
        BFloat16Support.IsSupported(model.Device, out var reason);
        var precision = model.MixedPrecision ? $"bfloat16 on ({reason})"
            : settings.MixedPrecision ? $"off, float32 ({reason})"
            : "off, float32 (not requested; --mixed-precision turns it on)";
        var threads = settings.Threads is { } given
            ? $"{given} (--threads)"
            : $"{TorchThreads.Count} (libtorch's default, one per physical core; --threads sets it)";
        var rows = new List<(string, string)>
        {
            ("mixed precision", precision),
            ("threads", threads),
            ("OpenMP waiting", OpenMpWaitPolicy.Description ?? "libgomp's default"),
        };
        if (training is not null)
        {
            rows.Add(("length grouping", training.GroupByLength ? "on (--group-by-length)" : "off (--group-by-length batches similar lengths together)"));
            rows.Add(("frozen-layer cache", CacheRow(training, model.Model.Config.NumHiddenLayers)));
        }
        return rows;
    }

    /// <summary>Whether the frozen layers' output is cached, what is cached and where, or how to turn the cache on.</summary>
    private static string CacheRow(TrainerOptions options, int layers)
    {
        bool frozen = options.FreezeEncoder || options.FreezeLowestLayers > 0;
        if (!options.CacheFrozenLayers)
        {
            return frozen
                ? "off (--cache-frozen-layers runs the frozen layers once per example instead of once per epoch)"
                : "off (no frozen layers; with --freeze-layers N, --cache-frozen-layers trains the top layers at their own cost)";
        }
        var part = options.FreezeEncoder ? "the whole encoder" : $"embeddings + layers 0..{Math.Min(options.FreezeLowestLayers, layers) - 1}";
        var limit = options.CacheMemoryLimitBytes is { } bytes
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes:N0} bytes (--cache-memory-limit)")
            : "half the available memory";
        return $"on: the output of {part}, stored as {options.CachePrecision}, in memory up to {limit}, beyond in a memory-mapped file";
    }

    /// <summary>Prints the "speed:" block to standard output (train, evaluate, pretrain).</summary>
    public static void Print(RunSettings settings, TaskModel model, TrainerOptions? training) =>
        Terminal.WriteRows("speed:", Rows(settings, model, training), "option", "setting");

    /// <summary>Writes the "speed:" block to <paramref name="writer"/> as plain lines (predict: standard error, as its output is JSON Lines).</summary>
    public static void Write(TextWriter writer, RunSettings settings, TaskModel model) =>
        Terminal.WritePlainRows(writer, "speed:", Rows(settings, model, training: null));

    /// <summary>The rows of the end-of-run table: each phase's seconds and share of the run, the total, and the padding share.</summary>
    public static IReadOnlyList<(string Name, string Value)> PhaseRows(TrainingPhaseTimes times)
    {
        double total = times.Total.TotalSeconds;
        var rows = times.Phases
            .Select(p => (p.Name, string.Create(CultureInfo.InvariantCulture,
                $"{p.Time.TotalSeconds,10:F2} s  {(total > 0 ? 100 * p.Time.TotalSeconds / total : 0),5:F1}%")))
            .ToList();
        rows.Add(("total", string.Create(CultureInfo.InvariantCulture, $"{total,10:F2} s  100.0%")));
        rows.Add(("padding", string.Create(CultureInfo.InvariantCulture,
            $"{100 * times.PaddingShare:F1}% of {times.RealTokens + times.PaddingTokens} token positions ({times.PaddingTokens} padding)")));
        return rows;
    }

    /// <summary>Prints where the run's time went (train, pretrain).</summary>
    public static void PrintPhaseTimes(TrainingPhaseTimes times) =>
        Terminal.WriteRows("where the time went (phase, seconds, share of the run)", PhaseRows(times), "phase", "seconds  share");
}
