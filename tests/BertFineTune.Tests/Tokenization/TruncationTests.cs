using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// Truncation as the tokenizers crate does it (<c>truncate_encodings</c>), worked by hand on one-letter words so that
/// every word is one token. Budget = MaxLength minus the special tokens (2 for one text, 3 for a pair).
/// </summary>
public sealed class TruncationTests
{
    private const int Cls = 2;
    private const int Sep = 3;

    private static readonly BertTokenizer Tokenizer = Letters();

    private static int[] Ids(string letters) => letters.Select(LetterId).ToArray();

    private static int[] Pair(string first, string second) => [Cls, .. Ids(first), Sep, .. Ids(second), Sep];

    private static EncodingOptions Truncate(TruncationStrategy strategy, int? maxLength, int stride = 0) =>
        new() { Truncation = strategy, MaxLength = maxLength, Stride = stride };

    [Fact]
    public void Single_text_longest_first_keeps_the_first_tokens()
    {
        // 8 tokens, budget 5 - 2 = 3: a b c.
        var encoding = Tokenizer.Encode(Words("abcdefgh"), null, Truncate(TruncationStrategy.LongestFirst, 5));

        Assert.Equal([Cls, .. Ids("abc"), Sep], encoding.Ids);
    }

    [Fact]
    public void Pair_that_fits_is_not_truncated()
    {
        // 4 + 3 = 7 tokens, budget 10 - 3 = 7: nothing to remove.
        var encoding = Tokenizer.Encode(Words("abcd"), Words("xyz"), Truncate(TruncationStrategy.OnlyFirst, 10));

        Assert.Equal(Pair("abcd", "xyz"), encoding.Ids);
    }

    [Fact]
    public void Pair_longest_first_cuts_only_the_longer_text_when_that_is_enough()
    {
        // n1 = 3 (shorter, the second), n2 = 8. Budget 7: n2 = max(n1, 7 - n1) = 4 and 3 + 4 <= 7, so the first
        // keeps 4 and the second stays whole.
        var encoding = Tokenizer.Encode(Words("abcdefgh"), Words("xyz"), Truncate(TruncationStrategy.LongestFirst, 10));

        Assert.Equal(Pair("abcd", "xyz"), encoding.Ids);
    }

    [Fact]
    public void Pair_longest_first_splits_the_budget_with_the_extra_token_to_the_longer_text()
    {
        // n1 = 6 (second), n2 = 8 (first). n2 = max(6, 7 - 6) = 6, 6 + 6 > 7, so n1 = 7 / 2 = 3 and
        // n2 = 3 + 7 % 2 = 4; swapped back: the first (longer) keeps 4, the second 3.
        var encoding = Tokenizer.Encode(Words("abcdefgh"), Words("stuvwx"), Truncate(TruncationStrategy.LongestFirst, 10));

        Assert.Equal(Pair("abcd", "stu"), encoding.Ids);
    }

    [Fact]
    public void Pair_longest_first_of_equal_lengths_gives_the_extra_token_to_the_second_text()
    {
        // 6 and 6, no swap: n1 = 3 for the first, n2 = 4 for the second. (Python's slow tokenizer, removing one token
        // at a time, would keep 4 and 3; the fast tokenizer's crate rule is the one to match.)
        var encoding = Tokenizer.Encode(Words("abcdef"), Words("uvwxyz"), Truncate(TruncationStrategy.LongestFirst, 10));

        Assert.Equal(Pair("abc", "uvwx"), encoding.Ids);
    }

    [Fact]
    public void Only_first_removes_every_excess_token_from_the_first_text()
    {
        // 8 + 3 = 11, budget 7: 4 tokens go, all from the first.
        var encoding = Tokenizer.Encode(Words("abcdefgh"), Words("xyz"), Truncate(TruncationStrategy.OnlyFirst, 10));

        Assert.Equal(Pair("abcd", "xyz"), encoding.Ids);
    }

    [Fact]
    public void Only_first_leaves_the_second_text_whole_even_when_it_is_longer()
    {
        // 4 + 6 = 10, budget 8: 2 tokens go from the first although the second is longer.
        var encoding = Tokenizer.Encode(Words("abcd"), Words("stuvwx"), Truncate(TruncationStrategy.OnlyFirst, 11));

        Assert.Equal(Pair("ab", "stuvwx"), encoding.Ids);
    }

    [Fact]
    public void Only_second_removes_every_excess_token_from_the_second_text()
    {
        // 3 + 8 = 11, budget 7: 4 go from the second.
        var encoding = Tokenizer.Encode(Words("abc"), Words("defghijk"), Truncate(TruncationStrategy.OnlySecond, 10));

        Assert.Equal(Pair("abc", "defg"), encoding.Ids);
    }

