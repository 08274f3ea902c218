using BertFineTune.Cli;
using Spectre.Console;
using Spectre.Console.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("bert-finetune");
    config.PropagateExceptions();
    config.AddCommand<TrainCommand>("train").WithDescription("Fine-tune a model on a labelled file and save it with its training report.");
    config.AddCommand<EvaluateCommand>("evaluate").WithDescription("Score a model on a labelled file.");
    config.AddCommand<PredictCommand>("predict").WithDescription("Run a model on a file or standard input; JSON Lines out.");
    config.AddCommand<PretrainCommand>("pretrain").WithDescription("Adapt a model to a domain with masked-language modelling on a plain-text file.");
    config.AddCommand<DownloadCommand>("download").WithDescription("Download a model from the Hugging Face Hub into the cache Python shares; prints the snapshot folder last.");
    config.AddCommand<InfoCommand>("info").WithDescription("Show a checkpoint's configuration, parameters, head, labels and tokenizer.");
});

try
{
    return app.Run(args);
}
catch (Exception e)
{
    return ErrorReporting.Report(e, verbose: args.Contains("--verbose"));
}
