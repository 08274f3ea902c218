using BertFineTune.Tokenization;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// The matching rules of the tokenizers crate's <c>AddedVocabulary</c> (<c>tokenizers/src/tokenizer/added_vocabulary.rs</c>,
/// v0.23.1), at the level of its own unit tests: <c>extract_and_normalize</c> splits a text into pieces, each an added
/// token (with its id) or plain text. The cases and expected splits are the crate's tests
/// (<c>can_extract_added_tokens</c>, <c>options_use_cases</c>, <c>test_single_word_is_correct</c>,
/// <c>test_single_word_is_unicode_correct</c>, <c>test_lstrip_unicode_space</c>, <c>test_encode_special_tokens</c>,
/// <c>can_add_special_tokens</c>). The crate's tests use a bare <c>Lowercase</c> normalizer; here BERT's normalizer
/// (lower-casing, accents kept, no CJK spacing), which also maps white space to a space, so a normalized piece shows a
/// space where the crate's shows a tab or U+2000; offsets into the original text are checked too.
/// </summary>
public sealed class AddedVocabularyTests
{
    private static readonly BertTextNormalizer Lowercase = new(lowercase: true, stripAccents: false, splitChinese: false);
    private static readonly BertTextNormalizer Identity = new(lowercase: false, stripAccents: false, splitChinese: false);

    /// <summary>An added vocabulary over an empty model (the crate's <c>ModelMock::new(&amp;[])</c>): ids start at 0.</summary>
    private static AddedVocabulary Vocabulary(BertTextNormalizer normalizer, params AddedToken[] tokens) =>
        AddedVocabulary.Empty.With(tokens, _ => null, 0, normalizer, out _);

    /// <summary>
    /// <c>extract_and_normalize</c> then <c>get_splits(OffsetReferential::Original)</c>: non-normalized tokens are
    /// found in the original text, the rest is normalized, normalized tokens are found in that; empty pieces are dropped.
    /// </summary>
    private static List<(string Text, int? Id, (int Start, int End) Offsets)> Splits(AddedVocabulary vocabulary, BertTextNormalizer normalizer, string text)
    {
        var splits = new List<(string, int?, (int, int))>();
        var state = new MatchState();
        int position = 0;
        while (position < text.Length)
        {
            AddedTokenMatch match = default;
            bool found = vocabulary.RawMatcher is { } raw && raw.TryNext(text, ref state, out match);
            int end = found ? match.Start : text.Length;
            if (end > position)
            {
                NormalizedPiece(vocabulary, normalizer, text, position, end, splits);
            }
            if (!found)
            {
                break;
            }
            splits.Add((text[match.Start..match.Stop], match.Id, (match.Start, match.Stop)));
            position = match.Stop;
        }
        return splits;
    }

    private static void NormalizedPiece(AddedVocabulary vocabulary, BertTextNormalizer normalizer, string text, int start, int end,
        List<(string, int?, (int, int))> splits)
    {
        using var buffer = new NormalizedBuffer(end - start + 16);
        normalizer.AppendNormalized(text, start, end, buffer);
        var chars = buffer.Slice(0, buffer.Length).ToString();
        (int, int) Original(int from, int to) => (buffer.OriginalStart(from), buffer.OriginalEnd(to - 1));
        var state = new MatchState();
        int position = 0;
        while (position < chars.Length)
        {
            AddedTokenMatch match = default;
            bool found = vocabulary.NormalizedMatcher is { } matcher && matcher.TryNext(chars, ref state, out match);
            int pieceEnd = found ? match.Start : chars.Length;
            if (pieceEnd > position)
            {
                splits.Add((chars[position..pieceEnd], null, Original(position, pieceEnd)));
            }
            if (!found)
            {
                break;
            }
            splits.Add((chars[match.Start..match.Stop], match.Id, Original(match.Start, match.Stop)));
            position = match.Stop;
        }
    }

    private static AddedToken Special(string content) => new(content) { Special = true };

    [Fact]
    public void Can_extract_added_tokens()
    {
        // can_extract_added_tokens: no normalizer (here: BERT's without lower-casing, the same on this ASCII text).
        // "my" and "name" are normalized (AddedToken::from(_, false)); the specials are not.
        var vocabulary = Vocabulary(Identity, new AddedToken("my"), new AddedToken("name"), Special("[CLS]"), Special("[SEP]"));

        Assert.Equal(
            [("[CLS]", 2, (0, 5)), (" My ", null, (5, 9)), ("name", 1, (9, 13)), (" is Anthony ", null, (13, 25)), ("[SEP]", 3, (25, 30))],
            Splits(vocabulary, Identity, "[CLS] My name is Anthony [SEP]"));
    }

