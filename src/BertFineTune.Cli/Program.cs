using System.Reflection;
using BertFineTune.Cli;
using Spectre.Console;
using Spectre.Console.Cli;

Terminal.Configure();
var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("bert-finetune");
    config.SetApplicationVersion(Version());
    config.ConfigureConsole(AnsiConsole.Console);
    config.PropagateExceptions();
    config.AddCommand<TrainCommand>("train").WithDescription("Fine-tune a model on a labelled file and save it with its training report.");
    config.AddCommand<EvaluateCommand>("evaluate").WithDescription("Score a model on a labelled file.");
    config.AddCommand<PredictCommand>("predict").WithDescription("Run a model on a file or standard input; JSON Lines out.");
    config.AddCommand<PretrainCommand>("pretrain").WithDescription("Adapt a model to a domain with masked-language modelling on a plain-text file.");
    config.AddCommand<DownloadCommand>("download").WithDescription("Download a model from the Hugging Face Hub into the cache Python shares; prints the snapshot folder last.");
    config.AddCommand<ImportOnnxCommand>("import-onnx").WithDescription("Turn a BERT model's ONNX export into a Hugging Face model folder; prints the folder last.");
    config.AddCommand<ExportOnnxCommand>("export-onnx").WithDescription("Write a model (any built-in head) as one ONNX file for ONNX Runtime; prints the file last.");
    config.AddCommand<InfoCommand>("info").WithDescription("Show a checkpoint's configuration, parameters, head, labels and tokenizer.");
});

// The first Ctrl-C asks a run to stop at its next step boundary (train and pretrain then say which checkpoint is left and
// how to resume); a second one ends the process at once, as the runtime does by default.
using var interrupt = new CancellationTokenSource();
bool stoppable = args.FirstOrDefault() is "train" or "pretrain" or "download";
Console.CancelKeyPress += (_, e) =>
{
    if (!stoppable || interrupt.IsCancellationRequested)
    {
        return;
    }
    e.Cancel = true;
    Console.Error.WriteLine("Ctrl-C: stopping after the current step; press Ctrl-C again to quit at once.");
    interrupt.Cancel();
};

try
{
    return app.Run(args, interrupt.Token);
}
catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
{
    Console.Error.WriteLine("interrupted.");
    return TrainingUi.InterruptedExitCode;
}
catch (Exception e)
{
    return ErrorReporting.Report(e, args);
}

// "bert-finetune 0.1.0 (BertFineTune 0.1.0, TorchSharp 0.107.0, .NET 10.0.0)": what a bug report needs.
static string Version()
{
    static string Of(Assembly assembly) =>
        (assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? assembly.GetName().Version?.ToString() ?? "?")
            .Split('+')[0];
    return $"bert-finetune {Of(typeof(TrainCommand).Assembly)} (BertFineTune {Of(typeof(BertFineTune.Builder.TaskModel).Assembly)}, "
        + $"TorchSharp {Of(typeof(TorchSharp.torch).Assembly)}, .NET {Environment.Version})";
}
