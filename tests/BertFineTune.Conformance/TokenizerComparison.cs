using System.Globalization;
using System.Text.Json;
using BertFineTune.Tokenization;

namespace BertFineTune.Conformance;

/// <summary>One fixture row compared with this library's tokenizer.</summary>
/// <param name="Index">The row's position in the fixture.</param>
/// <param name="Passed">Whether every field matched.</param>
/// <param name="Mismatch">The first field that differed, with both values, or null.</param>
public sealed record TokenizerRowResult(int Index, bool Passed, string? Mismatch);

/// <summary>
/// Compares the tokenizer with transformers' fixtures: <c>tokenizer_single.json</c> (ids, tokens, offsets, word ids,
/// decoded text), <c>tokenizer_pairs.json</c> (truncation strategies, type ids, offsets, sequence ids, refused requests)
/// and <c>tokenizer_overflow.json</c> (QA stride windows). Offsets are compared in code points, as Python counts them.
/// </summary>
public static class TokenizerComparison
{
    /// <summary>Loads a tokenizer from a vocab.txt file or a model folder, optionally overriding lower-casing.</summary>
    public static BertTokenizer LoadTokenizer(string path, bool? lowercase)
    {
        Func<BertTokenizerOptions, BertTokenizerOptions> configure =
            o => lowercase is { } lower ? o with { DoLowerCase = lower } : o;
        return Directory.Exists(path)
            ? BertTokenizer.Load(path, configure)
            : BertTokenizer.Load(path, _ => configure(new BertTokenizerOptions()));
    }

