using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// transformers' BertNormalizer and BertPreTokenizer behaviour where Microsoft.ML.Tokenizers 2.0 differs: each test
/// states the rule of the tokenizers crate that gives the expected result.
/// </summary>
public sealed class NormalizationTests
{
    private static readonly BertTokenizer Tokenizer = Full;

    private static int Cls => VocabId("[CLS]");

    private static int Sep => VocabId("[SEP]");

    /// <summary>Asserts ids, word ids and offsets of <paramref name="text"/> against its row in tokenizer_single.json.</summary>
    private static void AssertMatchesFixtureRow(string text)
    {
        var row = Rows("tokenizer_single.json").Single(r => r.GetProperty("text").GetString() == text);
        var encoding = Tokenizer.Encode(text);
        Assert.Equal(Ints(row.GetProperty("ids")), encoding.Ids);
        Assert.Equal(NullableInts(row.GetProperty("word_ids")), encoding.WordIds);
        Assert.Equal(Offsets(row.GetProperty("offsets")), encoding.Offsets);
    }

    [Theory]
    [InlineData("new\nline")]
    [InlineData("new\tline")]
    [InlineData("new\rline")]
    [InlineData("new\r\nline")]
    public void Tab_newline_and_carriage_return_separate_words_instead_of_joining_them(string text)
    {
        // BertNormalizer's clean_text maps \t \n \r to a space (they are whitespace, not removed controls), so the
        // pre-tokenizer sees "new line": two words. Removing them would give the single word "newline".
        var encoding = Tokenizer.Encode(text);

        Assert.Equal([Cls, VocabId("new"), VocabId("line"), Sep], encoding.Ids);
        Assert.Equal([null, 0, 1, null], encoding.WordIds);
        Assert.Equal((text.Length - 4, text.Length), encoding.Offsets[2]);
    }

    [Fact]
    public void Tab_newline_and_carriage_return_rows_match_the_fixture()
    {
        AssertMatchesFixtureRow("tab\tseparated\tvalues");
        AssertMatchesFixtureRow("new\nline\r\nwindows");
    }

    [Fact]
    public void Soft_hyphen_is_removed_and_the_word_stays_whole()
    {
        // U+00AD is category Cf: clean_text drops it, leaving the single word "softhyphen" = soft ##hy ##ph ##en
        // (fixture row), all word 0, offsets skipping the removed character at index 4.
        var encoding = Tokenizer.Encode("soft\u00ADhyphen");

        Assert.Equal([Cls, VocabId("soft"), VocabId("##hy"), VocabId("##ph"), VocabId("##en"), Sep], encoding.Ids);
        Assert.Equal([null, 0, 0, 0, 0, null], encoding.WordIds);
        Assert.Equal([(0, 0), (0, 4), (5, 7), (7, 9), (9, 11), (0, 0)], encoding.Offsets);
        AssertMatchesFixtureRow("soft\u00ADhyphen");
    }

    [Fact]
    public void Zero_width_space_is_removed_and_joins_its_neighbours_into_one_word()
    {
        // U+200B (Cf) is removed, not treated as a space: "zero\u200bwidth" is one word. The fixture row also has
        // U+200D (Cf) inside "widthjoiner".
        var encoding = Tokenizer.Encode("zero\u200Bwidth");

        Assert.All(encoding.WordIds.Skip(1).SkipLast(1), w => Assert.Equal(0, w));
        Assert.Equal(VocabId("zero"), encoding.Ids[1]);
        AssertMatchesFixtureRow("zero\u200bwidth\u200djoiner");
    }

    [Fact]
    public void Accents_are_stripped_when_lower_casing_by_default()
    {
        // strip_accents None follows lowercase: NFD "cafe\u0301" then the Mn mark is dropped -> "cafe".
        var encoding = Tokenizer.Encode("café");

        Assert.Equal([Cls, VocabId("cafe"), Sep], encoding.Ids);
        Assert.Equal((0, 4), encoding.Offsets[1]);
    }

    [Fact]
    public void Accents_are_kept_when_strip_accents_is_false()
    {
        // "café" stays "café": WordPiece matches "caf" but "##é" is not in the (accent-free) uncased vocabulary, so the
        // whole word becomes [UNK] -- one token covering the word.
        var tokenizer = BertTokenizer.Load(FullVocabPath, _ => new BertTokenizerOptions { DoLowerCase = true, StripAccents = false });

        var encoding = tokenizer.Encode("café");

        Assert.Equal([Cls, VocabId("[UNK]"), Sep], encoding.Ids);
        Assert.Equal((0, 4), encoding.Offsets[1]);
    }

