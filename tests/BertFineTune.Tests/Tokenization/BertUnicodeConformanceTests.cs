using System.Globalization;
using System.Text;
using BertFineTune.Tokenization;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// Every per-character decision of the BERT normaliser and pre-tokeniser (removed, white space, punctuation, CJK,
/// accents, lower case, canonical ordering) against the tokenizers crate itself. The expected values in Data/ were
/// written by tests/TokenizersReference/reference-bert-pre-tokenizer.mjs from the npm package tokenizers 0.23.2 (the Node binding of
/// the Rust crate transformers' fast tokenizer runs): its <c>bertNormalizer</c> + <c>bertPreTokenizer</c>.
/// </summary>
public sealed class BertUnicodeConformanceTests
{
    private const string Version = "0.23.2";

    private static string DataPath(string name) =>
        Path.Combine(Fixtures.RepositoryRoot, "tests", "BertFineTune.Tests", "Tokenization", "Data", $"{name}.tokenizers-{Version}.txt");

    /// <summary>The four settings the reference data covers; handle_chinese_chars and clean_text are on in all.</summary>
    private static BertTextNormalizer Normalizer(string configuration) => configuration switch
    {
        "cased" => new BertTextNormalizer(lowercase: false, stripAccents: false, splitChinese: true),
        "uncased" => new BertTextNormalizer(lowercase: true, stripAccents: true, splitChinese: true),
        "strip" => new BertTextNormalizer(lowercase: false, stripAccents: true, splitChinese: true),
        "lower" => new BertTextNormalizer(lowercase: true, stripAccents: false, splitChinese: true),
        _ => throw new ArgumentOutOfRangeException(nameof(configuration)),
    };

    /// <summary>The words of <paramref name="text"/>, offsets in code points (as the crate's Python and Node bindings give them).</summary>
    private static List<(string Text, int Start, int End)> Words(BertTextNormalizer normalizer, string text)
    {
        using var buffer = new NormalizedBuffer(text.Length);
        var words = new List<NormalizedWord>();
        normalizer.AppendWords(text, 0, text.Length, buffer, words);
        int CodePoints(int utf16)
        {
            int count = 0;
            foreach (var _ in text.AsSpan(0, utf16).EnumerateRunes())
            {
                count++;
            }
            return count;
        }
        return words.Select(w => (buffer.Slice(w.Start, w.End).ToString(),
            CodePoints(buffer.OriginalStart(w.Start)), CodePoints(buffer.OriginalEnd(w.End - 1)))).ToList();
    }

