using System.Diagnostics;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Inference;
using BertFineTune.Runtime;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace BertFineTune.Benchmarks;

/// <summary>Where the data is and how long to measure.</summary>
/// <param name="Quick">Fewer steps and examples everywhere (a smoke run; the figures are rougher).</param>
/// <param name="VocabPath">The bert-base-uncased vocabulary.</param>
/// <param name="Sst2Path">SST-2 training sentences, one "label sentence" per line.</param>
internal sealed record BenchmarkSettings(bool Quick, string VocabPath, string Sst2Path);

/// <summary>
/// The model benchmarks. Every figure is printed next to a reference measured in the same process: bf16 next to fp32,
/// achieved GFLOP/s next to the matmul roofline, dynamic padding next to fixed padding, cached features next to
/// recomputing them, the end of a long run next to its start.
/// </summary>
internal sealed class ModelBenchmarks(BenchmarkSettings settings, Report report)
{
    public const string Roofline = "1. matmul roofline";
    public const string Training = "2. training step";
    public const string Sst2 = "3. SST-2 epoch";
    public const string Accuracy = "3b. SST-2 accuracy";
    public const string Frozen = "4. frozen encoder, head only";
    public const string Inference = "5. inference";
    public const string Memory = "6. memory";

    private readonly Dictionary<(string Shape, ScalarType Type), double> _roofline = [];
    // What TaskModel.MixedPrecision would be for UseMixedPrecision() on this CPU: mixed-precision figures fall back to fp32 without native bf16.
    private readonly bool _bf16 = BFloat16Support.IsSupported(CPU, out _);

    // 1 ---------------------------------------------------------------------------------------------------------------

    /// <summary>GFLOP/s of the model's own matmul shapes in fp32 and bf16 (inputs already in that type).</summary>
    public void RunRoofline()
    {
        foreach (var shape in new[] { Shape.Mini, Shape.Base })
        {
            var rates = MeasureLayer(shape);
            foreach (var (m, k, n, _) in shape.LayerMatmuls)
            {
                report.Add(Roofline, $"{shape.Name} [{m}×{k}]×[{k}×{n}] bf16", rates[(m, k, n, ScalarType.BFloat16)], "GFLOP/s",
                    "same matmul in fp32", rates[(m, k, n, ScalarType.Float32)], "× fp32");
            }
            report.Add(Roofline, $"{shape.Name} layer matmuls, bf16 (roofline)", RooflineFor(shape, ScalarType.BFloat16), "GFLOP/s",
                "fp32 roofline", RooflineFor(shape, ScalarType.Float32), "× fp32");
        }
        report.Note("roofline: the layer's matmuls each at its measured rate (FLOP-weighted harmonic mean), median of "
            + $"{RooflineRepeats} runs per shape and type, fp32 and bf16 interleaved");
        report.Print(Roofline);
    }

    private int RooflineRepeats => settings.Quick ? 3 : 7;

    /// <summary>Measures every matmul of a layer of <paramref name="shape"/> in both types, once, and records the rooflines.</summary>
    private Dictionary<(long, long, long, ScalarType), double> MeasureLayer(Shape shape)
    {
        var rates = new Dictionary<(long, long, long, ScalarType), double>();
        foreach (var (m, k, n, _) in shape.LayerMatmuls)
        {
            foreach (var type in new[] { ScalarType.Float32, ScalarType.BFloat16 })
            {
                rates[(m, k, n, type)] = MatmulRate(m, k, n, type, RooflineRepeats);
            }
        }
        foreach (var type in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            // The best a step could average if every matmul ran at its own measured rate.
            double flops = 0, seconds = 0;
            foreach (var (m, k, n, count) in shape.LayerMatmuls)
            {
                flops += count * 2.0 * m * k * n;
                seconds += count * 2.0 * m * k * n / (rates[(m, k, n, type)] * 1e9);
            }
            _roofline[(shape.Name, type)] = flops / seconds / 1e9;
        }
        return rates;
    }