    [Fact]
    public void Accents_are_stripped_without_lower_casing_when_strip_accents_is_true()
    {
        var tokenizer = BertTokenizer.Load(FullVocabPath, _ => new BertTokenizerOptions { DoLowerCase = false, StripAccents = true });

        Assert.Equal([Cls, VocabId("cafe"), Sep], tokenizer.Encode("café").Ids);
    }

    [Fact]
    public void Accents_are_kept_when_not_lower_casing_and_strip_accents_is_unset()
    {
        // strip_accents None with lowercase False: no stripping, "café" -> [UNK] as above.
        var tokenizer = BertTokenizer.Load(FullVocabPath, _ => new BertTokenizerOptions { DoLowerCase = false });

        Assert.Equal([Cls, VocabId("[UNK]"), Sep], tokenizer.Encode("café").Ids);
    }

    [Theory]
    [InlineData("a\0b")]
    [InlineData("a\uFFFDb")]
    [InlineData("a\u0007b")]
    [InlineData("a\u001Bb")]
    [InlineData("a\u007Fb")]
    public void Nul_replacement_character_and_control_characters_are_removed(string text)
    {
        // clean_text filters NUL, U+FFFD and every is_other (Cc/Cf/Co) char other than \t\n\r: "ab", one word, whose
        // offsets span the removed character.
        var encoding = Tokenizer.Encode(text);

        Assert.Equal([Cls, VocabId("ab"), Sep], encoding.Ids);
        Assert.Equal([null, 0, null], encoding.WordIds);
        Assert.Equal((0, 3), encoding.Offsets[1]);
    }

    [Theory]
    [InlineData("a\u0378b")]
    [InlineData("a\uFFFFb")]
    [InlineData("a\U0010FFFFb")]
    [InlineData("a\u0890b")]
    public void Unassigned_code_points_and_newer_format_characters_are_kept_in_the_word(string text)
    {
        // normalizers/bert.rs is_control = unicode_categories 0.1.1 is_other = Cc | Cf | Co of Unicode 8.0: no Cn, so
        // U+0378, U+FFFF and U+10FFFF (unassigned) stay, and so does U+0890 (Cf only since Unicode 14). With the
        // vocabulary [PAD] [UNK] [CLS] [SEP] [MASK] a b ab, "a?b" is one word that WordPiece cannot cover: [UNK], with
        // the word's offsets (worked by hand; transformers gives [CLS] [UNK] [SEP] for "a\u0378b").
        var tokenizer = FromTokens([.. Specials, "a", "b", "ab"]);

        var encoding = tokenizer.Encode(text);

        Assert.Equal([2, 1, 3], encoding.Ids);
        Assert.Equal((0, text.Length), encoding.Offsets[1]);
    }

    [Fact]
    public void A_character_that_strips_to_punctuation_is_split_off()
    {
        // U+1FEF GREEK VARIA is Sk, not punctuation, but its NFD is U+0060 "`": the pre-tokenizer runs after
        // strip_accents, so with accents stripped "a`b" is three words, and kept together without stripping.
        var tokenizer = FromTokens([.. Specials, "a", "b", "`", "\u1FEF"]);
        var cased = FromTokens([.. Specials, "a", "b", "`", "\u1FEF"], new BertTokenizerOptions { DoLowerCase = false });

        Assert.Equal([2, 5, 7, 6, 3], tokenizer.Encode("a\u1FEFb").Ids);
        Assert.Equal([2, 1, 3], cased.Encode("a\u1FEFb").Ids);
    }

    [Fact]
    public void Ideographs_just_before_the_crates_extension_e_range_are_not_split()
    {
        // is_chinese_char lists 0x2B920..=0x2CEAF (not 0x2B820, where CJK Extension E starts), so U+2B820 stays in the
        // word "a\U0002B820b" while U+2B920 is a word of its own.
        var tokenizer = FromTokens([.. Specials, "a", "b", "\U0002B920"]);

        Assert.Equal([2, 1, 3], tokenizer.Encode("a\U0002B820b").Ids);
        Assert.Equal([2, 5, 7, 6, 3], tokenizer.Encode("a\U0002B920b").Ids);
    }

    [Fact]
    public void Control_characters_row_matches_the_fixture() => AssertMatchesFixtureRow("control\0char\u0007bell");

