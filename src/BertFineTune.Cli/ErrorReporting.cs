using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Turns an exception into one readable line plus a hint; the stack only with --verbose.</summary>
internal static class ErrorReporting
{
    public static int Report(Exception exception, bool verbose)
    {
        var error = exception is AggregateException { InnerExceptions.Count: 1 } aggregate ? aggregate.InnerExceptions[0] : exception;
        var hint = error switch
        {
            CommandParseException or CommandRuntimeException => "run with --help to see the options",
            FileNotFoundException or DirectoryNotFoundException => "check the path",
            FormatException or InvalidDataException => "check the file's format and the column options",
            _ => "run with --verbose for details",
        };
        var message = error.Message.ReplaceLineEndings(" ");
        Console.Error.WriteLine($"error: {message}");
        Console.Error.WriteLine($"hint: {hint}");
        if (verbose)
        {
            Console.Error.WriteLine(error);
        }
        return error is CommandParseException or CommandRuntimeException ? 2 : 1;
    }
}