    private static double MatmulRate(long m, long k, long n, ScalarType type, int repeats)
    {
        using var scope = NewDisposeScope();
        var input = randn(m, k).to_type(type);
        var weight = randn(n, k).to_type(type);
        for (int i = 0; i < 2; i++)
        {
            nn.functional.linear(input, weight).Dispose();
        }
        var seconds = new List<double>();
        for (int i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            nn.functional.linear(input, weight).Dispose();
            seconds.Add(clock.Elapsed.TotalSeconds);
        }
        return 2.0 * m * k * n / Median(seconds) / 1e9;
    }

    private double RooflineFor(Shape shape, ScalarType type)
    {
        if (!_roofline.ContainsKey((shape.Name, type)))
        {
            MeasureLayer(shape);
        }
        return _roofline[(shape.Name, type)];
    }

    // 2 ---------------------------------------------------------------------------------------------------------------

    /// <summary>Full fine-tuning steps (forward, backward, clipping, AdamW) on random tokens, fp32 and mixed precision.</summary>
    public void RunTraining()
    {
        foreach (var shape in new[] { Shape.Mini, Shape.Base })
        {
            bool small = shape == Shape.Mini;
            int warmup = small ? 2 : 1;
            int measured = settings.Quick ? (small ? 2 : 1) : (small ? 5 : 3);
            var (fp32, fp32Phases) = TrainingSteps(shape, mixed: false, warmup, measured);
            var (mixed, mixedPhases) = TrainingSteps(shape, mixed: _bf16, warmup, measured);
            var fp32Roofline = RooflineFor(shape, ScalarType.Float32);
            var bf16Roofline = RooflineFor(shape, ScalarType.BFloat16);
            double flops = shape.TrainingFlops;

            report.Add(Training, $"{shape.Name} step, mixed precision", mixed, "s", "fp32 step", fp32, "mixed/fp32 time");
            report.Add(Training, $"{shape.Name} tokens/s, mixed precision", shape.Tokens / mixed, "tokens/s", "fp32 tokens/s", shape.Tokens / fp32, "speed-up");
            report.Add(Training, $"{shape.Name} achieved, fp32", flops / fp32 / 1e9, "GFLOP/s", "fp32 matmul roofline", fp32Roofline, "of roofline");
            report.Add(Training, $"{shape.Name} achieved, mixed precision", flops / mixed / 1e9, "GFLOP/s", "bf16 matmul roofline", bf16Roofline, "of roofline",
                note: _bf16 ? null : "this CPU lacks native bf16: the trainer fell back to fp32");
            report.Note($"{shape}: {flops / 1e9:F0} GFLOP per step = 6 × {shape.MatmulParameters:N0} matmul weights × {shape.Tokens} tokens "
                + $"+ 12 × L × B × S² × H attention; median of {measured} steps after {warmup} warm-up");
            if (small)
            {
                continue;
            }
            // Where a BERT-Base step's time goes beyond the matmuls: the phases of the same runs, the matmuls alone at the
            // roofline, and the step without dropout (its random masks and multiplications are memory-bound work).
            foreach (var (precision, phases, step, roofline) in new[] { ("fp32", fp32Phases, fp32, fp32Roofline), ("mixed", mixedPhases, mixed, bf16Roofline) })
            {
                double phaseTotal = (phases.Forward + phases.Backward + phases.Optimizer + phases.Data).TotalSeconds;
                foreach (var (phase, time) in new[] { ("forward", phases.Forward), ("backward", phases.Backward), ("optimizer (clipping, AdamW, zero_grad)", phases.Optimizer) })
                {
                    report.Add(Training, $"{shape.Name} {precision} step: {phase}", step * time.TotalSeconds / phaseTotal, "s", $"{precision} step", step, "share");
                }
                double matmulSeconds = 6.0 * shape.MatmulParameters * shape.Tokens / (roofline * 1e9);
                report.Add(Training, $"{shape.Name} {precision} step: weight matmuls at the roofline", matmulSeconds, "s", $"{precision} step", step, "share");
            }
            var (noDropout, _) = TrainingSteps(shape, mixed: false, warmup, measured, dropout: 0.0);
            report.Add(Training, $"{shape.Name} fp32 step without dropout", noDropout, "s", "fp32 step (dropout 0.1)", fp32, "time ratio");
            report.Note($"{shape.Name} phases: TrainingResult.PhaseTimes of the same runs (warm-up included), as shares of the median step; "
                + "weight matmuls at the roofline = 6 × P × T ÷ the roofline rate, the least the step's weight matmuls could take");
        }
        report.Print(Training);
    }