    [Fact]
    public void Offsets_after_removed_leading_characters_point_past_them()
    {
        // BEL and NUL at 0 and 1 are removed; "x" keeps its original position 2.
        var encoding = Tokenizer.Encode("\u0007\0x");

        Assert.Equal([Cls, VocabId("x"), Sep], encoding.Ids);
        Assert.Equal((2, 3), encoding.Offsets[1]);
    }

    [Fact]
    public void Lone_surrogate_does_not_throw_and_is_removed_like_the_replacement_character()
    {
        // A lone surrogate cannot reach Python's tokenizer (it is not encodable as UTF-8); it is treated as the U+FFFD
        // a UTF-8 round trip would give, which clean_text removes: "ab" covering [0, 3).
        // (Not an [InlineData] theory: xunit's serialisation of the case names mangles lone surrogates.)
        var replacement = Tokenizer.Encode("a\uFFFDb");
        Assert.Equal([Cls, VocabId("ab"), Sep], replacement.Ids);

        foreach (var text in new[] { "a\uD800b", "a\uDC00b", "a\uDBFFb" })
        {
            AssertSameEncoding(replacement, Tokenizer.Encode(text));
        }
    }

    [Fact]
    public void Lone_surrogates_at_the_ends_of_the_text_are_removed()
    {
        var encoding = Tokenizer.Encode("\uDC00ab\uD800");

        Assert.Equal([Cls, VocabId("ab"), Sep], encoding.Ids);
        Assert.Equal((1, 3), encoding.Offsets[1]);
    }

    [Fact]
    public void Cjk_ideographs_become_single_character_words()
    {
        // handle_chinese_chars puts spaces around each CJK ideograph: "hello 北 world", three words.
        var encoding = Tokenizer.Encode("hello北world");

        Assert.Equal([Cls, VocabId("hello"), VocabId("北"), VocabId("world"), Sep], encoding.Ids);
        Assert.Equal([null, 0, 1, 2, null], encoding.WordIds);
        Assert.Equal([(0, 0), (0, 5), (5, 6), (6, 11), (0, 0)], encoding.Offsets);
    }

    [Fact]
    public void Adjacent_cjk_ideographs_are_separate_words()
    {
        var encoding = Tokenizer.Encode("北京");

        Assert.Equal([Cls, VocabId("北"), VocabId("京"), Sep], encoding.Ids);
        Assert.Equal([null, 0, 1, null], encoding.WordIds);
        AssertMatchesFixtureRow("北京是中国的首都。");
    }

    [Fact]
    public void Literal_mask_token_in_text_is_one_token_with_its_own_id_and_word_id()
    {
        // The added-vocabulary matcher splits "[MASK]" out of the raw text before normalisation (so it is not
        // lower-cased or split at the brackets); it counts as a word: mixed(0) [MASK](1) ed(2) token ##s(3).
        var encoding = Tokenizer.Encode("mixed [MASK]ed tokens");

        Assert.Equal([Cls, VocabId("mixed"), VocabId("[MASK]"), VocabId("ed"), VocabId("token"), VocabId("##s"), Sep], encoding.Ids);
        Assert.Equal([null, 0, 1, 2, 3, 3, null], encoding.WordIds);
        Assert.Equal((6, 12), encoding.Offsets[2]);
        AssertMatchesFixtureRow("mixed [MASK]ed tokens");
    }

    [Fact]
    public void Literal_separator_token_in_text_is_kept_and_is_not_marked_as_added()
    {
        // "[SEP]x[MASK]": [SEP] word 0, x word 1, [MASK] word 2. The special-tokens mask marks only the tokens the
        // post-processor added ([CLS] and the final [SEP]), not special tokens written in the text.
        var encoding = Tokenizer.Encode("[SEP]x[MASK]");

        Assert.Equal([Cls, Sep, VocabId("x"), VocabId("[MASK]"), Sep], encoding.Ids);
        Assert.Equal([null, 0, 1, 2, null], encoding.WordIds);
        Assert.Equal([(0, 0), (0, 5), (5, 6), (6, 12), (0, 0)], encoding.Offsets);
        Assert.Equal([1, 0, 0, 0, 1], encoding.SpecialTokensMask);
    }

    [Fact]
    public void Literal_special_tokens_row_matches_the_fixture() =>
        AssertMatchesFixtureRow("[CLS] [SEP] [MASK] [PAD] [UNK] literal specials");

