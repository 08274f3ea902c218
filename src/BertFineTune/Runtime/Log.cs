using Microsoft.Extensions.Logging;

namespace BertFineTune.Runtime;

/// <summary>The runtime's log messages.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Warning, "Mixed precision is off: {Reason}; training and prediction run in float32")]
    public static partial void MixedPrecisionUnavailable(ILogger logger, string reason);

    [LoggerMessage(2, LogLevel.Information, "Mixed precision on: bfloat16 matmuls and attention, float32 weights and optimizer state ({Reason})")]
    public static partial void MixedPrecisionOn(ILogger logger, string reason);

    [LoggerMessage(3, LogLevel.Information,
        "Other processes keep {OtherCores:F1} of {Processors} processors busy: training on {Threads} libtorch threads (was {Previous}); TorchThreads.Set or --threads fixes the count")]
    public static partial void ThreadsAdjusted(ILogger logger, double otherCores, int processors, int threads, int previous);
}
