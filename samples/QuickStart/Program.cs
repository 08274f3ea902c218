// The quick start: fine-tunes a small BERT to tell sports, weather, food and technology sentences apart, using the
// 400 training and 100 dev sentences bundled in data/, then saves, reloads and predicts.
//   dotnet run -c Release --project samples/QuickStart [-- <checkpoint folder or hub id>]
// Without a checkpoint it starts from a small model initialised at random (this machine cannot download weights).
using BertFineTune.Builder;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using Microsoft.Extensions.Logging;

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var log = loggerFactory.CreateLogger("QuickStart");
var data = Path.Combine(AppContext.BaseDirectory, "data");
var output = Path.Combine(Path.GetTempPath(), "bertfinetune-quickstart");
var train = ReadTsv(Path.Combine(data, "train.tsv"));
var dev = ReadTsv(Path.Combine(data, "dev.tsv"));
string[] labels = [.. train.Select(r => r.Label).Distinct().Order(StringComparer.Ordinal)];
Console.WriteLine($"Data: {train.Count} training and {dev.Count} dev sentences, labels {string.Join(", ", labels)}");

var checkpoint = SampleStart.Checkpoint(args);
var builder = SampleStart.Builder(checkpoint, data).WithSequenceClassification(labels);
using var model = builder.UseLoggerFactory(loggerFactory).Build();

List<EncodedExample> Encode(List<(string Label, string Text)> rows) => rows.Select(r =>
{
    var e = model.Tokenizer.Encode(r.Text, options: new EncodingOptions { Truncation = TruncationStrategy.LongestFirst });
    return EncodedExample.WithLabel(e, TargetValue.Integer(Array.IndexOf(labels, r.Label)));
}).ToList();
var trainExamples = new InMemoryExamples(Encode(train));
var devExamples = new InMemoryExamples(Encode(dev));

var options = new TrainerOptions
{
    LearningRate = checkpoint is not null ? 5e-5 : 1e-3,
    WeightDecay = 0.01,
    WarmupRatio = 0.1,
    Epochs = 6,
    BatchSize = 16,
    LoadBestModelAtEnd = true,
    LoggingSteps = 25,
};
var trainer = model.CreateTrainer(options);
var devBatches = BatchSource.FromExamples(devExamples, new BatchCollator(model.Tokenizer.PadTokenId), 32);
var before = trainer.Evaluate(devBatches, TaskMetrics.SingleLabel());
Console.WriteLine($"Dev before training: accuracy {before["accuracy"]:P1}, loss {before["loss"]:F3}");

var progress = new SynchronousProgress(p => Console.WriteLine(
    $"  epoch {p.Epoch:F2}  step {p.Step,3}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E2}  {p.SamplesPerSecond,6:F0} samples/s  ETA {p.Remaining:mm\\:ss}"));
var result = trainer.Train(trainExamples, devExamples, TaskMetrics.SingleLabel(), progress);
var after = trainer.Evaluate(devBatches, TaskMetrics.SingleLabel());
Console.WriteLine($"Dev after training:  accuracy {after["accuracy"]:P1}, loss {after["loss"]:F3} ({result.GlobalStep} steps, best at step {result.BestStep})");

model.Save(output);
Console.WriteLine($"Saved in the Hugging Face layout to {output}: {string.Join(", ", Directory.GetFiles(output).Select(Path.GetFileName).Order())}");
using var reloaded = BertModelBuilder.FromPretrained(output).Build();
var classifier = reloaded.CreateTextClassificationPredictor();
foreach (var sentence in new[]
{
    "The goalkeeper saved a penalty in the final minute.",
    "Fog and drizzle will linger over the coast tomorrow.",
    "She baked a lemon cake for the party.",
    "The new update made the browser much faster.",
})
{
    var best = classifier.Predict(sentence)[0];
    Console.WriteLine($"  {best.Label,-10} {best.Score:P0}  {sentence}");
}
log.LogDebug("Done");
return after["accuracy"] > before["accuracy"] ? 0 : 1;

static List<(string Label, string Text)> ReadTsv(string path) =>
    File.ReadLines(path).Skip(1).Where(l => l.Length > 0).Select(l =>
    {
        var parts = l.Split('\t', 2);
        return parts.Length == 2 ? (parts[0], parts[1]) : throw new InvalidDataException($"{path}: '{l}' is not 'label<TAB>text'.");
    }).ToList();


/// <summary>Reports on the training thread, so lines print in order (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
