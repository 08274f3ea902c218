using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Tokenization;
using BertFineTune.Training;

namespace BertFineTune.Benchmarks;

/// <summary>A published score to print beside ours.</summary>
/// <param name="Model">The model that scored it.</param>
/// <param name="Value">The score, in the unit of the task's metric (percent or correlation × 100).</param>
/// <param name="Split">dev or test.</param>
/// <param name="Source">Where it is published (paper table or README).</param>
internal sealed record PublishedScore(string Model, double Value, string Split, string Source);

/// <summary>The hyper-parameters of one task's fine-tuning, printed with its result.</summary>
internal sealed record TaskHyperParameters(int Epochs, double LearningRate, int BatchSize, int MaxLength, double WarmupRatio = 0.1,
    double WeightDecay = 0.01)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Epochs} epochs, lr {LearningRate:G2}, batch {BatchSize}, max length {MaxLength}, warm-up {WarmupRatio:G2}, weight decay {WeightDecay:G2}");
}

/// <summary>One measured row of the quality table.</summary>
internal sealed record QualityRow(string Task, string Setting, string Metric, double Dev, double? Test, double SecondsPerEpoch,
    int Epochs, int TrainExamples, string HyperParameters, IReadOnlyList<PublishedScore> Published);

/// <summary>
/// Fine-tunes a pretrained checkpoint on the real data sets in <c>../shared/datasets</c> and reports dev scores (the best
/// epoch, restored), the test score once with those weights where a test split exists, and the wall time per epoch,
/// beside published scores of comparable models. Fixed 90/10 train/dev splits (seed 1234) where a data set has no dev split.
/// </summary>
internal sealed class QualityBenchmark(string model, string datasets, bool quick, bool mixedPrecision)
{
    private const int Seed = 42;
    private const int SplitSeed = 1234;
    private readonly List<QualityRow> _rows = [];

    public IReadOnlyList<QualityRow> Rows => _rows;

    private string Sentences(string file) => Path.Combine(datasets, "sentence-classification", file);

    /// <summary>The tasks by name, in the order they run.</summary>
    public IReadOnlyList<string> TaskNames { get; } =
        ["sst2", "sst2-fp32", "sst2-frozen", "sst5", "trec", "subj", "cr", "mpqa", "mrpc", "stsb", "conll2003"];

    /// <summary>Runs <paramref name="tasks"/>, printing each result as it comes.</summary>
    public void Run(IReadOnlyList<string> tasks)
    {
        foreach (var task in tasks)
        {
            switch (task)
            {
                case "sst2":
                    SentenceTask("SST-2", Labels(2), Sentences("stsa.binary.train"), Sentences("stsa.binary.dev"), Sentences("stsa.binary.test"),
                        new TaskHyperParameters(2, 5e-5, 32, 128), Published.Sst2);
                    break;
                case "sst2-fp32":
                    // The same fine-tuning in float32, to compare accuracy and time with the mixed-precision row.
                    SentenceTask("SST-2", Labels(2), Sentences("stsa.binary.train"), Sentences("stsa.binary.dev"), Sentences("stsa.binary.test"),
                        new TaskHyperParameters(2, 5e-5, 32, 128), Published.Sst2, setting: "fine-tuned, float32", mixed: false);
                    break;
                case "sst2-frozen":
                    // Feature extraction: the encoder frozen and run once per example (cached), only the head trained, for each
                    // pooling of the encoder's output (all-MiniLM-L6-v2 was trained for mean pooling, not its pooler).
                    foreach (var pooling in new[] { PoolingMode.Pooler, PoolingMode.Cls, PoolingMode.Mean, PoolingMode.Max })
                    {
                        SentenceTask("SST-2", Labels(2), Sentences("stsa.binary.train"), Sentences("stsa.binary.dev"), Sentences("stsa.binary.test"),
                            new TaskHyperParameters(10, 1e-3, 32, 128, WeightDecay: 0), Published.Sst2, setting: $"frozen + cache, {pooling.ToString().ToLowerInvariant()} pooling",
                            pooling: pooling, frozen: true);
                    }
                    break;
                case "sst5":
                    SentenceTask("SST-5", Labels(5), Sentences("stsa.fine.train"), Sentences("stsa.fine.dev"), Sentences("stsa.fine.test"),
                        new TaskHyperParameters(2, 5e-5, 32, 128), Published.Sst5);
                    break;
                case "trec":
                    SentenceTask("TREC", Labels(6), Sentences("TREC.train.all"), dev: null, Sentences("TREC.test.all"),
                        new TaskHyperParameters(3, 5e-5, 32, 64), Published.Trec, Encoding.Latin1);
                    break;
                case "subj":
                    SentenceTask("SUBJ", Labels(2), Sentences("subj.all"), null, null, new TaskHyperParameters(2, 5e-5, 32, 128), Published.Subj);
                    break;
                case "cr":
                    SentenceTask("CR", Labels(2), Sentences("custrev.all"), null, null, new TaskHyperParameters(3, 5e-5, 32, 128), Published.Cr);
                    break;
                case "mpqa":
                    SentenceTask("MPQA", Labels(2), Sentences("mpqa.all"), null, null, new TaskHyperParameters(2, 5e-5, 32, 64), Published.Mpqa);
                    break;
                case "mrpc":
                    PairTask("MRPC", Path.Combine(datasets, "glue-mrpc"), new TaskHyperParameters(3, 5e-5, 32, 128), Published.Mrpc);
                    break;
                case "stsb":
                    StsbTask(Path.Combine(datasets, "glue-stsb"), new TaskHyperParameters(3, 5e-5, 32, 128), Published.Stsb);
                    break;
                case "conll2003":
                    ConllTask(Path.Combine(datasets, "ner-conll2003"), new TaskHyperParameters(2, 5e-5, 32, 128), Published.Conll);
                    break;
                default:
                    throw new ArgumentException($"Unknown task '{task}'; use {string.Join(", ", TaskNames)}.", nameof(tasks));
            }
        }
    }

