using System.Diagnostics;
using System.Globalization;
using BertFineTune.Benchmarks;
using BertFineTune.Runtime;
using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

// Benchmarks print each figure next to a reference measured in the same run.
//   dotnet run -c Release --project tests/BertFineTune.Benchmarks -- tokenizer [--vocab <vocab.txt>] [--file <text file>] [--json <out.json>]
//   dotnet run -c Release --project tests/BertFineTune.Benchmarks -- all [--json <out.json>] [--quick] [--threads N]
//   (or one of: roofline, training, sst2, accuracy, frozen, inference, memory, contention, layers, layers-base)
//   dotnet run -c Release --project tests/BertFineTune.Benchmarks -- quality [--model <folder>] [--tasks sst2,trec,…] [--fp32] [--quick]
//                                                                             [--json <out.json>] [--markdown <out.md>]
//   dotnet run -c Release --project tests/BertFineTune.Benchmarks -- onnx [--quick] [--threads N] [--json <out.json>] [--markdown <out.md>]
const string Usage = "usage: BertFineTune.Benchmarks tokenizer [--vocab <vocab.txt>] [--file <text file>] [--json <out.json>]\n"
    + "       BertFineTune.Benchmarks all|roofline|training|sst2|accuracy|frozen|inference|memory|contention|layers|layers-base\n"
    + "                               [--json <out.json>] [--quick] [--threads N]\n"
    + "                               [--vocab <vocab.txt>] [--sst2 <stsa.binary.train>]\n"
    + "       BertFineTune.Benchmarks quality [--model <folder>] [--tasks sst2,trec,…] [--fp32] [--quick] [--json <out.json>] [--markdown <out.md>]\n"
    + "       BertFineTune.Benchmarks onnx [--quick] [--threads N] [--json <out.json>] [--markdown <out.md>]";
string[] models = ["roofline", "training", "sst2", "accuracy", "frozen", "inference", "memory", "contention", "layers", "layers-base"];
if (args.Length == 7 && args[0] == "contention-probe" && args[1] == "--datasets" && args[3] == "--steps" && args[5] == "--threads")
{
    // The child process of the contention section (SpeedBenchmark.RunContention), started with its own OpenMP settings.
    return SpeedBenchmark.ContentionProbe(args[2], int.Parse(args[4], CultureInfo.InvariantCulture), int.Parse(args[6], CultureInfo.InvariantCulture));
}
if (args.Length == 0 || !(args[0] == "tokenizer" || args[0] == "all" || args[0] == "quality" || args[0] == "onnx" || models.Contains(args[0])))
{
    Console.Error.WriteLine(Usage);
    return 2;
}
var options = new Dictionary<string, string>(StringComparer.Ordinal);
bool quick = false;
for (int i = 1; i < args.Length; i++)
{
    if (args[i] == "--quick")
    {
        quick = true;
    }
    else if (args[i] == "--fp32")
    {
        options["--fp32"] = "true";
    }
    else if (args[i].StartsWith("--", StringComparison.Ordinal) && i + 1 < args.Length)
    {
        options[args[i]] = args[++i];
    }
    else
    {
        Console.Error.WriteLine($"unexpected argument '{args[i]}'.\n{Usage}");
        return 2;
    }
}
var shared = Path.Combine("..", "shared");
var vocab = options.GetValueOrDefault("--vocab", Path.Combine(shared, "fixtures", "vocab", "bert-base-uncased-vocab.txt"));
var sst2 = options.GetValueOrDefault("--sst2", options.GetValueOrDefault("--file", Path.Combine(shared, "datasets", "sentence-classification", "stsa.binary.train")));
if (args[0] == "tokenizer")
{
    return TokenizerBenchmark.Run(vocab, sst2, options.GetValueOrDefault("--json"));
}
if (args[0] == "quality")
{
    return QualityCommand.Run(options, quick, Path.Combine(shared, "datasets"));
}

if (options.TryGetValue("--threads", out var threadsText))
{
    if (!int.TryParse(threadsText, NumberStyles.None, CultureInfo.InvariantCulture, out var threads))
    {
        Console.Error.WriteLine($"--threads '{threadsText}' is not a number.\n{Usage}");
        return 2;
    }
    TorchThreads.Set(threads);
}
foreach (var path in new[] { vocab, sst2 })
{
    if (!File.Exists(path))
    {
        Console.Error.WriteLine($"not found: {path} (run from the repository root, or pass --vocab / --sst2)");
        return 2;
    }
}

bool bf16 = BFloat16Support.IsSupported(CPU, out var bf16Reason);
var started = DateTimeOffset.Now;
// Another process on the same cores makes each multi-threaded libtorch operation wait for a time slice: small operations
// then take milliseconds and every figure is off. Say so rather than print numbers that look real.
double? load = File.Exists("/proc/loadavg")
    && double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var l) ? l : null;
