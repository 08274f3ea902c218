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

    private readonly Writer _writer;

    private WarningLog(Action<string> write) => _writer = new Writer(write);

    /// <summary>Warnings on standard error, for <c>info</c> and <c>predict</c>.</summary>
    public static WarningLog ToStandardError { get; } = new(line => Console.Error.WriteLine(line));

    /// <summary>Warnings with the progress on standard output, for <c>train</c>, <c>pretrain</c> and <c>evaluate</c>.</summary>
    public static WarningLog WithProgress { get; } = new(Terminal.WriteLine);

    public ILogger CreateLogger(string categoryName) => categoryName == BuilderCategory ? _writer : NullLogger.Instance;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Writer(Action<string> write) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                write($"warning: {formatter(state, exception)}");
            }
        }
    }
}