    private static (double MedianStep, TrainingPhaseTimes Phases) TrainingSteps(Shape shape, bool mixed, int warmup, int measured, double dropout = 0.1)
    {
        var config = shape.Config(dropout);
        random.manual_seed(17);
        using var model = new BertForTask(config, new SequenceClassificationHead(config));
        using var scope = NewDisposeScope();
        var batches = Enumerable.Range(0, 2).Select(_ => new BertBatch(
            randint(1000, Shape.VocabSize, [shape.Batch, shape.Sequence], dtype: ScalarType.Int64),
            ones(shape.Batch, shape.Sequence, dtype: ScalarType.Int64),
            zeros(shape.Batch, shape.Sequence, dtype: ScalarType.Int64),
            new Dictionary<string, Tensor> { ["labels"] = randint(0, 2, [shape.Batch], dtype: ScalarType.Int64) })).ToList();
        var timer = new StepTimer();
        var trainer = new Trainer(model, Quiet(new TrainerOptions { MaxSteps = warmup + measured, LearningRate = 1e-5 }), mixedPrecision: mixed);
        var result = trainer.Train(BatchSource.FromBatches(batches), callbacks: [timer]);
        return (Median(timer.StepSeconds.Skip(warmup)), result.PhaseTimes);
    }

    // 3 ---------------------------------------------------------------------------------------------------------------

    /// <summary>A BERT-Mini epoch of SST-2: dynamic padding with length grouping against padding every batch to 128.</summary>
    public void RunSst2()
    {
        var examples = LoadSst2(settings.Quick ? 2048 : null);
        var shape = Shape.Mini;
        int batches = (examples.Count + shape.Batch - 1) / shape.Batch;
        int warmup = 2;
        int measured = settings.Quick ? 6 : 24;

        var dynamicOptions = new TrainerOptions { BatchSize = shape.Batch, GroupByLength = true, Shuffle = true };
        var fixedOptions = new TrainerOptions { BatchSize = shape.Batch, GroupByLength = false, Shuffle = true, PadToMultipleOf = 128 };
        var (dynamicPadded, real) = PaddedTokens(examples, dynamicOptions);
        var (fixedPadded, _) = PaddedTokens(examples, fixedOptions);

        double fixedEpoch = EpochSeconds(examples, fixedOptions, warmup, measured, batches);
        double dynamicEpoch = EpochSeconds(examples, dynamicOptions, warmup, measured, batches);
        double mixedEpoch = EpochSeconds(examples, dynamicOptions, warmup, measured, batches, mixedPrecision: _bf16);

        report.Add(Sst2, "epoch, dynamic padding + length grouping", dynamicEpoch, "s", "fixed padding to 128", fixedEpoch, "dynamic/fixed time");
        report.Add(Sst2, "epoch, dynamic + grouping + mixed precision", mixedEpoch, "s", "fixed padding to 128, fp32", fixedEpoch, "time ratio");
        report.Add(Sst2, "tokens computed, dynamic + grouping", dynamicPadded, "tokens", "fixed padding to 128", fixedPadded, "ratio");
        report.Add(Sst2, "real tokens ÷ computed, dynamic + grouping", (double)real / dynamicPadded, "share", "fixed padding to 128", (double)real / fixedPadded, "ratio");
        report.Note($"SST-2: {examples.Count} sentences, {batches} batches of {shape.Batch} per epoch, {shape.Name} shape; each epoch time is the mean "
            + $"of {measured} shuffled batches after {warmup} warm-up, times {batches} (extrapolated, not a full epoch)");
        report.Print(Sst2);
    }