var header = new
{
    date = started.ToString("yyyy-MM-dd HH:mm zzz", CultureInfo.InvariantCulture),
    command = string.Join(' ', args),
    quick,
    processors = Environment.ProcessorCount,
    torchThreads = TorchThreads.Count,
    bf16Supported = bf16,
    bf16Reason,
    loadAverageAtStart = load,
    os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
    runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
};
Console.WriteLine($"{header.date}: {header.processors} logical processors, {header.torchThreads} libtorch threads, bf16 {(bf16 ? "on" : "off")} ({bf16Reason}); "
    + $"{(quick ? "quick run" : "full run")}");

if (load > 0.5)
{
    Console.WriteLine($"warning: load average {load:F1} at start: other processes use these cores, so the timings are unreliable "
        + "(with several libtorch threads each operation may wait for a time slice; --threads 1 suffers least).");
}

if (args[0] == "onnx")
{
    var onnx = new OnnxBenchmark(quick, Path.Combine(shared, "datasets"));
    var onnxClock = Stopwatch.StartNew();
    // ONNX Runtime gets as many intra-op threads as libtorch: the rows differ in runtime only.
    Console.WriteLine($"onnx: {TorchThreads.Count} libtorch threads = {TorchThreads.Count} ONNX Runtime intra-op threads (sequential execution); "
        + $"ONNX Runtime {OrtEnv.Instance().GetVersionString()}");
    onnx.Run(TorchThreads.Count);
    string onnxHeader = $"`{string.Join(' ', ["dotnet run -c Release --project tests/BertFineTune.Benchmarks --", .. args])}` on {header.date}: "
        + $"{header.processors} logical processors ({OnnxBenchmark.CpuName()}), {header.os}, {header.runtime}, {TorchThreads.Count} threads for every row, "
        + $"ONNX Runtime {OrtEnv.Instance().GetVersionString()}, load average {load?.ToString("F1", CultureInfo.InvariantCulture) ?? "unknown"} at start"
        + (load > 0.5 ? " (**busy machine**: other processes shared the cores, the timings are unreliable)" : "") + ".";
    var markdownTable = onnx.Markdown(onnxHeader);
    Console.WriteLine();
    Console.WriteLine(markdownTable);
    Console.WriteLine($"total {onnxClock.Elapsed.TotalMinutes:F1} min");
    if (options.GetValueOrDefault("--markdown") is { } onnxMarkdown)
    {
        File.WriteAllText(onnxMarkdown, markdownTable);
    }
    if (options.GetValueOrDefault("--json") is { } onnxJson)
    {
        onnx.WriteJson(onnxJson, header);
    }
    return 0;
}

var report = new Report();
var benchmarks = new ModelBenchmarks(new BenchmarkSettings(quick, vocab, sst2), report);
var speed = new SpeedBenchmark(quick, Path.Combine(shared, "datasets"), report);
var clock = Stopwatch.StartNew();
// Memory first, so the process's peak working set is that of the tiny model's run alone.
var sections = args[0] == "all"
    ? ["memory", "roofline", "training", "sst2", "accuracy", "frozen", "inference", "contention", "layers", "layers-base"]
    : new[] { args[0] };
foreach (var section in sections)
{
    var sectionClock = Stopwatch.StartNew();
    switch (section)
    {
        case "memory": benchmarks.RunMemory(); break;
        case "roofline": benchmarks.RunRoofline(); break;
        case "training": benchmarks.RunTraining(); break;
        case "sst2": benchmarks.RunSst2(); break;
        case "accuracy": benchmarks.RunAccuracy(); break;
        case "frozen": benchmarks.RunFrozen(); break;
        case "contention": speed.RunContention(); break;
        case "layers": speed.RunLayers(); break;
        case "layers-base": speed.RunLayersBase(benchmarks.Sst2Examples()); break;
        default: benchmarks.RunInference(); break;
    }
    Console.WriteLine($"  ({section}: {sectionClock.Elapsed.TotalSeconds:F0} s)");
}

Console.WriteLine();
Console.WriteLine("== summary ==");
foreach (var f in report.Figures.Where(f => f.RatioMeaning is "mixed/fp32 time" or "dynamic/fixed time" or "speed-up" or "of roofline"
    or "bf16/fp32 time" or "busy/quiet" or "cached/full time"))
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {f.Section,-30} {f.Name,-52} {f.RatioMeaning,-16} {f.Ratio:F2}"));
}
Console.WriteLine($"total {clock.Elapsed.TotalMinutes:F1} min");
if (options.GetValueOrDefault("--json") is { } json)
{
    report.WriteJson(json, header);
}
return 0;