    private static string[] Labels(int count) => Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Reads "LABEL sentence" lines; splits 90/10 (seed 1234) when a split is missing.</summary>
    private void SentenceTask(string name, string[] labels, string trainFile, string? dev, string? test, TaskHyperParameters hp,
        IReadOnlyList<PublishedScore> published, Encoding? encoding = null, string setting = "fine-tuned", bool? mixed = null,
        PoolingMode? pooling = null, bool frozen = false)
    {
        var schema = LabelSchema.SingleLabel(labels);
        // CR and MPQA hold a few lines with a label and no sentence (custrev.all lines 769, 1368, 3691, 3775; mpqa.all
        // 6415, 7294, 10606): they are skipped and each is printed, never dropped silently.
        IReadOnlyList<TextExample> Read(string file)
        {
            var result = LabelPrefixedLineReader.Read(file, schema, BadRowPolicy.SkipAndCount, encoding);
            foreach (var skipped in result.SkippedRows)
            {
                Console.WriteLine($"  {name}: skipped {Path.GetFileName(file)}:{skipped.Line}: {skipped.Reason}");
            }
            return result.Items;
        }
        var train = Read(trainFile);
        IReadOnlyList<TextExample> devExamples;
        if (dev is null)
        {
            (train, devExamples) = SplitNinetyTen(train);
        }
        else
        {
            devExamples = Read(dev);
        }
        var testExamples = test is null ? null : Read(test);
        Classify(name, labels, train, devExamples, testExamples, hp, published, "accuracy", setting: setting, mixed: mixed, pooling: pooling,
            frozen: frozen);
    }

    private void PairTask(string name, string folder, TaskHyperParameters hp, IReadOnlyList<PublishedScore> published)
    {
        // GLUE's MRPC files, read with the library's GLUE preset (tab-separated, quotes as text); test.tsv alone has a header.
        IReadOnlyList<TextExample> Read(string file) => DelimitedFileReader.Read(Path.Combine(folder, file),
            DelimitedReaderOptions.GlueMrpc with { HasHeader = file == "test.tsv" }).Items;
        Classify(name, Labels(2), Read("train.tsv"), Read("dev.tsv"), Read("test.tsv"), hp, published, "accuracy", extraMetric: "f1_binary");
    }