    [Fact]
    public void Without_special_tokens_the_whole_max_length_is_budget()
    {
        var options = Truncate(TruncationStrategy.LongestFirst, 5) with { AddSpecialTokens = false };

        var encoding = Tokenizer.Encode(Words("abcdefgh"), null, options);

        Assert.Equal(Ids("abcde"), encoding.Ids);
    }

    [Fact]
    public void Max_length_equal_to_the_special_tokens_leaves_only_them()
    {
        // Budget 0: the crate truncates the sequence to nothing (max_length == 0 case), it does not raise.
        var encoding = Tokenizer.Encode(Words("abc"), null, Truncate(TruncationStrategy.LongestFirst, 2));

        Assert.Equal([Cls, Sep], encoding.Ids);
    }

    [Fact]
    public void Max_length_defaults_to_the_model_max_length()
    {
        var tokenizer = Letters(new BertTokenizerOptions { ModelMaxLength = 6 });

        var encoding = tokenizer.Encode(Words("abcdefgh"), null, new EncodingOptions { Truncation = TruncationStrategy.LongestFirst });

        Assert.Equal([Cls, .. Ids("abcd"), Sep], encoding.Ids);
    }

    [Fact]
    public void Explicit_max_length_overrides_the_model_max_length()
    {
        var tokenizer = Letters(new BertTokenizerOptions { ModelMaxLength = 6 });

        var encoding = tokenizer.Encode(Words("abcdefgh"), null, Truncate(TruncationStrategy.LongestFirst, 4));

        Assert.Equal([Cls, .. Ids("ab"), Sep], encoding.Ids);
    }

    [Fact]
    public void Model_max_length_does_not_truncate_when_truncation_is_off()
    {
        var tokenizer = Letters(new BertTokenizerOptions { ModelMaxLength = 6 });

        Assert.Equal(10, tokenizer.Encode(Words("abcdefgh")).Length);
    }

    [Fact]
    public void Folder_with_huge_model_max_length_is_capped_at_max_position_embeddings()
    {
        // The fixture folders say model_max_length 1e30 (transformers' "unset") and max_position_embeddings 128:
        // the library caps at what the model can embed, so default truncation gives 128 tokens.
        var tokenizer = BertTokenizer.Load(Fixtures.Model("seq_cls"));
        var text = string.Join(' ', Enumerable.Repeat("hello", 500));

        var encoding = tokenizer.Encode(text, null, new EncodingOptions { Truncation = TruncationStrategy.LongestFirst });

        Assert.Equal(128, tokenizer.Options.ModelMaxLength);
        Assert.Equal(128, encoding.Length);
        Assert.Equal(VocabId("[SEP]"), encoding.Ids[^1]);
    }

