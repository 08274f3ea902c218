using Microsoft.Extensions.Logging;

namespace BertFineTune.Cli;

/// <summary>
/// Shows on standard output, with the run's progress, the warnings the model builder logs while loading a checkpoint (the weights newly initialised,
/// the checkpoint tensors not used, as transformers' <c>from_pretrained</c> warns), so a new head or a checkpoint that
/// matched badly never goes unnoticed. Standard error stays for the error lines alone (docs/command-line.md, Errors), and
/// <c>predict</c>, whose standard output is JSON Lines, does not use it. Other categories (the trainer's) and lower levels are not shown: the CLI prints its
/// own progress.
/// </summary>
internal sealed class LoadWarnings : ILoggerFactory
{
    /// <summary>The one instance the commands pass to <c>UseLoggerFactory</c>.</summary>
    public static LoadWarnings Factory { get; } = new();

    private static readonly string BuilderCategory = typeof(Builder.BertModelBuilder).FullName!;

    public ILogger CreateLogger(string categoryName) =>
        categoryName == BuilderCategory ? new Writer() : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Writer : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Terminal.WriteLine($"warning: {formatter(state, exception)}");
            }
        }
    }
}