    /// <summary>
    /// The same short fine-tune (small BERT from one seed, SST-2 train, evaluated on dev) in fp32 and in mixed precision:
    /// mixed precision must not cost accuracy.
    /// </summary>
    public void RunAccuracy()
    {
        var devPath = Path.Combine(Path.GetDirectoryName(settings.Sst2Path)!, "stsa.binary.dev");
        var train = LoadSst2(settings.Quick ? 2048 : null);
        var dev = LoadLabelled(devPath);
        var config = new BertConfig
        {
            VocabSize = 30522, HiddenSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 256,
            MaxPositionEmbeddings = 128, Labels = ["negative", "positive"],
        };
        double Run(bool mixed)
        {
            random.manual_seed(7);
            using var model = new BertForTask(config, new SequenceClassificationHead(config));
            var trainer = new Trainer(model, Quiet(new TrainerOptions
            {
                LearningRate = 1e-3, WeightDecay = 0.01, WarmupRatio = 0.1, Epochs = 1, BatchSize = 32, GroupByLength = true, Seed = 7,
            }), mixedPrecision: mixed);
            trainer.Train(new InMemoryExamples(train));
            var metrics = trainer.Evaluate(BatchSource.FromExamples(new InMemoryExamples(dev), new BatchCollator(), 64), TaskMetrics.SingleLabel());
            return metrics["accuracy"] * 100;
        }
        double fp32 = Run(mixed: false);
        double bf16 = Run(mixed: _bf16);
        report.Add(Accuracy, "dev accuracy after 1 epoch, mixed precision", bf16, "%", "fp32, same seed", fp32, "difference (points)");
        report.Note($"SST-2 accuracy: a 2-layer, hidden-128 BERT from random weights (seed 7), one epoch on {train.Count} sentences, "
            + $"dev {dev.Count} sentences; mixed − fp32 = {bf16 - fp32:+0.00;-0.00} points");
        report.Print(Accuracy);
    }