    private void StsbTask(string folder, TaskHyperParameters hp, IReadOnlyList<PublishedScore> published)
    {
        IReadOnlyList<TextExample> Read(string file) => DelimitedFileReader.Read(Path.Combine(folder, file), DelimitedReaderOptions.GlueStsB).Items;
        var train = Read("train.tsv");
        var dev = Read("dev.tsv");
        Train("STS-B", "fine-tuned", Take(train).Count, hp, published, "pearson",
            b => b.WithRegression(), tokenizer => (Encode(train, tokenizer, hp), Encode(dev, tokenizer, hp), null),
            TaskMetrics.Regression());
    }

    private void ConllTask(string folder, TaskHyperParameters hp, IReadOnlyList<PublishedScore> published)
    {
        IReadOnlyList<TaggedSentence> Read(string file) => ConllReader.Read(Path.Combine(folder, file)).Items;
        var train = Read("train.txt");
        var dev = Read("dev.txt");
        var test = Read("test.txt");
        var labels = new[] { "O" }.Concat(train.SelectMany(s => s.Tags).Where(t => t != "O").Distinct().Order(StringComparer.Ordinal)).ToArray();
        List<EncodedExample> Encode(IReadOnlyList<TaggedSentence> sentences, BertTokenizer tokenizer) =>
            TokenClassificationEncoder.Encode(Take(sentences), tokenizer, labels, hp.MaxLength).Items.Select(e => e.Example).ToList();
        Train("CoNLL-2003", "fine-tuned", Take(train).Count, hp, published, "f1", b => b.WithTokenClassification(labels),
            tokenizer => (Encode(train, tokenizer), Encode(dev, tokenizer), Encode(test, tokenizer)), TaskMetrics.Entities(labels));
    }

    private void Classify(string name, string[] labels, IReadOnlyList<TextExample> train, IReadOnlyList<TextExample> dev,
        IReadOnlyList<TextExample>? test, TaskHyperParameters hp, IReadOnlyList<PublishedScore> published, string metric, string? extraMetric = null,
        string setting = "fine-tuned", bool? mixed = null, PoolingMode? pooling = null, bool frozen = false)
    {
        var metrics = extraMetric is null ? TaskMetrics.SingleLabel() : WithBinaryF1(TaskMetrics.SingleLabel());
        Train(name, setting, Take(train).Count, hp, published, metric, b => b.WithSequenceClassification(labels, pooling),
            tokenizer => (Encode(train, tokenizer, hp), Encode(dev, tokenizer, hp), test is null ? null : Encode(test, tokenizer, hp)), metrics,
            extraMetric, frozen ? o => o with { FreezeEncoder = true, CacheFrozenLayers = true } : null, mixed);
    }

    /// <summary>Adds the F1 of class 1 (MRPC's "paraphrase", GLUE's F1) to the single-label metrics.</summary>
    private static Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>> WithBinaryF1(
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>> inner) => batches =>
    {
        var result = new Dictionary<string, double>(inner(batches));
        var gold = new List<int>();
        var predicted = new List<int>();
        foreach (var batch in batches)
        {
            using var argmax = batch.Outputs["logits"].argmax(-1);
            predicted.AddRange(argmax.to_type(TorchSharp.torch.ScalarType.Int32).data<int>().ToArray());
            gold.AddRange(batch.Targets["labels"].to_type(TorchSharp.torch.ScalarType.Int32).data<int>().ToArray());
        }
        result["f1_binary"] = Evaluation.ClassificationMetrics.PrecisionRecallF1(gold, predicted, [0, 1]).PerClass[1].F1;
        return result;
    };