    [Fact]
    public void Options_use_cases()
    {
        // options_use_cases: "my" takes the spaces on both sides (lstrip, rstrip) and matches "My" because it is
        // normalized; "ony" is not taken out of "anthony" because it must be a single word.
        var vocabulary = Vocabulary(Lowercase,
            new AddedToken("my") { LStrip = true, RStrip = true }, new AddedToken("name"), new AddedToken("ony") { SingleWord = true });
        vocabulary = vocabulary.With([Special("[CLS]"), Special("[SEP]")], _ => null, 0, Lowercase, out _);

        Assert.Equal(
            [("[CLS]", 3, (0, 5)), (" my ", 0, (5, 9)), ("name", 1, (9, 13)), (" is anthony ", null, (13, 25)), ("[SEP]", 4, (25, 30))],
            Splits(vocabulary, Lowercase, "[CLS] My name is Anthony [SEP]"));
    }

    [Fact]
    public void Single_word_needs_no_word_character_on_either_side()
    {
        // test_single_word_is_correct: left edge, middle, "A<mask>" (word before), "<mask>ony" (word after), right edge.
        var vocabulary = Vocabulary(Lowercase, new AddedToken("<mask>") { SingleWord = true });

        Assert.Equal(
            [("<mask>", 0, (0, 6)), (" my name ", null, (6, 15)), ("<mask>", 0, (15, 21)), (" a<mask> <mask>ony ", null, (21, 40)), ("<mask>", 0, (40, 46))],
            Splits(vocabulary, Lowercase, "<mask> My name <mask> A<mask> <mask>ony <mask>"));
    }

    [Fact]
    public void Single_word_uses_unicode_word_characters()
    {
        // test_single_word_is_unicode_correct: ',' and '-' are not word characters; the combining mark U+0330 is.
        var vocabulary = Vocabulary(Lowercase, new AddedToken("<mask>") { SingleWord = true });

        Assert.Equal(
            [("<mask>", 0, (0, 6)), (", ", null, (6, 8)), ("<mask>", 0, (8, 14)), ("- \u25CC\u0330<mask>", null, (14, 24))],
            Splits(vocabulary, Lowercase, "<mask>, <mask>- \u25CC\u0330<mask>"));
    }

    [Fact]
    public void Lstrip_and_rstrip_take_unicode_white_space_without_overlapping()
    {
        // test_lstrip_unicode_space: the tab and U+2000 are white space (\s); the third <mask> cannot take the tab the
        // second one already took. BERT's normalizer shows them as spaces; the offsets are in the original text.
        var vocabulary = Vocabulary(Lowercase, new AddedToken("<mask>") { LStrip = true, RStrip = true, SingleWord = true });

        Assert.Equal(
            [("hi", null, (0, 2)), (" <mask> ", 0, (2, 10)), ("there", null, (10, 15)), (" <mask> ", 0, (15, 23)), ("<mask> ", 0, (23, 30))],
            Splits(vocabulary, Lowercase, "Hi <mask> there\t<mask>\t<mask>\u2000"));
    }

    [Fact]
    public void Special_tokens_match_in_the_original_text_with_their_options()
    {
        // test_encode_special_tokens (encode_special_tokens = false): <mask> and <pad> are special, so not normalized,
        // and matched in the original text (the tab and U+2000 stay); "ask>" is never reached because <mask> took it.
        var vocabulary = Vocabulary(Lowercase,
            new AddedToken("<mask>") { Special = true, LStrip = true, RStrip = true, SingleWord = true },
            new AddedToken("ask>"), Special("<pad>"));

        Assert.Equal(
            [("hi", null, (0, 2)), (" <mask> ", 0, (2, 10)), ("there", null, (10, 15)), ("\t<mask>\t", 0, (15, 23)),
             ("<mask>\u2000 ", 0, (23, 31)), ("<pad>", 2, (31, 36)), (" <mask>", 0, (36, 43)), ("<pad>", 2, (43, 48)), ("<pad>", 2, (48, 53))],
            Splits(vocabulary, Lowercase, "Hi <mask> there\t<mask>\t<mask>\u2000 <pad> <mask><pad><pad>"));
    }

