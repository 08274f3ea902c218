using System.Globalization;
using BertFineTune.Conformance;

// BertFineTune.Conformance model --model <dir> [--tolerance 1e-5]
// BertFineTune.Conformance tokenizer --tokenizer <vocab.txt | model folder> --fixture <file.json> [--lowercase true|false]
// BertFineTune.Conformance training --fixture <training_steps.json>
// BertFineTune.Conformance pipeline --fixture <pipeline_*.json> --models <models folder> [--runtime torch|onnx]
const string Usage = "usage: BertFineTune.Conformance model --model <dir> [--tolerance 1e-5]\n"
    + "       BertFineTune.Conformance tokenizer --tokenizer <vocab.txt | model folder> --fixture <file.json> [--lowercase true|false]\n"
    + "       BertFineTune.Conformance training --fixture <training_steps.json>\n"
    + "       BertFineTune.Conformance pipeline --fixture <pipeline_*.json> --models <models folder> [--runtime torch|onnx]";

if (args.Length == 0 || args[0] is not ("model" or "tokenizer" or "training" or "pipeline"))
{
    Console.Error.WriteLine(Usage);
    return 2;
}
var named = new Dictionary<string, string>(StringComparer.Ordinal);
for (int i = 1; i < args.Length; i++)
{
    if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
    {
        Console.Error.WriteLine($"unexpected argument '{args[i]}'.\n{Usage}");
        return 2;
    }
    named[args[i]] = args[++i];
}

try
{
    return args[0] switch
    {
        "model" => RunModel(named),
        "tokenizer" => RunTokenizer(named),
        "training" => RunTraining(named),
        _ => RunPipeline(named),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"{e.Message}\n{Usage}");
    return 2;
}
catch (Exception e) when (e is IOException or FormatException or InvalidOperationException or NotSupportedException
    or UnauthorizedAccessException or ArgumentException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.WriteLine("FAIL 1/1");
    return 1;
}

static int RunModel(Dictionary<string, string> named)
{
    var folder = Required(named, "--model");
    double tolerance = 1e-5;
    if (named.TryGetValue("--tolerance", out var text)
        && !(double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out tolerance) && tolerance >= 0))
    {
        throw new UsageException($"--tolerance '{text}' is not a non-negative number.");
    }
    CheckOnly(named, "--model", "--tolerance");
    var results = ReferenceComparison.Run(folder, tolerance);
    foreach (var result in results)
    {
        Console.WriteLine(result);
    }
    return Summarize(results.Count, results.Count(r => r.Passed));
}

static int RunTokenizer(Dictionary<string, string> named)
{
    var path = Required(named, "--tokenizer");
    var fixture = Required(named, "--fixture");
    bool? lowercase = null;
    if (named.TryGetValue("--lowercase", out var text))
    {
        lowercase = text switch
        {
            "true" => true,
            "false" => false,
            _ => throw new UsageException($"--lowercase must be true or false, not '{text}'."),
        };
    }
    CheckOnly(named, "--tokenizer", "--fixture", "--lowercase");
    var tokenizer = TokenizerComparison.LoadTokenizer(path, lowercase);
    var results = TokenizerComparison.Run(tokenizer, fixture);
    foreach (var failure in results.Where(r => !r.Passed).Take(10))
    {
        Console.WriteLine($"row {failure.Index}: {failure.Mismatch}");
    }
    return Summarize(results.Count, results.Count(r => r.Passed));
}

static int RunTraining(Dictionary<string, string> named)
{
    var fixture = Required(named, "--fixture");
    CheckOnly(named, "--fixture");
    var checks = TrainingComparison.Run(fixture);
    foreach (var check in checks)
    {
        Console.WriteLine(check);
    }
    return Summarize(checks.Count, checks.Count(c => c.Passed));
}

static int RunPipeline(Dictionary<string, string> named)
{
    var fixture = Required(named, "--fixture");
    var models = Required(named, "--models");
    CheckOnly(named, "--fixture", "--models", "--runtime");
    var runtime = named.GetValueOrDefault("--runtime", "torch") switch
    {
        "torch" => PipelineRuntime.Torch,
        "onnx" => PipelineRuntime.Onnx,
        var other => throw new UsageException($"--runtime must be torch or onnx, got '{other}'."),
    };
    var results = PipelineComparison.Run(fixture, models, runtime);
    foreach (var failure in results.Where(r => !r.Passed).Take(10))
    {
        Console.WriteLine($"row {failure.Index}: {failure.Mismatch}");
    }
    return Summarize(results.Count, results.Count(r => r.Passed));
}

static int Summarize(int total, int passed)
{
    bool ok = total > 0 && passed == total;
    Console.WriteLine(ok ? $"PASS {passed}/{total}" : $"FAIL {total - passed}/{total}");
    return ok ? 0 : 1;
}

static string Required(Dictionary<string, string> named, string name) =>
    named.TryGetValue(name, out var value) ? value : throw new UsageException($"{name} is required.");

static void CheckOnly(Dictionary<string, string> named, params string[] allowed)
{
    var unknown = named.Keys.FirstOrDefault(k => !allowed.Contains(k));
    if (unknown is not null)
    {
        throw new UsageException($"unknown option {unknown}.");
    }
}

internal sealed class UsageException(string message) : Exception(message);
