using System.Diagnostics;
using System.Globalization;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Heads;
using BertFineTune.Runtime;
using BertFineTune.Testing;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using static TorchSharp.torch;

namespace BertFineTune.Benchmarks;

/// <summary>
/// Issue 16's measurements ("why does an epoch take so long?"), each next to its reference from the same run:
/// <list type="bullet">
/// <item><c>contention</c>: pretrained MiniLM training throughput with one other CPU-bound process on the machine against
/// the same steps on the quiet machine, with the library's OpenMP wait policy (passive) and with OpenMP's spinning one,
/// each in a child process (the policy is read when libtorch loads);</item>
/// <item><c>layers</c>: MiniLM on SST-2, the top 2 of 6 layers trained on cached frozen-layer states against full
/// fine-tuning (epoch time after the first, dev accuracy, same seed and epochs), and the time-per-phase table of an
/// SST-2 epoch in fp32 and mixed precision;</item>
/// <item><c>layers-base</c>: a random BERT-Base, the top 4 of 12 layers with the cache against full fine-tuning.</item>
/// </list>
/// </summary>
internal sealed class SpeedBenchmark(bool quick, string datasets, Report report)
{
    public const string Contention = "7. contention";
    public const string Layers = "8. top layers, cached (MiniLM)";
    public const string Phases = "9. time per phase (MiniLM SST-2 epoch)";
    public const string LayersBase = "10. top layers, cached (BERT-Base)";

    private const int MiniLMBatch = 32;
    private readonly bool _bf16 = BFloat16Support.IsSupported(CPU, out _);

    private string Sst2(string file) => Path.Combine(datasets, "sentence-classification", file);

    // 7 -----------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Runs <see cref="ContentionProbe"/> in child processes, one per OpenMP wait policy, and reports busy ÷ quiet
    /// throughput for each.
    /// </summary>
    public void RunContention()
    {
        var variants = new (string Label, string? Policy, string? SpinCount, int? Threads)[]
        {
            ("library default (passive)", null, null, null),
            ("OMP_WAIT_POLICY=ACTIVE", "ACTIVE", null, null),
            ("GOMP_SPINCOUNT=300000 (libgomp's default)", null, "300000", null),
            ("library default (passive), 1 thread", null, null, 1),
        };
        var quietReference = 0.0;
        foreach (var (label, policy, spinCount, threadCount) in variants)
        {
            var (quiet, busy, threads) = RunChild(policy, spinCount, threadCount);
            quietReference = quietReference == 0 ? quiet : quietReference;
            report.Add(Contention, $"MiniLM training, one core busy, {label}", busy, "samples/s", "quiet machine, same process", quiet,
                "busy/quiet", note: $"{threads} libtorch threads; busy ÷ the first variant's quiet: {busy / quietReference:F2}");
        }
        report.Note($"contention: all-MiniLM-L6-v2 training steps (batch 16, SST-2 sentences cut to 64 tokens, mixed precision "
            + $"{(_bf16 ? "on" : "off: no native bf16")}), {ProbeSteps} steps quiet, then the same steps while `sh -c 'while :; do :; done'` "
            + "keeps one core busy; each variant in its own child process, because libgomp reads OMP_WAIT_POLICY when libtorch loads");
        report.Print(Contention);
    }

    private int ProbeSteps => quick ? 8 : 30;

