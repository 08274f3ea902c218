using System.Globalization;
using BertFineTune.Conformance;

// bert-conformance model --model <dir> [--tolerance 1e-5]
const string Usage = "usage: BertFineTune.Conformance model --model <dir> [--tolerance 1e-5]";
if (args.Length == 0 || args[0] != "model")
{
    Console.Error.WriteLine(Usage);
    return 2;
}
string? folder = null;
double tolerance = 1e-5;
for (int i = 1; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--model" when i + 1 < args.Length:
            folder = args[++i];
            break;
        case "--tolerance" when i + 1 < args.Length
            && double.TryParse(args[i + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) && parsed >= 0:
            tolerance = parsed;
            i++;
            break;
        default:
            Console.Error.WriteLine($"unexpected argument '{args[i]}'. {Usage}");
            return 2;
    }
}
if (folder is null)
{
    Console.Error.WriteLine($"--model is required. {Usage}");
    return 2;
}

try
{
    var results = ReferenceComparison.Run(folder, tolerance);
    foreach (var result in results)
    {
        Console.WriteLine(result);
    }
    int passed = results.Count(r => r.Passed);
    Console.WriteLine(passed == results.Count && results.Count > 0
        ? $"PASS {passed}/{results.Count}"
        : $"FAIL {results.Count - passed}/{results.Count}");
    return passed == results.Count && results.Count > 0 ? 0 : 1;
}
catch (Exception e) when (e is IOException or FormatException or InvalidOperationException or NotSupportedException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.WriteLine("FAIL 1/1");
    return 1;
}
