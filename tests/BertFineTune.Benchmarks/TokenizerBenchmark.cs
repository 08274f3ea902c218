using System.Diagnostics;
using System.Text.Json;
using BertFineTune.Tokenization;

namespace BertFineTune.Benchmarks;

/// <summary>
/// Encodes every sentence of a text file with this library's tokenizer, raw Microsoft.ML.Tokenizers and
/// FastBertTokenizer in the same run, and prints tokens/s with the ratio to raw Microsoft.ML.Tokenizers.
/// </summary>
internal static class TokenizerBenchmark
{
    private const int Rounds = 7;

    public static int Run(string vocabPath, string textPath, string? jsonPath)
    {
        // SST-2 lines are "<label> <sentence>"; other files are taken line by line as they are.
        var texts = File.ReadAllLines(textPath)
            .Select(l => l.Length > 2 && char.IsDigit(l[0]) && l[1] == ' ' ? l[2..] : l)
            .Where(l => l.Length > 0)
            .ToArray();
        Console.WriteLine($"{texts.Length} texts from {textPath}, {texts.Sum(t => t.Length):N0} characters; "
            + $"median of {Rounds} rounds after a warm-up; {Environment.ProcessorCount} cores");

        var ours = BertTokenizer.Load(vocabPath);
        var ml = Microsoft.ML.Tokenizers.BertTokenizer.Create(vocabPath);
        var fast = new FastBertTokenizer.BertTokenizer();
        using (var reader = File.OpenText(vocabPath))
        {
            fast.LoadVocabulary(reader, convertInputToLowercase: true);
        }
        var ids = new long[512];
        var mask = new long[512];

        var results = new List<Result>
        {
            Measure("Microsoft.ML.Tokenizers EncodeToIds (reference)", texts, t => ml.EncodeToIds(t).Count),
            Measure("BertFineTune Encode (ids, offsets, word ids)", texts, t => ours.Encode(t).Length),
            Measure("FastBertTokenizer Encode", texts, t => { fast.Encode(t, ids.AsSpan(0, 512), mask.AsSpan(0, 512), 512); return Math.Max(ids.AsSpan(0, 512).IndexOf(0L), 0); }),
            MeasureBatch($"BertFineTune EncodeBatch ({Environment.ProcessorCount} threads)", texts,
                all => ours.EncodeBatch(all).Encodings.Sum(e => e.Length)),
        };

        double reference = results[0].TokensPerSecond;
        Console.WriteLine();
        Console.WriteLine($"{"tokenizer",-52} {"tokens",10} {"tokens/s",14} {"× reference",12}");
        foreach (var r in results)
        {
            Console.WriteLine($"{r.Name,-52} {r.Tokens,10:N0} {r.TokensPerSecond,14:N0} {r.TokensPerSecond / reference,12:F2}");
        }
        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(new
            {
                benchmark = "tokenizer",
                file = textPath,
                texts = texts.Length,
                processors = Environment.ProcessorCount,
                results = results.Select(r => new { r.Name, r.Tokens, r.TokensPerSecond, ratio = r.TokensPerSecond / reference }),
            }, new JsonSerializerOptions { WriteIndented = true }));
        }
        return 0;
    }

    private sealed record Result(string Name, long Tokens, double TokensPerSecond);

    private static Result Measure(string name, string[] texts, Func<string, int> encode) =>
        MeasureBatch(name, texts, all =>
        {
            long total = 0;
            foreach (var t in all)
            {
                total += encode(t);
            }
            return total;
        });

    private static Result MeasureBatch(string name, string[] texts, Func<string[], long> encodeAll)
    {
        long tokens = encodeAll(texts);
        var seconds = new List<double>();
        for (int round = 0; round < Rounds; round++)
        {
            var watch = Stopwatch.StartNew();
            encodeAll(texts);
            seconds.Add(watch.Elapsed.TotalSeconds);
        }
        seconds.Sort();
        return new Result(name, tokens, tokens / seconds[Rounds / 2]);
    }
}