    private (double Quiet, double Busy, int Threads) RunChild(string? policy, string? spinCount, int? threads)
    {
        var start = new ProcessStartInfo
        {
            FileName = Environment.ProcessPath!,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        // Run as "dotnet BertFineTune.Benchmarks.dll" or as the apphost: either way, the same program.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet")
        {
            start.ArgumentList.Add(typeof(SpeedBenchmark).Assembly.Location);
        }
        start.ArgumentList.Add("contention-probe");
        start.ArgumentList.Add("--datasets");
        start.ArgumentList.Add(datasets);
        start.ArgumentList.Add("--steps");
        start.ArgumentList.Add(ProbeSteps.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add("--threads");
        start.ArgumentList.Add((threads ?? 0).ToString(CultureInfo.InvariantCulture));
        start.Environment.Remove("OMP_WAIT_POLICY");
        start.Environment.Remove("GOMP_SPINCOUNT");
        if (policy is not null)
        {
            start.Environment["OMP_WAIT_POLICY"] = policy;
        }
        if (spinCount is not null)
        {
            start.Environment["GOMP_SPINCOUNT"] = spinCount;
        }
        using var child = Process.Start(start)!;
        string? result = null;
        while (child.StandardOutput.ReadLine() is { } line)
        {
            Console.WriteLine($"    [{policy ?? spinCount ?? "default"}{(threads is { } t ? $", {t} thread" : "")}] {line}");
            if (line.StartsWith("probe-result ", StringComparison.Ordinal))
            {
                result = line;
            }
        }
        child.WaitForExit();
        if (child.ExitCode != 0 || result is null)
        {
            throw new InvalidOperationException($"The contention probe ({policy ?? spinCount ?? "default policy"}) failed with exit code {child.ExitCode}.");
        }
        var parts = result.Split(' ');
        return (double.Parse(parts[1], CultureInfo.InvariantCulture), double.Parse(parts[2], CultureInfo.InvariantCulture),
            int.Parse(parts[3], CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// The child side of <see cref="RunContention"/>: MiniLM training samples/s on the quiet machine, then with a busy
    /// process; prints "probe-result quiet busy threads".
    /// </summary>
    public static int ContentionProbe(string datasets, int steps, int threads)
    {
        if (threads > 0)
        {
            TorchThreads.Set(threads);
        }
        var bench = new SpeedBenchmark(quick: false, datasets, new Report());
        using var model = bench.MiniLM(mixed: true);
        var examples = bench.MiniLMTrain(model.Tokenizer, 16 * steps * 2 + 16 * 4);
        var half = examples.Count / 2;
        double Measure(IReadOnlyList<EncodedExample> data)
        {
            var timer = new StepTimer();
            model.CreateTrainer(Quiet(new TrainerOptions { BatchSize = 16, MaxSteps = steps + 2, LearningRate = 1e-5 }))
                .Train(new InMemoryExamples(data), callbacks: [timer]);
            return 16 / timer.StepSeconds.Skip(2).Average();
        }
        double quiet = Measure(examples.Take(half).ToList());
        Console.WriteLine($"quiet: {quiet:F1} samples/s");
        using var busy = Process.Start(new ProcessStartInfo("sh", ["-c", "while :; do :; done"]) { UseShellExecute = false })!;
        try
        {
            Thread.Sleep(1000);
            double loaded = Measure(examples.Skip(half).ToList());
            Console.WriteLine($"one core busy: {loaded:F1} samples/s");
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"probe-result {quiet} {loaded} {TorchThreads.Count}"));
        }
        finally
        {
            busy.Kill(entireProcessTree: true);
        }
        return 0;
    }

    // 8, 9 --------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// MiniLM on SST-2: full fine-tuning in fp32 (one epoch: the fp32 phase table), full fine-tuning in mixed precision
    /// and the top 2 layers on the frozen-layer cache in mixed precision (two epochs each, same seed).
    /// </summary>
    public void RunLayers()
    {
        int epochs = 2;
        int? subset = quick ? 1024 : null;
        var fp32 = MiniLMRun("full fine-tuning, fp32", mixed: false, epochs: 1, subset, new TrainerOptions());
        var full = MiniLMRun("full fine-tuning, mixed", mixed: _bf16, epochs, subset, new TrainerOptions());
        var top2 = MiniLMRun("top 2 of 6, cached, mixed", mixed: _bf16, epochs, subset,
            new TrainerOptions { FreezeLowestLayers = 4, CacheFrozenLayers = true });

        report.Add(Layers, "epoch 2, top 2 of 6 layers on cached states", top2.Epochs[^1], "s", "epoch 2, full fine-tuning", full.Epochs[^1],
            "cached/full time");
        report.Add(Layers, "epoch 1, top 2 (includes building the cache)", top2.Epochs[0], "s", "epoch 1, full fine-tuning", full.Epochs[0],
            "cached/full time");
        report.Add(Layers, $"SST-2 dev accuracy after {epochs} epochs, top 2 cached", top2.Accuracy * 100, "%", "full fine-tuning", full.Accuracy * 100,
            "difference", top2.Accuracy * 100 - full.Accuracy * 100);
        report.Add(Layers, "SST-2 dev accuracy after 1 epoch, full, fp32", fp32.Accuracy * 100, "%", "mixed, epoch 2", full.Accuracy * 100,
            "difference", fp32.Accuracy * 100 - full.Accuracy * 100);
        report.Note($"MiniLM: all-MiniLM-L6-v2 ({MiniLMPackage.Version}), SST-2 train ({full.Examples} sentences, cut to 64 tokens), batch {MiniLMBatch}, "
            + $"lr 1e-4, warm-up 0.1, weight decay 0.01, length grouping, seed 42, mixed precision {(_bf16 ? "bf16" : "off (no native bf16)")}; "
            + "epoch times are wall time between the last steps of consecutive epochs (no evaluation during training); accuracy on all 872 dev sentences after training");
        report.Print(Layers);

        foreach (var (name, run) in new[] { ("fp32, epoch 1", fp32), ("mixed, epochs 1–2 ÷ 2", full) })
        {
            var p = run.Phases;
            double total = p.Total.TotalSeconds / run.EpochsRun;
            foreach (var (phase, time) in new[] { ("data", p.Data), ("forward", p.Forward), ("backward", p.Backward), ("optimizer", p.Optimizer),
                ("evaluation", p.Evaluation), ("checkpoint", p.Checkpoint) })
            {
                report.Add(Phases, $"{name}: {phase}", time.TotalSeconds / run.EpochsRun, "s", "epoch total", total, "share");
            }
            report.Add(new Figure(Phases, $"{name}: padding tokens of the tokens computed", p.PaddingShare * 100, "%"));
        }
        report.Note("phases: TrainingResult.PhaseTimes of the full fine-tuning runs above, per epoch");
        report.Print(Phases);
    }

    private sealed record RunFigures(List<double> Epochs, double Accuracy, TrainingPhaseTimes Phases, int EpochsRun, int Examples);

    private RunFigures MiniLMRun(string name, bool mixed, int epochs, int? subset, TrainerOptions options)
    {
        using var model = MiniLM(mixed);
        var train = MiniLMTrain(model.Tokenizer, subset);
        var dev = TextExampleEncoder.Encode(LabelPrefixedLineReader.Read(Sst2("stsa.binary.dev"), MiniLMSst2Recipe.Labels).Items, model.Tokenizer,
            new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = MiniLMSst2Recipe.MaxLength });
        var timer = new StepTimer();
        var trainer = model.CreateTrainer(Quiet(options with
        {
            LearningRate = 1e-4, WeightDecay = 0.01, WarmupRatio = 0.1, Epochs = epochs, BatchSize = MiniLMBatch, GroupByLength = true,
            Seed = MiniLMSst2Recipe.Seed,
        }));
        var clock = Stopwatch.StartNew();
        var result = trainer.Train(new InMemoryExamples(train), callbacks: [timer]);
        var metrics = trainer.Evaluate(BatchSource.FromExamples(new InMemoryExamples(dev), new BatchCollator(model.Model.Config.PadTokenId ?? 0), 64),
            TaskMetrics.SingleLabel());
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  {name}: {clock.Elapsed.TotalSeconds:F0} s, epochs {string.Join(", ", timer.EpochSeconds.Select(s => s.ToString("F1", CultureInfo.InvariantCulture)))} s, dev accuracy {metrics["accuracy"]:P2}"));
        return new RunFigures(timer.EpochSeconds, metrics["accuracy"], result.PhaseTimes, epochs, train.Count);
    }

    private TaskModel MiniLM(bool mixed)
    {
        manual_seed(MiniLMSst2Recipe.Seed);
        var builder = BertModelBuilder.FromPretrained(MiniLMPackage.ImportedFolder()).WithSequenceClassification(MiniLMSst2Recipe.Labels.Labels);
        return (mixed && _bf16 ? builder.UseMixedPrecision() : builder).Build();
    }

    private List<EncodedExample> MiniLMTrain(BertTokenizer tokenizer, int? take)
    {
        var train = LabelPrefixedLineReader.Read(Sst2("stsa.binary.train"), MiniLMSst2Recipe.Labels).Items;
        return TextExampleEncoder.Encode(take is { } n ? train.Take(n).ToList() : train, tokenizer,
            new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = MiniLMSst2Recipe.MaxLength }).ToList();
    }

    // 10 ----------------------------------------------------------------------------------------------------------------

    /// <summary>A random BERT-Base on an SST-2 subset: the top 4 of 12 layers on the cache against full fine-tuning.</summary>
    public void RunLayersBase(IReadOnlyList<EncodedExample> sst2)
    {
        var examples = sst2.Take(quick ? 128 : 512).ToList();
        var options = new TrainerOptions { Epochs = 2, BatchSize = 32, GroupByLength = true, LearningRate = 2e-5 };
        var full = BaseRun(examples, options);
        var top4 = BaseRun(examples, options with { FreezeLowestLayers = 8, CacheFrozenLayers = true });
        report.Add(LayersBase, "epoch 2, top 4 of 12 layers on cached states", top4[^1], "s", "epoch 2, full fine-tuning", full[^1], "cached/full time");
        report.Add(LayersBase, "epoch 1, top 4 (includes building the cache)", top4[0], "s", "epoch 1, full fine-tuning", full[0], "cached/full time");
        report.Note($"BERT-Base: random weights (L=12, H=768, A=12, I=3072, vocab 30522), the first {examples.Count} SST-2 train sentences "
            + "(bert-base-uncased vocabulary, up to 128 tokens), batch 32, length grouping, 2 epochs, fp32");
        report.Print(LayersBase);
    }

    private static List<double> BaseRun(IReadOnlyList<EncodedExample> examples, TrainerOptions options)
    {
        var config = Shape.Base.Config();
        random.manual_seed(17);
        using var model = new BertForTask(config, new SequenceClassificationHead(config));
        var timer = new StepTimer();
        new Trainer(model, Quiet(options)).Train(new InMemoryExamples(examples), callbacks: [timer]);
        return timer.EpochSeconds;
    }

    // Helpers -----------------------------------------------------------------------------------------------------------

    private static TrainerOptions Quiet(TrainerOptions options) => options with
    {
        EvaluateEveryEpoch = false,
        SaveEveryEpoch = false,
        LoggingSteps = 1_000_000,
    };
}