    private List<EncodedExample> Encode(IReadOnlyList<TextExample> examples, BertTokenizer tokenizer, TaskHyperParameters hp) =>
        TextExampleEncoder.Encode(Take(examples), tokenizer, new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = hp.MaxLength }).ToList();

    /// <summary>The first 400 items in a quick run (a smoke test of the whole path), all otherwise.</summary>
    private IReadOnlyList<T> Take<T>(IReadOnlyList<T> items) => quick ? items.Take(400).ToList() : items;

    private static (IReadOnlyList<TextExample> Train, IReadOnlyList<TextExample> Dev) SplitNinetyTen(IReadOnlyList<TextExample> all)
    {
        var order = Enumerable.Range(0, all.Count).ToArray();
        new Random(SplitSeed).Shuffle(order);
        int devCount = all.Count / 10;
        return (order.Skip(devCount).Select(i => all[i]).ToList(), order.Take(devCount).Select(i => all[i]).ToList());
    }

    /// <summary>Fine-tunes a fresh copy of the checkpoint with the head <paramref name="head"/> adds, and records the row.</summary>
    private void Train(string task, string setting, int trainCount, TaskHyperParameters hp, IReadOnlyList<PublishedScore> published, string metric,
        Func<BertModelBuilder, BertModelBuilder> head,
        Func<BertTokenizer, (List<EncodedExample> Train, List<EncodedExample> Dev, List<EncodedExample>? Test)> encode,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>> metrics, string? extraMetric = null,
        Func<TrainerOptions, TrainerOptions>? adjust = null, bool? mixed = null)
    {
        TorchSharp.torch.random.manual_seed(Seed);
        var builder = head(BertModelBuilder.FromPretrained(model));
        if (mixed ?? mixedPrecision)
        {
            builder = builder.UseMixedPrecision();
        }
        using var built = builder.Build();
        var (train, dev, test) = encode(built.Tokenizer);
        var options = new TrainerOptions
        {
            Epochs = quick ? 1 : hp.Epochs,
            LearningRate = hp.LearningRate,
            BatchSize = hp.BatchSize,
            WarmupRatio = hp.WarmupRatio,
            WeightDecay = hp.WeightDecay,
            Seed = Seed,
            GroupByLength = true,
            EvaluateEveryEpoch = true,
            MetricForBestModel = metric,
            LoadBestModelAtEnd = true,
            LoggingSteps = 1_000_000,
        };
        options = adjust?.Invoke(options) ?? options;
        var trainer = built.CreateTrainer(options);
        var timer = new EpochTimer();
        var clock = Stopwatch.StartNew();
        var result = trainer.Train(new InMemoryExamples(train), new InMemoryExamples(dev), metrics, callbacks: [timer]);
        clock.Stop();
        double devScore = result.BestMetric ?? double.NaN;
        double? extra = extraMetric is null ? null : result.Evaluations.First(e => e.Step == result.BestStep).Metrics[extraMetric];
        double? testScore = null;
        if (test is not null)
        {
            var testMetrics = trainer.Evaluate(BatchSource.FromExamples(new InMemoryExamples(test), new BatchCollator(built.Tokenizer.PadTokenId), 64), metrics);
            testScore = testMetrics[metric];
        }
        var row = new QualityRow(task, setting, extraMetric is null ? metric : $"{metric} (F1 {extra * 100:F1})", devScore * 100, testScore * 100,
            timer.SecondsPerEpoch(clock.Elapsed.TotalSeconds, options.Epochs), options.Epochs, trainCount, hp.ToString(), published);
        _rows.Add(row);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {task,-11} {setting,-28} {row.Metric,-16} dev {row.Dev,6:F2}  test {(row.Test is { } t ? t.ToString("F2", CultureInfo.InvariantCulture) : "-"),6}  "
            + $"{row.SecondsPerEpoch,6:F0} s/epoch  ({trainCount} train, {hp})"));
    }

    /// <summary>Wall time of the training steps of each epoch, without the evaluations that follow them.</summary>
    private sealed class EpochTimer : TrainerCallback
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private TimeSpan _lastStep;
        private TimeSpan _evaluating;

        public override bool OnStep(StepRecord step)
        {
            _lastStep = _clock.Elapsed;
            return false;
        }

        public override bool OnEvaluate(EvaluationRecord evaluation)
        {
            _evaluating += _clock.Elapsed - _lastStep;
            return false;
        }

        public double SecondsPerEpoch(double totalSeconds, int epochs) => (totalSeconds - _evaluating.TotalSeconds) / Math.Max(1, epochs);
    }

    /// <summary>
    /// The results as Markdown: one row per task and setting, then the published scores of comparable models, once per task.
    /// </summary>
    public string Markdown()
    {
        var text = new StringBuilder();
        text.AppendLine("| task | setting | metric | dev | test | s/epoch | epochs | train examples | hyper-parameters |");
        text.AppendLine("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |");
        foreach (var r in _rows)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Task} | {r.Setting} | {r.Metric} | {r.Dev:F1} | {(r.Test is { } t ? t.ToString("F1", CultureInfo.InvariantCulture) : "—")} | {r.SecondsPerEpoch:F0} | {r.Epochs} | {r.TrainExamples} | {r.HyperParameters} |"));
        }
        text.AppendLine();
        text.AppendLine("| task | comparable model | split | published | source |");
        text.AppendLine("| --- | --- | --- | ---: | --- |");
        foreach (var (task, published) in _rows.GroupBy(r => r.Task).Select(g => (g.Key, g.First().Published)))
        {
            foreach (var p in published)
            {
                text.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {task} | {p.Model} | {p.Split} | {p.Value:F1} | {p.Source} |"));
            }
        }
        return text.ToString();
    }

    public void WriteJson(string path) =>
        File.WriteAllText(path, JsonSerializer.Serialize(_rows, new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>
    /// Published scores of comparable models, each with its source (the table it is printed in). Fine-tuned unless the model
    /// name says "frozen" (a classifier on fixed sentence features). all-MiniLM-L6-v2 itself has no published fine-tuning
    /// scores; MiniLM-L6xH384 (microsoft/unilm) has its shape but other weights (distilled with a teacher assistant).
    /// </summary>
    private static class Published
    {
        private const string MiniLm = "microsoft/unilm minilm/README.md, NLU table; MiniLM paper (arXiv 2002.10957) Table 8";
        private const string SmallBerts = "google-research/bert README, smaller BERT models, GLUE test table";
        private const string BertPaper1 = "BERT paper (arXiv 1810.04805) Table 1";
        private const string SBert5 = "Sentence-BERT paper (arXiv 1908.10084) Table 5, SentEval";

        public static readonly IReadOnlyList<PublishedScore> Sst2 =
        [
            new("MiniLM-L6xH384", 91.5, "dev", MiniLm),
            new("BERT-Mini (4L/256H)", 85.9, "test", SmallBerts),
            new("BERT-Small (4L/512H)", 89.7, "test", SmallBerts),
            new("BERT-base", 93.5, "test", BertPaper1),
            new("BERT-base frozen, mean pooling", 84.4, "test", SBert5),
        ];

        public static readonly IReadOnlyList<PublishedScore> Sst5 =
        [
            new("BERT-base", 53.2, "test", "Munikar et al. 2019 (arXiv 1910.03474), as listed by paperswithcode"),
        ];

        public static readonly IReadOnlyList<PublishedScore> Trec =
        [
            new("BERT-base", 97.2, "test", "Sun et al. 2019 (arXiv 1905.05583) Table 6, error 2.80"),
            new("BERT-base frozen, mean pooling", 92.8, "test", SBert5),
        ];

        public static readonly IReadOnlyList<PublishedScore> Subj =
        [
            new("BERT-base frozen, mean pooling", 94.4, "10-fold CV", SBert5),
        ];

        public static readonly IReadOnlyList<PublishedScore> Cr =
        [
            new("BERT-base frozen, mean pooling", 86.3, "10-fold CV", SBert5),
        ];

        public static readonly IReadOnlyList<PublishedScore> Mpqa =
        [
            new("BERT-base frozen, mean pooling", 88.7, "10-fold CV", SBert5),
        ];

        public static readonly IReadOnlyList<PublishedScore> Mrpc =
        [
            new("MiniLM-L6xH384 (accuracy)", 88.9, "dev", MiniLm),
            new("BERT-Mini (accuracy)", 71.8, "test", SmallBerts),
            new("BERT-Small (accuracy)", 76.2, "test", SmallBerts),
            new("BERT-base (F1)", 88.9, "test", BertPaper1),
        ];

        public static readonly IReadOnlyList<PublishedScore> Stsb =
        [
            new("all-MiniLM-L6-v2 without fine-tuning, cosine (Pearson)", 82.7, "test", "MTEB results, STSBenchmark.json of sentence-transformers/all-MiniLM-L6-v2"),
            new("BERT-Mini (Pearson)", 75.4, "test", SmallBerts),
            new("BERT-Small (Pearson)", 78.8, "test", SmallBerts),
            new("BERT-base (Spearman)", 85.8, "test", BertPaper1),
        ];

        public static readonly IReadOnlyList<PublishedScore> Conll =
        [
            new("BERT-base (cased, document context)", 96.4, "dev", "BERT paper (arXiv 1810.04805) Table 7"),
            new("BERT-base (cased, document context)", 92.4, "test", "BERT paper (arXiv 1810.04805) Table 7"),
        ];
    }
}