    [Fact]
    public void Word_of_exactly_100_characters_is_split_into_pieces_not_unknown()
    {
        // max_input_chars_per_word = 100 rejects only words LONGER than 100. With a vocabulary of "a" and "##a", the
        // 100-letter word is greedy-matched into "a" followed by 99 "##a".
        var tokenizer = FromTokens([.. Specials, "a", "##a"]);

        var encoding = tokenizer.Encode(new string('a', 100));

        Assert.Equal(102, encoding.Length);
        Assert.Equal(5, encoding.Ids[1]);
        Assert.All(encoding.Ids.Skip(2).SkipLast(1), id => Assert.Equal(6, id));
        Assert.Equal((99, 100), encoding.Offsets[100]);
    }

    [Fact]
    public void Word_over_100_characters_becomes_a_single_unknown_token()
    {
        var tokenizer = FromTokens([.. Specials, "a", "##a"]);

        var encoding = tokenizer.Encode(new string('a', 101));

        Assert.Equal([2, 1, 3], encoding.Ids);
        Assert.Equal((0, 101), encoding.Offsets[1]);
        Assert.Equal([null, 0, null], encoding.WordIds);
    }

    [Fact]
    public void Word_length_limit_counts_code_points_not_utf16_units()
    {
        // The crate counts chars (code points): 100 emoji are 200 UTF-16 units but only 100 characters, so they are
        // split (😀 then 99 ##😀), while 101 emoji are one [UNK]. U+1F600 is a symbol, not punctuation, so the run is one word.
        var tokenizer = FromTokens([.. Specials, "😀", "##😀"]);
        var hundred = string.Concat(Enumerable.Repeat("😀", 100));

        var split = tokenizer.Encode(hundred);
        var unknown = tokenizer.Encode(hundred + "😀");

        Assert.Equal(102, split.Length);
        Assert.Equal((198, 200), split.Offsets[100]);
        Assert.Equal([2, 1, 3], unknown.Ids);
    }

    [Fact]
    public void Dotted_capital_i_lower_cases_to_i_and_combining_dot_as_rust_does()
    {
        // Rust's char::to_lowercase('İ') is "i\u0307" (two chars, both mapped to the original char), unlike .NET's
        // invariant casing which leaves U+0130 unchanged. With accents kept the word is "i\u0307" = i ##\u0307.
        var tokenizer = FromTokens([.. Specials, "i", "##\u0307"], new BertTokenizerOptions { StripAccents = false });

        var encoding = tokenizer.Encode("İ");

        Assert.Equal([2, 5, 6, 3], encoding.Ids);
        Assert.Equal([(0, 0), (0, 1), (0, 1), (0, 0)], encoding.Offsets);
    }

    [Fact]
    public void Dotted_capital_i_becomes_plain_i_when_accents_are_stripped()
    {
        // Accents are stripped before lower-casing: NFD "I\u0307", the mark dropped, then "I" -> "i".
        var encoding = Tokenizer.Encode("İstanbul");

        Assert.Equal([Cls, VocabId("istanbul"), Sep], encoding.Ids);
        Assert.Equal((0, 8), encoding.Offsets[1]);
    }

    [Fact]
    public void Offsets_of_a_decomposed_word_cover_its_original_span()
    {
        // "nai\u0308ve" is 6 UTF-16 units; the combining diaeresis is dropped, the word "naive" still covers [0, 6).
        var encoding = Tokenizer.Encode("nai\u0308ve");

        Assert.Equal([Cls, VocabId("naive"), Sep], encoding.Ids);
        Assert.Equal([(0, 0), (0, 6), (0, 0)], encoding.Offsets);
    }

    [Fact]
    public void Offsets_of_accented_words_point_into_the_original_text()
    {
        const string text = "Crème brûlée";
        var encoding = Tokenizer.Encode(text);

        // cr ##eme | br ##ule ##e (fixture row "Crème brûlée costs..."): each piece's offsets are a slice of the
        // original text whose accent-stripped lower-case form is the piece.
        Assert.Equal(["[CLS]", "cr", "##eme", "br", "##ule", "##e", "[SEP]"], encoding.Tokens);
        Assert.Equal([(0, 0), (0, 2), (2, 5), (6, 8), (8, 11), (11, 12), (0, 0)], encoding.Offsets);
    }

    [Fact]
    public void Accented_and_compatibility_rows_match_the_fixture()
    {
        AssertMatchesFixtureRow("naïve café résumé déjà vu Ångström");
        AssertMatchesFixtureRow("accents: Zoë, Noël, São Paulo, Kraków, Ñandú");
        AssertMatchesFixtureRow("non\u00A0breaking\u2003spaces");
    }
}
