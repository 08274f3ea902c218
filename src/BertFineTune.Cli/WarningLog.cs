using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace BertFineTune.Cli;

/// <summary>
/// The warnings the model builder logs while loading (weights newly initialised or not used, as transformers'
/// <c>from_pretrained</c> warns; a token repeated in vocab.txt) as <c>warning: …</c> lines, so that a run that goes on
/// despite them still says what it accepted. Other categories (the trainer's: the CLI prints its own progress) and lower
/// levels are not shown. Commands whose standard output is their answer (<c>info</c>, <c>predict</c>'s JSON Lines) write
/// the warnings to standard error; commands that show progress (<c>train</c>, <c>pretrain</c>, <c>evaluate</c>) write
/// them with it, keeping standard error for the error lines (docs/command-line.md, Errors).
/// </summary>
internal sealed class WarningLog : ILoggerFactory
{
    private static readonly string BuilderCategory = typeof(Builder.BertModelBuilder).FullName!;
    private static readonly string TrainerCategory = typeof(Training.Trainer).FullName!;

    private readonly Lines _builderWarnings;
    private readonly Lines _cacheLines;

    private WarningLog(Action<string> write)
    {
        _builderWarnings = new Lines(write, LogLevel.Warning, _ => true);
        // The trainer's two frozen-layer cache lines (the cache is off for the run and why; what was cached, bytes per
        // token, bytes and where), which the progress does not otherwise show.
        _cacheLines = new Lines(write, LogLevel.Information,
            id => id.Id is Training.Log.FeatureCacheUnavailableId or Training.Log.FrozenLayersCachedId);
    }

    /// <summary>Warnings on standard error, for <c>info</c> and <c>predict</c>.</summary>
    public static WarningLog ToStandardError { get; } = new(line => Console.Error.WriteLine(line));

    /// <summary>Warnings with the progress on standard output, for <c>train</c>, <c>pretrain</c> and <c>evaluate</c>.</summary>
    public static WarningLog WithProgress { get; } = new(Terminal.WriteLine);

    public ILogger CreateLogger(string categoryName) =>
        categoryName == BuilderCategory ? _builderWarnings : categoryName == TrainerCategory ? _cacheLines : NullLogger.Instance;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    /// <summary>
    /// The entries of at least <paramref name="minimum"/> level that <paramref name="shown"/> accepts, one line each, warnings
    /// and errors prefixed <c>warning: </c>.
    /// </summary>
    private sealed class Lines(Action<string> write, LogLevel minimum, Func<EventId, bool> shown) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel) && shown(eventId))
            {
                write(logLevel >= LogLevel.Warning ? $"warning: {formatter(state, exception)}" : formatter(state, exception));
            }
        }
    }
}