    [Fact]
    public void Ids_follow_add_tokens()
    {
        // can_add_special_tokens, over a model of {"test": 0, "tost": 1}: new tokens take ids from the model's size on,
        // a model token keeps its id, a repeated token is added once, re-adding with other options keeps the id.
        int? Model(string token) => token switch { "test" => 0, "tost" => 1, _ => null };
        var vocabulary = AddedVocabulary.Empty.With([Special("added_token_1")], Model, 2, Identity, out int first);
        vocabulary = vocabulary.With([Special("added_token_2"), Special("added_token_2")], Model, 2, Identity, out int second);
        vocabulary = vocabulary.With([Special("test")], Model, 2, Identity, out int third);
        vocabulary = vocabulary.With([Special("tost"), new AddedToken("another_two")], Model, 2, Identity, out _);
        vocabulary = vocabulary.With([Special("another_two")], Model, 2, Identity, out int changed);

        Assert.Equal((1, 1, 1, 1), (first, second, third, changed));
        Assert.Equal([0, 1, 2, 3, 4], vocabulary.TokensById.Keys.Order());
        Assert.True(vocabulary.TryGetId("added_token_1", out var id1) && id1 == 2);
        Assert.True(vocabulary.TryGetId("added_token_2", out var id2) && id2 == 3);
        Assert.True(vocabulary.TryGetId("another_two", out var id4) && id4 == 4);
        Assert.True(vocabulary.TokensById[4].Special);
        Assert.True(vocabulary.IsSpecialToken("test"));
    }

    [Fact]
    public void A_normalized_token_decodes_to_its_normalized_form()
    {
        // content_preserved_with_normalizer: "Hello" (normalized) decodes as "hello"; "[CLS]" (not normalized) as itself.
        var vocabulary = Vocabulary(Lowercase, new AddedToken("Hello"), Special("[CLS]"));

        Assert.True(vocabulary.TryGetToken(0, out var hello));
        Assert.True(vocabulary.TryGetToken(1, out var cls));
        Assert.Equal(("hello", "[CLS]"), (hello, cls));
        Assert.Equal("Hello", vocabulary.TokensById[0].Content);
    }

    [Fact]
    public void Two_tokens_with_one_pattern_are_refused()
    {
        // The crate's matcher (daachorse) refuses duplicate patterns, so add_tokens fails for "Hello" and "HELLO" when
        // both are normalized to "hello".
        var e = Assert.Throws<ArgumentException>(() => Vocabulary(Lowercase, new AddedToken("Hello"), new AddedToken("HELLO")));

        Assert.Contains("'Hello'", e.Message, StringComparison.Ordinal);
        Assert.Contains("'HELLO'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    // Leftmost-longest (aho-corasick MatchKind::LeftmostLongest): of two tokens starting at one place the longer wins;
    // of two overlapping tokens the one starting first wins.
    [InlineData("abcd", "ab|abc", "abc@0-3")]
    [InlineData("abc", "ab|bc", "ab@0-2")]
    // The search resumes after a match even when single_word discards it: "bc" starts inside the discarded "ab".
    [InlineData("abc", "ab!|bc", "")]
    [InlineData("x ab bc", "ab!|bc", "ab@2-4 bc@5-7")]
    // Inside a word, next to punctuation, twice in a row.
    [InlineData("walking.", "ing", "ing@4-7")]
    [InlineData("(ab),ab", "ab", "ab@1-3 ab@5-7")]
    [InlineData("abab", "ab", "ab@0-2 ab@2-4")]
    public void Leftmost_longest_non_overlapping_matches(string text, string tokens, string expected)
    {
        // Tokens separated by '|'; a trailing '!' makes a token single_word. Not normalized, so matched as written.
        var vocabulary = Vocabulary(Identity, tokens.Split('|')
            .Select(t => new AddedToken(t.TrimEnd('!')) { Normalized = false, SingleWord = t.EndsWith('!') }).ToArray());
        var found = new List<string>();
        var state = new MatchState();
        while (vocabulary.RawMatcher!.TryNext(text, ref state, out var match))
        {
            found.Add($"{text[match.Start..match.Stop]}@{match.Start}-{match.Stop}");
        }

        Assert.Equal(expected, string.Join(' ', found));
    }

    [Theory]
    // Rust regex \w: letters, marks, digits, connector punctuation, joiners, Other_Alphabetic symbols; not punctuation,
    // symbols or white space.
    [InlineData('a', true)]
    [InlineData('\u00E9', true)]
    [InlineData('7', true)]
    [InlineData('_', true)]
    [InlineData('\u0301', true)]
    [InlineData('\u200D', true)]
    [InlineData('\u24B6', true)]
    [InlineData('\u4E2D', true)]
    [InlineData('-', false)]
    [InlineData(',', false)]
    [InlineData(' ', false)]
    [InlineData('$', false)]
    [InlineData('\u25CC', false)]
    public void Word_characters_are_those_of_rust_regex(char c, bool word)
    {
        Assert.Equal(word, TokenMatcher.IsWordCharacter(new System.Text.Rune(c)));
    }
}