    private static string FromHex(string hexCodePoints) =>
        hexCodePoints.Length == 0
            ? ""
            : string.Concat(hexCodePoints.Split('.').Select(h => char.ConvertFromUtf32(int.Parse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture))));

    private static string Show(string text) =>
        string.Join(' ', text.EnumerateRunes().Select(r => $"U+{r.Value:X4}"));

    public static TheoryData<string> CodePointConfigurations() => new("cased", "uncased");

    public static TheoryData<string> StringConfigurations() => new("cased", "uncased", "strip", "lower");

    [Theory]
    [MemberData(nameof(CodePointConfigurations))]
    public void Every_code_point_between_two_letters_is_split_as_the_crate_splits_it(string configuration)
    {
        // Data/bert-code-points: for every scalar value c, the crate's words of "x" + c + "x" (K kept in the word, R removed,
        // W white space, I a word of its own, H Hangul decomposed, E explicit words).
        var normalizer = Normalizer(configuration);
        var failures = new List<string>();
        int checkedCount = 0;
        foreach (var (first, last, kind) in CodePointLines(configuration))
        {
            for (int c = first; c <= last; c++)
            {
                string ch = char.ConvertFromUtf32(c);
                string[] expected = kind[0] switch
                {
                    'K' => [$"x{ch}x"],
                    'R' => ["xx"],
                    'W' => ["x", "x"],
                    'I' => ["x", ch, "x"],
                    'H' => [$"x{HangulNfd(c)}x"],
                    'E' => kind[2..].Split('|').Select(FromHex).ToArray(),
                    _ => throw new InvalidDataException($"Unknown kind '{kind}' in bert-code-points."),
                };
                var actual = Words(normalizer, $"x{ch}x").Select(w => w.Text).ToArray();
                checkedCount++;
                if (!expected.SequenceEqual(actual) && failures.Count < 30)
                {
                    failures.Add($"U+{c:X4}: crate [{string.Join(" | ", expected.Select(Show))}], library [{string.Join(" | ", actual.Select(Show))}]");
                }
            }
        }

        Assert.Equal(0x110000 - 0x800, checkedCount);
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void Kept_non_starters_are_put_in_canonical_order_as_the_crate_orders_them()
    {
        // Data/bert-reordering: the combining characters that strip_accents keeps (not Mn in Unicode 8.0) but NFD moves
        // (non-zero combining class in Unicode 9.0); for each ordered pair, whether the crate keeps or swaps them.
        var lines = File.ReadAllLines(DataPath("bert-reordering")).Where(l => !l.StartsWith('#')).ToList();
        var characters = lines[0].Split(' ').Select(h => int.Parse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(characters.Count + 1, lines.Count);
        var normalizer = Normalizer("uncased");
        var failures = new List<string>();
        for (int i = 0; i < characters.Count; i++)
        {
            for (int j = 0; j < characters.Count; j++)
            {
                string a = char.ConvertFromUtf32(characters[i]), b = char.ConvertFromUtf32(characters[j]);
                string expected = lines[i + 1][j] == 'S' ? $"x{a}{b}x" : $"x{b}{a}x";
                var actual = Words(normalizer, $"x{a}{b}x").Select(w => w.Text).ToArray();
                if (!(actual.Length == 1 && actual[0] == expected) && failures.Count < 30)
                {
                    failures.Add($"U+{characters[i]:X4} U+{characters[j]:X4}: crate {Show(expected)}, library {string.Join(" | ", actual.Select(Show))}");
                }
            }
        }

        Assert.True(characters.Count > 0);
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Theory]
    [InlineData("x\U0001E944\u0007\U0001E94Ax", "x\U0001E94A\U0001E944x", 0, 5)]
    [InlineData("x\U0001E944\u200B\U0001E94Ax", "x\U0001E94A\U0001E944x", 0, 5)]
    [InlineData(" \u0301\U0001E94Ax", "\U0001E94Ax", 1, 4)]
    public void Removed_characters_do_not_end_a_combining_run_and_reordered_characters_take_spans_by_position(
        string text, string word, int start, int end)
    {
        // tokenizers 0.23.2 (uncased) gives these words and offsets (code points). clean_text removes BEL and U+200B
        // before NFD, so U+1E94A (class 7) still moves before U+1E944 (class 230). In " \u0301\U0001E94Ax" the run
        // [U+0301 (230), U+1E94A (7)] is sorted and U+1E94A takes the span of the run's first character, 1, not its own, 2
        // (NormalizedString::transform_range aligns by position).
        var words = Words(Normalizer("uncased"), text);

        Assert.Equal([(word, start, end)], words);
    }

    [Theory]
    [MemberData(nameof(StringConfigurations))]
    public void Mixed_strings_give_the_crate_words_and_offsets(string configuration)
    {
        // Data/bert-strings: 400 pseudo-random strings over characters of every kind (removed, white space, punctuation,
        // CJK edges, Hangul, accents composed and decomposed, marks of several classes, astral characters); the crate's
        // words with their offsets in code points.
        var normalizer = Normalizer(configuration);
        var failures = new List<string>();
        string? input = null;
        int checkedCount = 0;
        foreach (var line in File.ReadLines(DataPath("bert-strings")))
        {
            if (line.StartsWith("> ", StringComparison.Ordinal))
            {
                input = FromHex(line[2..]);
                continue;
            }
            if (!line.StartsWith(configuration + " ", StringComparison.Ordinal) && line != configuration)
            {
                continue;
            }
            var expected = line[configuration.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(word =>
            {
                var (text, span) = (word[..word.IndexOf('@')], word[(word.IndexOf('@') + 1)..].Split('-'));
                return (FromHex(text), int.Parse(span[0], CultureInfo.InvariantCulture), int.Parse(span[1], CultureInfo.InvariantCulture));
            }).ToList();
            var actual = Words(normalizer, input!);
            checkedCount++;
            if (!expected.SequenceEqual(actual) && failures.Count < 20)
            {
                failures.Add($"{Show(input!)}:\n  crate   {Describe(expected)}\n  library {Describe(actual)}");
            }
        }

        Assert.Equal(400, checkedCount);
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    private static string Describe(List<(string Text, int Start, int End)> words) =>
        string.Join(" | ", words.Select(w => $"{Show(w.Text)} [{w.Start}, {w.End})"));

    /// <summary>The Unicode Hangul syllable decomposition (Unicode 3.12): L V, plus T when the syllable has a final.</summary>
    private static string HangulNfd(int syllable)
    {
        int s = syllable - 0xAC00;
        var text = new StringBuilder().Append((char)(0x1100 + s / 588)).Append((char)(0x1161 + s % 588 / 28));
        return s % 28 == 0 ? text.ToString() : text.Append((char)(0x11A7 + s % 28)).ToString();
    }

    private static IEnumerable<(int First, int Last, string Kind)> CodePointLines(string configuration)
    {
        bool inSection = false;
        foreach (var line in File.ReadLines(DataPath("bert-code-points")))
        {
            if (line.StartsWith('#'))
            {
                continue;
            }
            if (line.StartsWith('['))
            {
                inSection = line == $"[{configuration}]";
                continue;
            }
            if (!inSection)
            {
                continue;
            }
            int space = line.IndexOf(' ');
            var range = line[..space].Split('-');
            int first = int.Parse(range[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            int last = range.Length > 1 ? int.Parse(range[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture) : first;
            yield return (first, last, line[(space + 1)..]);
        }
    }
}
