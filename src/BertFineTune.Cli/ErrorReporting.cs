using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Hub;
using BertFineTune.Checkpoints.Onnx;
using BertFineTune.Runtime;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>What went wrong, as far as the hint is concerned: each kind has its own remedy.</summary>
internal enum ErrorKind
{
    /// <summary>An option is missing, unknown, of the wrong type or out of range.</summary>
    Usage,
    /// <summary>Loading the model: its config, weights, tokenizer, the Hub.</summary>
    Model,
    /// <summary>Reading a data file.</summary>
    Data,
    /// <summary>Anything else.</summary>
    Other,
}

/// <summary>An error the command raises or attributes to a stage of its work (<see cref="During{T}"/>).</summary>
internal sealed class CliException(ErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public ErrorKind Kind { get; } = kind;

    /// <summary>Runs <paramref name="work"/>, attributing any failure to <paramref name="kind"/> (cancellation passes through).</summary>
    public static T During<T>(ErrorKind kind, Func<T> work)
    {
        try
        {
            return work();
        }
        catch (Exception e) when (e is not (OperationCanceledException or CliException))
        {
            throw new CliException(kind, e.Message, e);
        }
    }
}

/// <summary>Turns an exception into one readable line in the command's terms, plus a hint that fits its kind; the stack only with --verbose.</summary>
internal static class ErrorReporting
{
    public const int UsageExitCode = 2;

    public static int Report(Exception exception, IReadOnlyList<string> arguments)
    {
        var (message, hint, exitCode) = Describe(exception, arguments);
        Console.Error.WriteLine($"error: {message}");
        Console.Error.WriteLine($"hint: {hint}");
        if (arguments.Contains("--verbose"))
        {
            Console.Error.WriteLine(exception);
        }
        return exitCode;
    }

    /// <summary>The message (one line, library names replaced by flags), the hint for its kind, and the exit code.</summary>
    public static (string Message, string Hint, int ExitCode) Describe(Exception exception, IReadOnlyList<string> arguments)
    {
        var error = exception is AggregateException { InnerExceptions.Count: 1 } aggregate ? aggregate.InnerExceptions[0] : exception;
        var kind = error switch
        {
            CliException cli => cli.Kind,
            CommandParseException or CommandRuntimeException => ErrorKind.Usage,
            _ => ErrorKind.Other,
        };
        // The library's exception behind a stage, when there is one: its type says more than the stage.
        var cause = error is CliException { InnerException: { } inner } ? inner : error;
        var message = cause is CommandRuntimeException { InnerException: not null } && OptionValues.ExplainConversionFailure(arguments) is { } explained
            ? explained
            : LibraryNames.Translate(cause);
        // A library message that starts with one of the command's flags (TrainerOptions.BatchSize: …, WithMaxSequenceLength(…) …)
        // is about that option's value, whatever stage found it.
        if (message.StartsWith("--", StringComparison.Ordinal) && !cause.Message.StartsWith("--", StringComparison.Ordinal))
        {
            kind = ErrorKind.Usage;
        }
        var command = arguments.FirstOrDefault(a => !a.StartsWith('-')) ?? "<command>";
        var hint = (kind, cause) switch
        {
            (ErrorKind.Usage, _) => $"run `bert-finetune {command} --help` to see every option, its values and its default",
            (_, FileNotFoundException or DirectoryNotFoundException) => "check the path",
            (_, BertConfigException) =>
                "the model's config.json is not one transformers writes: fix the field named above, or fetch the model again (bert-finetune download <hub id>)",
            (_, SafeTensorsFormatException) => "the weights file is damaged or incomplete: fetch the model again (bert-finetune download <hub id>)",
            (_, InvalidOperationException { InnerException: CheckpointMismatchException } or CheckpointMismatchException) =>
                "the checkpoint's head has another shape than your labels need: add --replace-head, or give the checkpoint's own labels (bert-finetune info --model ...)",
            (_, OnnxImportException) =>
                "give the .onnx file torch.onnx.export or optimum wrote (before ONNX Runtime optimization or quantization); add --config <config.json> when the graph does not show a setting",
            (_, HubException) => "check the Hub id (owner/name) and --revision, the network, and HF_TOKEN for gated or private models",
            (_, TorchRuntimeException) => "see docs/troubleshooting.md for the TorchSharp backend",
            (ErrorKind.Model, _) => "check that --model is a Hugging Face model folder (config.json, model.safetensors, vocab.txt) or a Hub id",
            (ErrorKind.Data, _) =>
                "check the file's format and the column options (--format, --text-column, --pair-column, --label-column, --no-header); --skip-bad-rows skips bad rows and lists them",
            _ => "run with --verbose for the details",
        };
        int exitCode = kind == ErrorKind.Usage ? UsageExitCode : 1;
        return (message.ReplaceLineEndings(" "), hint, exitCode);
    }
}