    /// <summary>Compares every row of <paramref name="fixturePath"/>.</summary>
    public static IReadOnlyList<TokenizerRowResult> Run(BertTokenizer tokenizer, string fixturePath)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(fixturePath));
        var rows = document.RootElement.GetProperty("rows").EnumerateArray().ToList();
        var results = new List<TokenizerRowResult>(rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            string? mismatch;
            try
            {
                var row = rows[i];
                mismatch = row.TryGetProperty("context", out _) ? CompareOverflow(tokenizer, row)
                    : row.TryGetProperty("truncation", out _) ? ComparePair(tokenizer, row)
                    : CompareSingle(tokenizer, row);
            }
            catch (ArgumentException e)
            {
                mismatch = $"raised where Python did not: {e.Message}";
            }
            results.Add(new TokenizerRowResult(i, mismatch is null, mismatch));
        }
        return results;
    }

    private static string? CompareSingle(BertTokenizer tokenizer, JsonElement row)
    {
        var text = row.GetProperty("text").GetString()!;
        var encoding = tokenizer.Encode(text);
        return Check("ids", Ints(row.GetProperty("ids")), encoding.Ids)
            ?? Check("tokens", Strings(row.GetProperty("tokens")), encoding.Tokens)
            ?? Check("offsets", Offsets(row.GetProperty("offsets")), CodePointOffsets(encoding, text, null))
            ?? Check("word_ids", NullableInts(row.GetProperty("word_ids")), encoding.WordIds)
            ?? (row.TryGetProperty("decoded", out var decoded)
                ? Check("decoded", [decoded.GetString()!], [tokenizer.Decode(encoding.Ids)])
                : null);
    }

    private static string? ComparePair(BertTokenizer tokenizer, JsonElement row)
    {
        var a = row.GetProperty("a").GetString()!;
        var b = row.GetProperty("b").GetString()!;
        var options = new EncodingOptions
        {
            Truncation = row.GetProperty("truncation").GetString() switch
            {
                "longest_first" => TruncationStrategy.LongestFirst,
                "only_first" => TruncationStrategy.OnlyFirst,
                "only_second" => TruncationStrategy.OnlySecond,
                _ => TruncationStrategy.None,
            },
            MaxLength = row.TryGetProperty("max_length", out var max) && max.ValueKind == JsonValueKind.Number ? max.GetInt32() : null,
            TokenizersEarlyExit = true,
        };
        if (row.TryGetProperty("error", out var error))
        {
            try
            {
                tokenizer.Encode(a, b, options);
                return $"Python raised {error.GetString()} but this tokenizer encoded the pair";
            }
            catch (ArgumentException)
            {
                return null;
            }
        }
        var encoding = tokenizer.Encode(a, b, options);
        return Check("ids", Ints(row.GetProperty("ids")), encoding.Ids)
            ?? Check("token_type_ids", Ints(row.GetProperty("token_type_ids")), encoding.TypeIds)
            ?? Check("offsets", Offsets(row.GetProperty("offsets")), CodePointOffsets(encoding, a, b))
            ?? Check("sequence_ids", NullableInts(row.GetProperty("sequence_ids")), encoding.SequenceIds);
    }

    private static string? CompareOverflow(BertTokenizer tokenizer, JsonElement row)
    {
        var question = row.GetProperty("question").GetString()!;
        var context = row.GetProperty("context").GetString()!;
        var options = new EncodingOptions
        {
            Truncation = TruncationStrategy.OnlySecond,
            MaxLength = row.GetProperty("max_length").GetInt32(),
            Stride = row.GetProperty("stride").GetInt32(),
            ReturnOverflowingTokens = true,
            Padding = PaddingStrategy.MaxLength,
            // The fixtures come from transformers 5.x, whose tokenizers crate stops tokenizing at max_length.
            TokenizersEarlyExit = true,
        };
        var batch = tokenizer.EncodeBatch([question], [context], options);
        var windows = batch.Encodings;
        var expectedIds = row.GetProperty("input_ids").EnumerateArray().ToList();
        if (expectedIds.Count != windows.Count)
        {
            return $"windows: expected {expectedIds.Count}, got {windows.Count}";
        }
        var mismatch = Check("overflow_to_sample_mapping", Ints(row.GetProperty("overflow_to_sample_mapping")), batch.SampleMapping);
        for (int w = 0; w < windows.Count && mismatch is null; w++)
        {
            var e = windows[w];
            mismatch = Check($"window {w} input_ids", Ints(expectedIds[w]), e.Ids)
                ?? Check($"window {w} token_type_ids", Ints(row.GetProperty("token_type_ids")[w]), e.TypeIds)
                ?? Check($"window {w} attention_mask", Ints(row.GetProperty("attention_mask")[w]), e.AttentionMask)
                ?? Check($"window {w} offsets", Offsets(row.GetProperty("offsets")[w]), CodePointOffsets(e, question, context))
                ?? Check($"window {w} sequence_ids", NullableInts(row.GetProperty("sequence_ids")[w]), e.SequenceIds);
        }
        return mismatch;
    }

    /// <summary>UTF-16 offsets → code-point offsets in the token's own text (Python counts code points).</summary>
    private static List<(int, int)> CodePointOffsets(EncodedText encoding, string first, string? second)
    {
        var result = new List<(int, int)>(encoding.Length);
        for (int i = 0; i < encoding.Length; i++)
        {
            var (start, end) = encoding.Offsets[i];
            var text = encoding.SequenceIds[i] == 1 ? second! : first;
            result.Add(encoding.SequenceIds[i] is null ? (start, end) : (CodePoints(text, start), CodePoints(text, end)));
        }
        return result;
    }

    private static int CodePoints(string text, int utf16Index)
    {
        int count = 0;
        for (int i = 0; i < utf16Index; i++)
        {
            if (!(char.IsLowSurrogate(text[i]) && i > 0 && char.IsHighSurrogate(text[i - 1])))
            {
                count++;
            }
        }
        return count;
    }

    private static string? Check<T>(string field, IReadOnlyList<T> expected, IReadOnlyList<T> actual)
    {
        if (expected.SequenceEqual(actual))
        {
            return null;
        }
        int at = Enumerable.Range(0, Math.Min(expected.Count, actual.Count)).FirstOrDefault(i => !Equals(expected[i], actual[i]), Math.Min(expected.Count, actual.Count));
        return $"{field} differ at position {at}: expected [{Show(expected)}], got [{Show(actual)}]";
    }

    private static string Show<T>(IReadOnlyList<T> values) =>
        string.Join(", ", values.Take(40).Select(v => v switch
        {
            null => "null",
            ValueTuple<int, int> t => $"({t.Item1},{t.Item2})",
            _ => Convert.ToString(v, CultureInfo.InvariantCulture),
        })) + (values.Count > 40 ? ", …" : "");

    private static List<int> Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToList();

    private static List<int?> NullableInts(JsonElement array) =>
        array.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? (int?)null : e.GetInt32()).ToList();

    private static List<string> Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToList();

    private static List<(int, int)> Offsets(JsonElement array) =>
        array.EnumerateArray().Select(e => (e[0].GetInt32(), e[1].GetInt32())).ToList();
}