    private List<EncodedExample> LoadLabelled(string path)
    {
        var tokenizer = BertTokenizer.Load(settings.VocabPath);
        var lines = File.ReadLines(path).Where(l => l.Length > 2 && char.IsDigit(l[0]) && l[1] == ' ').ToList();
        var encodings = tokenizer.EncodeBatch(lines.Select(l => l[2..]).ToList(), null,
            new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 128 }).Encodings;
        return lines.Select((l, i) => EncodedExample.WithLabel(encodings[i].Ids, encodings[i].TypeIds, TargetValue.Integer(l[0] - '0'))).ToList();
    }

    private static (long Padded, long Real) PaddedTokens(IReadOnlyList<EncodedExample> examples, TrainerOptions options)
    {
        var plan = new BatchPlan(new InMemoryExamples(examples), options.BatchSize, options.Shuffle, options.GroupByLength, options.Seed);
        long padded = 0, real = 0;
        foreach (var batch in plan.Batches(0))
        {
            int length = batch.Max(e => e.Length);
            if (options.PadToMultipleOf is { } multiple)
            {
                length = (length + multiple - 1) / multiple * multiple;
            }
            padded += (long)length * batch.Count;
            real += batch.Sum(e => e.Length);
        }
        return (padded, real);
    }

    private static double EpochSeconds(IReadOnlyList<EncodedExample> examples, TrainerOptions options, int warmup, int measured, int batchesPerEpoch,
        bool mixedPrecision = false)
    {
        var config = Shape.Mini.Config();
        random.manual_seed(17);
        using var model = new BertForTask(config, new SequenceClassificationHead(config));
        var timer = new StepTimer();
        new Trainer(model, Quiet(options with { MaxSteps = warmup + measured, LearningRate = 2e-5 }), mixedPrecision: mixedPrecision)
            .Train(new InMemoryExamples(examples), callbacks: [timer]);
        return timer.StepSeconds.Skip(warmup).Average() * batchesPerEpoch;
    }

    // 4 ---------------------------------------------------------------------------------------------------------------

    /// <summary>Training only the head on a frozen BERT-Mini: features cached once against the encoder on every batch.</summary>
    public void RunFrozen()
    {
        var examples = LoadSst2(settings.Quick ? 1024 : 4096);
        int epochs = settings.Quick ? 2 : 3;
        var options = new TrainerOptions
        {
            BatchSize = Shape.Mini.Batch,
            GroupByLength = true,
            Epochs = epochs,
            LearningRate = 1e-3,
            FreezeEncoder = true,
        };
        var recompute = FrozenRun(examples, options);
        var cached = FrozenRun(examples, options with { CacheFrozenLayers = true });

        report.Add(Frozen, "run, cached features (encoding included)", cached.Total, "s", "encoder on every batch", recompute.Total,
            "speed-up", recompute.Total / cached.Total);
        report.Add(Frozen, "first epoch, cached (encodes once)", cached.Epochs[0], "s", "first epoch, recomputing", recompute.Epochs[0],
            "speed-up", recompute.Epochs[0] / cached.Epochs[0]);
        report.Add(Frozen, "later epoch, cached", cached.Epochs.Skip(1).Average(), "s", "later epoch, recomputing", recompute.Epochs.Skip(1).Average(),
            "speed-up", recompute.Epochs.Skip(1).Average() / cached.Epochs.Skip(1).Average());
        report.Note($"frozen encoder: {examples.Count} SST-2 sentences, {Shape.Mini.Name} shape, batch {Shape.Mini.Batch}, {epochs} full epochs, "
            + "dynamic padding with length grouping, fp32");
        report.Print(Frozen);
    }

    private static (double Total, List<double> Epochs) FrozenRun(IReadOnlyList<EncodedExample> examples, TrainerOptions options)
    {
        var config = Shape.Mini.Config();
        random.manual_seed(17);
        using var model = new BertForTask(config, new SequenceClassificationHead(config));
        var timer = new StepTimer();
        var clock = Stopwatch.StartNew();
        new Trainer(model, Quiet(options)).Train(new InMemoryExamples(examples), callbacks: [timer]);
        return (clock.Elapsed.TotalSeconds, timer.EpochSeconds);
    }

    // 5 ---------------------------------------------------------------------------------------------------------------

    /// <summary>Batch-1 latency and batch-64 throughput of the text classifier, fp32 against bf16.</summary>
    public void RunInference()
    {
        var tokenizer = BertTokenizer.Load(settings.VocabPath);
        var texts = LoadSst2Texts();
        foreach (var shape in new[] { Shape.Mini, Shape.Base })
        {
            bool small = shape == Shape.Mini;
            int single = settings.Quick ? (small ? 40 : 10) : (small ? 200 : 40);
            int bulk = settings.Quick ? (small ? 256 : 64) : (small ? 1024 : 256);
            var config = shape.Config();
            random.manual_seed(17);
            using var model = new BertForTask(config, new SequenceClassificationHead(config));
            var results = new Dictionary<bool, (double P50, double P95, double PerSecond)>();
            foreach (bool bf16 in new[] { false, true })
            {
                var one = TorchPredictors.TextClassification(model, tokenizer, batchSize: 1, mixedPrecision: bf16 && _bf16);
                var many = TorchPredictors.TextClassification(model, tokenizer, batchSize: 64, mixedPrecision: bf16 && _bf16);
                for (int i = 0; i < 5; i++)
                {
                    one.Predict(texts[i]);
                }
                var latencies = new List<double>();
                for (int i = 0; i < single; i++)
                {
                    var clock = Stopwatch.StartNew();
                    one.Predict(texts[(i * 7) % texts.Count]);
                    latencies.Add(clock.Elapsed.TotalMilliseconds);
                }
                many.PredictBatch(texts.Take(64).ToList());
                var sample = texts.Skip(64).Take(bulk).ToList();
                var bulkClock = Stopwatch.StartNew();
                many.PredictBatch(sample);
                results[bf16] = (Percentile(latencies, 0.5), Percentile(latencies, 0.95), sample.Count / bulkClock.Elapsed.TotalSeconds);
            }
            var (fp32, bf) = (results[false], results[true]);
            string? note = _bf16 ? null : "this CPU lacks native bf16: the predictor stays in fp32";
            report.Add(Inference, $"{shape.Name} batch-1 latency p50, bf16", bf.P50, "ms", "fp32 p50", fp32.P50, "bf16/fp32 time", note: note);
            report.Add(Inference, $"{shape.Name} batch-1 latency p95, bf16", bf.P95, "ms", "fp32 p95", fp32.P95, "bf16/fp32 time", note: note);
            report.Add(Inference, $"{shape.Name} batch-64 throughput, bf16", bf.PerSecond, "texts/s", "fp32 throughput", fp32.PerSecond, "speed-up", note: note);
            report.Note($"inference {shape.Name}: {single} single SST-2 sentences after 5 warm-up; {bulk} sentences in length-sorted batches of 64 after one warm-up batch");
        }
        report.Print(Inference);
    }

    // 6 ---------------------------------------------------------------------------------------------------------------

    /// <summary>Working set and live tensors of a long run on a tiny model: after 1,000 steps against after the first 10.</summary>
    public void RunMemory()
    {
        int steps = settings.Quick ? 300 : 1000;
        var config = new Checkpoints.BertConfig
        {
            VocabSize = 1000,
            HiddenSize = 32,
            NumHiddenLayers = 2,
            NumAttentionHeads = 2,
            IntermediateSize = 64,
            MaxPositionEmbeddings = 64,
            Labels = ["a", "b"],
        };
        random.manual_seed(17);
        using var model = new BertForTask(config, new SequenceClassificationHead(config));
        var rng = new Random(3);
        var examples = Enumerable.Range(0, 64).Select(_ =>
        {
            var ids = Enumerable.Range(0, rng.Next(4, 32)).Select(_ => rng.Next(5, 1000)).ToArray();
            return EncodedExample.WithLabel(ids, null, TargetValue.Integer(ids[1] % 2));
        }).ToList();
        using var process = Process.GetCurrentProcess();
        (long Live, long WorkingSet) early = default, late = default;
        var probe = new StepProbe(step =>
        {
            if (step == 10 || step == steps)
            {
                process.Refresh();
                var sample = (DisposeScopeManager.Statistics.ThreadTotalLiveCount, process.WorkingSet64);
                if (step == 10)
                {
                    early = sample;
                }
                else
                {
                    late = sample;
                }
            }
        });
        new Trainer(model, Quiet(new TrainerOptions { MaxSteps = steps, BatchSize = 8, LearningRate = 1e-3 }))
            .Train(new InMemoryExamples(examples), callbacks: [probe]);
        process.Refresh();
        report.Add(Memory, $"live tensors after {steps} steps", late.Live, "tensors", "after 10 steps", early.Live, "ratio");
        report.Add(Memory, $"working set after {steps} steps", late.WorkingSet / 1048576.0, "MiB", "after 10 steps", early.WorkingSet / 1048576.0, "ratio");
        report.Add(Memory, "peak working set of the process so far", process.PeakWorkingSet64 / 1048576.0, "MiB", "working set after 10 steps",
            early.WorkingSet / 1048576.0, "ratio");
        report.Note($"memory: a 2-layer, hidden-32 model trained {steps} steps (batch 8) on one thread; live tensors are TorchSharp's "
            + "DisposeScopeManager.Statistics.ThreadTotalLiveCount");
        report.Print(Memory);
    }

    // Helpers ---------------------------------------------------------------------------------------------------------

    private static TrainerOptions Quiet(TrainerOptions options) => options with
    {
        EvaluateEveryEpoch = false,
        SaveEveryEpoch = false,
        LoggingSteps = 1_000_000,
    };

    private List<string> LoadSst2Texts() => File.ReadLines(settings.Sst2Path)
        .Where(l => l.Length > 2)
        .Select(l => l[2..])
        .ToList();

    /// <summary>All SST-2 training sentences, tokenized with the bert-base-uncased vocabulary (up to 128 tokens).</summary>
    public List<EncodedExample> Sst2Examples() => LoadSst2(null);

    private List<EncodedExample> LoadSst2(int? take)
    {
        var tokenizer = BertTokenizer.Load(settings.VocabPath);
        var lines = File.ReadLines(settings.Sst2Path).Where(l => l.Length > 2 && char.IsDigit(l[0]) && l[1] == ' ').ToList();
        if (take is { } n)
        {
            lines = lines.Take(n).ToList();
        }
        var encodings = tokenizer.EncodeBatch(lines.Select(l => l[2..]).ToList(), null,
            new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 128 }).Encodings;
        return lines.Select((l, i) => EncodedExample.WithLabel(encodings[i].Ids, encodings[i].TypeIds, TargetValue.Integer(l[0] - '0'))).ToList();
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.OrderBy(v => v).ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }

    private sealed class StepProbe(Action<int> onStep) : TrainerCallback
    {
        public override bool OnStep(StepRecord step)
        {
            onStep(step.Step);
            return false;
        }
    }
}
