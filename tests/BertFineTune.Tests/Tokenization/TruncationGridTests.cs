using System.Globalization;
using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// Truncation on a grid of (strategy, max_length, stride, n1, n2), main window and overflow windows, against the
/// tokenizers crate itself: Data/truncation.tokenizers-0.23.2.txt was written by
/// tests/TokenizersReference/reference-truncation.mjs from the npm package tokenizers 0.23.2 (the Node binding of the
/// Rust crate behind transformers' fast tokenizer), whose rules are utils/truncation.rs <c>truncate_encodings</c> (both
/// texts cut: the shorter keeps max / 2, the longer max / 2 + max % 2; equal lengths: the second is "longer"),
/// <c>EncodedText::truncate</c> (windows of max_len overlapping by stride), and the 0.23 early exit (tokenizer/mod.rs
/// <c>do_tokenize</c>: a text stops after the word that reaches max_length tokens; with only_second the first text does not).
/// </summary>
public sealed class TruncationGridTests
{
    private static readonly BertTokenizer Tokenizer = Letters();

    private static readonly string[] Lines = File.ReadAllLines(Path.Combine(Fixtures.RepositoryRoot, "tests", "BertFineTune.Tests",
        "Tokenization", "Data", "truncation.tokenizers-0.23.2.txt")).Where(l => !l.StartsWith('#')).ToArray();

    private sealed record Setting(TruncationStrategy Strategy, int MaxLength, int Stride, int N1, int N2, string Result);

    private static IEnumerable<Setting> Settings() => Lines.Select(line =>
    {
        var f = line.Split(' ', 6);
        int Int(int i) => int.Parse(f[i], CultureInfo.InvariantCulture);
        return new Setting(Enum.Parse<TruncationStrategy>(f[0]), Int(1), Int(2), Int(3), Int(4), f[5]);
    });

    /// <summary>n one-letter words starting at <paramref name="from"/>: one token each.</summary>
    private static string Text(int n, int from) => string.Join(' ', Enumerable.Range(0, n).Select(i => (char)('a' + (from + i) % 26)));

    /// <summary>A window as the reference file writes it: the first text's letters, '|', the second's.</summary>
    private static string Describe(BertFineTune.Tokenization.EncodedText window, bool pair)
    {
        string Side(int sequence) => string.Concat(Enumerable.Range(0, window.Length)
            .Where(i => window.SequenceIds[i] == sequence).Select(i => (char)('a' + window.Ids[i] - LetterId('a'))));
        int[] specials = pair ? [2, 3, 3] : [2, 3];
        Assert.Equal(specials, Enumerable.Range(0, window.Length).Where(i => window.SequenceIds[i] is null).Select(i => window.Ids[i]));
        Assert.Equal(2, window.Ids[0]);
        Assert.Equal(3, window.Ids[^1]);
        return pair ? $"{Side(0)}|{Side(1)}" : Side(0);
    }

    private static string Run(Setting s, bool earlyExit)
    {
        var options = new EncodingOptions
        {
            Truncation = s.Strategy,
            MaxLength = s.MaxLength,
            Stride = s.Stride,
            ReturnOverflowingTokens = true,
            TokenizersEarlyExit = earlyExit,
        };
        string? pair = s.N2 < 0 ? null : Text(s.N2, 13);
        try
        {
            var windows = Tokenizer.EncodeWindows(Text(s.N1, 0), pair, options);
            var main = Tokenizer.Encode(Text(s.N1, 0), pair, options with { ReturnOverflowingTokens = false });
            Assert.Equal(windows[0].Ids, main.Ids);
            return string.Join(' ', windows.Select(w => Describe(w, pair is not null)));
        }
        catch (ArgumentException)
        {
            // The crate panics (stride >= a sequence's max_len) or returns an error (nothing left to cut); the library
            // throws ArgumentException for both.
            return "refused";
        }
    }

    private static string Expected(Setting s) => s.Result is "panic" or "error" ? "refused" : s.Result;

    [Fact]
    public void Every_setting_of_the_grid_keeps_what_the_crate_keeps_with_the_early_exit()
    {
        // TokenizersEarlyExit reproduces tokenizers 0.23 (transformers 5.x) exactly.
        var failures = Settings().Select(s => (s, Actual: Run(s, earlyExit: true)))
            .Where(r => r.Actual != Expected(r.s)).Take(30)
            .Select(r => $"{r.s.Strategy} max {r.s.MaxLength} stride {r.s.Stride} n1 {r.s.N1} n2 {r.s.N2}: crate {r.s.Result}, library {r.Actual}")
            .ToList();

        Assert.True(Lines.Length > 6_000, "The grid should cover every setting.");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void Without_the_early_exit_the_grid_is_the_same_wherever_the_early_exit_does_not_cut()
    {
        // The early exit stops a text after the word that reaches max_length tokens; a text of at most max_length
        // tokens is tokenized whole either way, so there the crate's result is also the rule's without the early exit.
        var settings = Settings().Where(s => s.N1 <= s.MaxLength && s.N2 <= s.MaxLength).ToList();
        var failures = settings.Select(s => (s, Actual: Run(s, earlyExit: false)))
            .Where(r => r.Actual != Expected(r.s)).Take(30)
            .Select(r => $"{r.s.Strategy} max {r.s.MaxLength} stride {r.s.Stride} n1 {r.s.N1} n2 {r.s.N2}: crate {r.s.Result}, library {r.Actual}")
            .ToList();

        Assert.NotEmpty(settings);
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void Longest_first_gives_the_odd_token_to_the_longer_text_and_on_a_tie_to_the_second()
    {
        // The setting: max_length 24 leaves 21 for the texts; 30 and 20 tokens: the shorter (second) keeps
        // 21 / 2 = 10, the longer 10 + 21 % 2 = 11. Ties (26 and 26 after the early exit at 24 for 30 / 26): the first
        // keeps 10, the second 11. Worked by hand from utils/truncation.rs; tokenizers 0.23.2 gives the same four.
        var options = new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 24 };
        string Long(int n) => string.Join(' ', Enumerable.Range(0, n).Select(i => (char)('a' + i % 26)));

        var longerFirst = Tokenizer.Encode(Long(30), Long(20), options);
        var longerSecond = Tokenizer.Encode(Long(20), Long(30), options);
        var tie = Tokenizer.Encode(Long(30), Long(26), options with { TokenizersEarlyExit = true });
        var noTie = Tokenizer.Encode(Long(30), Long(26), options);

        Assert.Equal((11, 10), (longerFirst.SequenceIds.Count(s => s == 0), longerFirst.SequenceIds.Count(s => s == 1)));
        Assert.Equal((10, 11), (longerSecond.SequenceIds.Count(s => s == 0), longerSecond.SequenceIds.Count(s => s == 1)));
        Assert.Equal((10, 11), (tie.SequenceIds.Count(s => s == 0), tie.SequenceIds.Count(s => s == 1)));
        Assert.Equal((11, 10), (noTie.SequenceIds.Count(s => s == 0), noTie.SequenceIds.Count(s => s == 1)));
    }
}