    [Fact]
    public void Only_first_raises_when_the_first_text_is_too_short_to_make_room()
    {
        // 2 + 6 = 8, budget 3: 5 must go but the first has 2 (the crate's SequenceTooShort; Python raises).
        var e = Assert.Throws<ArgumentException>(() =>
            Tokenizer.Encode(Words("ab"), Words("cdefgh"), Truncate(TruncationStrategy.OnlyFirst, 6)));

        Assert.Contains("MaxLength", e.Message, StringComparison.Ordinal);
        Assert.Contains("LongestFirst", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Only_first_raises_when_removing_the_whole_first_text_would_be_needed()
    {
        // 2 + 5 = 7, budget 5: exactly 2 must go, the first has 2; the crate needs target_len > to_remove.
        Assert.Throws<ArgumentException>(() =>
            Tokenizer.Encode(Words("ab"), Words("cdefg"), Truncate(TruncationStrategy.OnlyFirst, 8)));
    }

    [Fact]
    public void Only_second_raises_when_the_second_text_is_too_short_to_make_room()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            Tokenizer.Encode(Words("cdefgh"), Words("ab"), Truncate(TruncationStrategy.OnlySecond, 6)));

        Assert.Contains("MaxLength", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Only_second_without_a_pair_raises_and_names_the_alternatives()
    {
        // The crate's SecondSequenceNotProvided: 8 tokens, budget 3, and no second text to cut.
        var e = Assert.Throws<ArgumentException>(() =>
            Tokenizer.Encode(Words("abcdefgh"), null, Truncate(TruncationStrategy.OnlySecond, 5)));

        Assert.Contains("pair", e.Message, StringComparison.Ordinal);
        Assert.Contains("LongestFirst", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Only_second_without_a_pair_that_fits_is_not_an_error()
    {
        // truncate_encodings returns before looking at the strategy when nothing has to go.
        var encoding = Tokenizer.Encode(Words("abc"), null, Truncate(TruncationStrategy.OnlySecond, 10));

        Assert.Equal([Cls, .. Ids("abc"), Sep], encoding.Ids);
    }

    [Fact]
    public void Fixture_pairs_that_python_refused_are_refused()
    {
        var tokenizer = Full;
        var refused = Rows("tokenizer_pairs.json").Where(r => r.TryGetProperty("error", out _)).ToList();
        Assert.NotEmpty(refused);

        foreach (var row in refused)
        {
            var strategy = row.GetProperty("truncation").GetString() == "only_first" ? TruncationStrategy.OnlyFirst : TruncationStrategy.OnlySecond;
            Assert.Throws<ArgumentException>(() => tokenizer.Encode(row.GetProperty("a").GetString()!, row.GetProperty("b").GetString(),
                Truncate(strategy, row.GetProperty("max_length").GetInt32()) with { TokenizersEarlyExit = true }));
        }
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(0, false)]
    [InlineData(2, true)]
    public void Max_length_smaller_than_the_special_tokens_raises(int maxLength, bool pair)
    {
        // The crate subtracts the special tokens from max_length in unsigned arithmetic; it cannot produce an output
        // of that length, so the request is refused with the minimum to use.
        int needed = pair ? 3 : 2;

        var e = Assert.Throws<ArgumentException>(() =>
            Tokenizer.Encode(Words("abc"), pair ? Words("de") : null, Truncate(TruncationStrategy.LongestFirst, maxLength)));

        Assert.Contains($"at least {needed}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stride_larger_than_max_length_minus_special_tokens_raises()
    {
        // with_truncation's check: effective max length 6 - 2 = 4 < stride 5 (raised even for a short text).
        var e = Assert.Throws<ArgumentException>(() =>
            Tokenizer.Encode(Words("ab"), null, Truncate(TruncationStrategy.LongestFirst, 6, stride: 5)));

        Assert.Contains("smaller stride", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Stride_equal_to_max_length_minus_special_tokens_is_accepted_when_nothing_is_cut()
    {
        // 4 is not < 4: the setting is valid, and "ab" fits.
        var encoding = Tokenizer.Encode(Words("ab"), null, Truncate(TruncationStrategy.LongestFirst, 6, stride: 4));

        Assert.Equal([Cls, .. Ids("ab"), Sep], encoding.Ids);
    }

    [Fact]
    public void Stride_not_smaller_than_the_room_left_for_the_cut_sequence_raises()
    {
        // Question of 5 tokens, MaxLength 12: the context keeps 12 - 3 - 5 = 4 tokens per window, and a stride of 5
        // cannot step forward (the crate asserts stride < max_len in EncodedText::truncate).
        var options = Truncate(TruncationStrategy.OnlySecond, 12, stride: 5) with { ReturnOverflowingTokens = true };

        var e = Assert.Throws<ArgumentException>(() => Tokenizer.EncodeWindows(Words("abcde"), Words("fghijklmnop"), options));

        Assert.Contains("smaller stride", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Negative_stride_raises()
    {
        Assert.Throws<ArgumentException>(() =>
            Tokenizer.Encode(Words("ab"), null, Truncate(TruncationStrategy.LongestFirst, 6, stride: -1)));
    }

    [Fact]
    public void Truncation_without_max_length_or_model_max_length_raises()
    {
        // transformers only logs a warning here and then does not truncate; this library refuses instead, so that a
        // request to truncate never silently returns an over-long input.
        var e = Assert.Throws<ArgumentException>(() =>
            Tokenizer.Encode(Words("abc"), null, new EncodingOptions { Truncation = TruncationStrategy.LongestFirst }));

        Assert.Contains("MaxLength", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncation_length_not_a_multiple_of_pad_to_multiple_of_raises()
    {
        // transformers' _get_padding_truncation_strategies: "Truncation and padding are both activated but truncation
        // length (12) is not a multiple of pad_to_multiple_of (8)" (ValueError).
        var options = new EncodingOptions
        {
            Truncation = TruncationStrategy.LongestFirst, MaxLength = 12, Padding = PaddingStrategy.Longest, PadToMultipleOf = 8,
        };

        var e = Assert.Throws<ArgumentException>(() => Tokenizer.Encode(Words("abc"), null, options));

        Assert.Contains("PadToMultipleOf", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncation_length_that_is_a_multiple_of_pad_to_multiple_of_is_accepted()
    {
        // 3 letters + 2 specials = 5, padded to the longest (5) rounded up to 8.
        var options = new EncodingOptions
        {
            Truncation = TruncationStrategy.LongestFirst, MaxLength = 16, Padding = PaddingStrategy.Longest, PadToMultipleOf = 8,
        };

        Assert.Equal(8, Tokenizer.Encode(Words("abc"), null, options).Length);
    }
}
