using Microsoft.Extensions.Logging;

namespace BertFineTune.Cli;

/// <summary>
/// The library's warnings (a token repeated in vocab.txt, …) as <c>warning: …</c> lines on standard error, so a run that
/// goes on despite them still says what it accepted; information and debug messages are not shown.
/// </summary>
internal sealed class WarningLog : ILoggerFactory, ILogger
{
    public static WarningLog Instance { get; } = new();

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Console.Error.WriteLine($"warning: {formatter(state, exception)}");
        }
    }
}
