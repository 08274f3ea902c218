using System.Text.Json.Nodes;
using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// Added tokens end to end: loading them from tokenizer.json and tokenizer_config.json, encoding (ids, token strings,
/// offsets, word ids, pairs, truncation), decoding, <see cref="BertTokenizer.AddTokens(IEnumerable{string}, bool)"/>,
/// saving and reloading. Expected values are worked by hand from the tokenizers crate's rules
/// (<c>tokenizers/src/tokenizer/added_vocabulary.rs</c>: <c>find_matches</c>, <c>extract_and_normalize</c>,
/// <c>add_tokens</c>; <c>tokenizer/mod.rs</c>: <c>encode_single_sequence</c>, <c>decode</c>;
/// <c>pre_tokenizer.rs</c>: <c>into_encoding</c>, where each split, an added token included, is one word).
/// </summary>
public sealed class AddedTokensTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>The issue's WordPiece vocabulary: 14 tokens.</summary>
    private static readonly string[] IssueVocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[", "]", "e", "##1", "/", "tom", "met", "ann", "."];

    /// <summary>
    /// A tokenizer.json as transformers' save_pretrained writes it after <c>add_special_tokens</c> of [E1] and [/E1]:
    /// the named special tokens and the two markers in added_tokens (special, not normalized), the rest as the fixture
    /// models' tokenizer.json.
    /// </summary>
    private string IssueTokenizerJson()
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Fixtures.Model("bert_model"), "tokenizer.json")))!.AsObject();
        var vocab = new JsonObject();
        for (int i = 0; i < IssueVocabulary.Length; i++)
        {
            vocab[IssueVocabulary[i]] = i;
        }
        json["model"]!["vocab"] = vocab;
        var added = new JsonArray();
        foreach (var (id, content) in new[] { (0, "[PAD]"), (1, "[UNK]"), (2, "[CLS]"), (3, "[SEP]"), (4, "[MASK]"), (14, "[E1]"), (15, "[/E1]") })
        {
            added.Add(new JsonObject
            {
                ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            });
        }
        json["added_tokens"] = added;
        json["post_processor"]!["special_tokens"]!["[CLS]"]!["ids"] = new JsonArray(2);
        json["post_processor"]!["special_tokens"]!["[SEP]"]!["ids"] = new JsonArray(3);
        var path = _folder.File("tokenizer.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    [Fact]
    public void The_issue_example_encodes_the_markers_as_single_tokens()
    {
        var tokenizer = BertTokenizer.Load(IssueTokenizerJson());
        var encoding = tokenizer.Encode("[E1] tom [/E1] met ann .");

        // Issue 11 §4: [CLS] [E1] tom [/E1] met ann . [SEP] = 2, 14, 10, 15, 11, 12, 13, 3; 16 ids in all.
        Assert.Equal([2, 14, 10, 15, 11, 12, 13, 3], encoding.Ids);
        Assert.Equal(["[CLS]", "[E1]", "tom", "[/E1]", "met", "ann", ".", "[SEP]"], encoding.Tokens);
        Assert.Equal(16, tokenizer.VocabularySize);
        // Each added token is a word of its own, with its span in the original text.
        Assert.Equal([null, 0, 1, 2, 3, 4, 5, null], encoding.WordIds);
        Assert.Equal([(0, 0), (0, 4), (5, 8), (9, 14), (15, 18), (19, 22), (23, 24), (0, 0)], encoding.Offsets);
        // Decode([14]) gives the token; special added tokens are skipped on request (crate's decode, skip_special_tokens).
        Assert.Equal("[E1]", tokenizer.Decode([14], skipSpecialTokens: false));
        Assert.Equal("", tokenizer.Decode([14]));
        Assert.Equal("tom met ann.", tokenizer.Decode(encoding.Ids));
        Assert.Equal("[CLS] [E1] tom [/E1] met ann. [SEP]", tokenizer.Decode(encoding.Ids, skipSpecialTokens: false));
        Assert.Equal([0, 1, 2, 3, 4, 14, 15], tokenizer.SpecialTokenIds.Order());
    }

    /// <summary>
    /// Specials 0..4, a..z (5..30), ##a..##z (31..56), then , . [ ] &lt; &gt; / (57..63): any lower-case word is its
    /// letters, so the tokens of a text can be written down by hand. 64 tokens; added ids start at 64.
    /// </summary>
    private static BertTokenizer LetterPieces(BertTokenizerOptions? options = null) =>
        FromTokens(Specials
            .Concat(Enumerable.Range('a', 26).Select(c => ((char)c).ToString()))
            .Concat(Enumerable.Range('a', 26).Select(c => "##" + (char)c))
            .Concat([",", ".", "[", "]", "<", ">", "/"]), options);

    private static string Letters(string word) =>
        string.Join(' ', word.Select((c, i) => i == 0 ? c.ToString() : "##" + c));

    private static string Tokens(BertTokenizer tokenizer, string text) => string.Join(' ', tokenizer.Tokenize(text));

    public static TheoryData<string, AddedToken[], string> MatchingCases => new()
    {
        // single_word: a whole word only (\w on neither side), else the word is split as usual.
        { "ab cd", [new("ab") { SingleWord = true }], "ab c ##d" },
        { "xab cd", [new("ab") { SingleWord = true }], "x ##a ##b c ##d" },
        { "ab, cd", [new("ab") { SingleWord = true }], "ab , c ##d" },
        { "abc ab", [new("ab") { SingleWord = true }], "a ##b ##c ab" },
        // Without single_word a token is taken out of the middle of a word; what is left are words of their own.
        { "walking", [new("ing")], "w ##a ##l ##k ing" },
        { "xaby", [new("ab")], "x ab y" },
        // Next to punctuation.
        { "x[E1],y", [new("[E1]") { Special = true }], "x [E1] , y" },
        { "(e1)", [new("e1")], "[UNK] e1 [UNK]" },
        // Normalized (the default for a non-special token): matched in the lower-cased text, shown in its normalized form.
        { "a NEWTOK b", [new("NewTok")], "a newtok b" },
        // Not normalized: matched only as written.
        { "a NEWTOK b", [new("NewTok") { Normalized = false }], "a n ##e ##w ##t ##o ##k b" },
        { "a NewTok b", [new("NewTok") { Normalized = false }], "a NewTok b" },
        // A normalized token matches across accent stripping.
        { "la CRÈME", [new("creme")], "l ##a creme" },
        // Special tokens default to not normalized: "[e1]" is not "[E1]" (and "e1" has no pieces here: [UNK]).
        { "[e1]", [new("[E1]") { Special = true }], "[ [UNK] ]" },
        // Overlapping tokens: leftmost, then longest.
        { "abcd", [new("ab"), new("abc")], "abc d" },
        { "abc", [new("ab"), new("bc")], "ab c" },
        // lstrip / rstrip: the token takes the white space beside it, and shows it.
        { "a <m> b", [new("<m>") { Normalized = false }], "a <m> b" },
        { "a <m> b", [new("<m>") { Normalized = false, LStrip = true }], "a  <m> b" },
        { "a <m>  b", [new("<m>") { Normalized = false, RStrip = true }], "a <m>   b" },
        // A token in the WordPiece vocabulary keeps its id but is now matched inside words too.
        { "xay", [new("a")], "x a y" },
    };

    [Theory]
    [MemberData(nameof(MatchingCases))]
    public void Matching_rules(string text, AddedToken[] tokens, string expected)
    {
        var tokenizer = LetterPieces().AddTokens(tokens);

        Assert.Equal(expected, Tokens(tokenizer, text));
    }

    [Fact]
    public void Added_token_offsets_word_ids_and_strings()
    {
        var tokenizer = LetterPieces().AddTokens([new AddedToken("<m>") { Normalized = false, LStrip = true, RStrip = true }, new AddedToken("Crème")]);
        var encoding = tokenizer.Encode("a <m> bc la CRÈME!");

        // "<m>" with both strips spans " <m> " (1..6) and shows it; "crème" is normalized to "creme" (lower-cased,
        // accent stripped) and spans "CRÈME" (12..17); every added token is one word.
        // ("!" is not in the vocabulary: [UNK].)
        Assert.Equal(["[CLS]", "a", " <m> ", "b", "##c", "l", "##a", "creme", "[UNK]", "[SEP]"], encoding.Tokens);
        Assert.Equal([(0, 0), (0, 1), (1, 6), (6, 7), (7, 8), (9, 10), (10, 11), (12, 17), (17, 18), (0, 0)], encoding.Offsets);
        Assert.Equal([null, 0, 1, 2, 2, 3, 3, 4, 5, null], encoding.WordIds);
        Assert.Equal("creme", tokenizer.IdToToken(tokenizer.TokenToId("Crème")!.Value));
        Assert.Null(tokenizer.TokenToId("creme"));
    }

    [Fact]
    public void Special_and_non_special_added_tokens_decode_differently()
    {
        var tokenizer = LetterPieces().AddTokens(["[E1]"], specialTokens: true).AddTokens(["xyz"]);
        var ids = tokenizer.Encode("[E1] xyz a").Ids;

        // Only special tokens are skipped; a non-special added token decodes like a word.
        Assert.Equal("xyz a", tokenizer.Decode(ids));
        Assert.Equal("[CLS] [E1] xyz a [SEP]", tokenizer.Decode(ids, skipSpecialTokens: false));
        Assert.Contains(tokenizer.TokenToId("[E1]")!.Value, tokenizer.SpecialTokenIds);
        Assert.DoesNotContain(tokenizer.TokenToId("xyz")!.Value, tokenizer.SpecialTokenIds);
    }

    [Fact]
    public void AddTokens_assigns_ids_as_the_crate_and_leaves_the_tokenizer_unchanged()
    {
        var tokenizer = LetterPieces();
        var added = tokenizer.AddTokens(["[E1]", "[/E1]", "a", "[E1]", ""], specialTokens: true);

        // add_tokens: new tokens take 64, 65; "a" keeps its WordPiece id 5; the repeat and the empty token are ignored.
        Assert.Equal<(int?, int?, int?)>((64, 65, 5), (added.TokenToId("[E1]"), added.TokenToId("[/E1]"), added.TokenToId("a")));
        Assert.Equal(66, added.VocabularySize);
        Assert.True(added.AddedTokensDecoder[5].Special);
        Assert.Equal(new AddedToken("[E1]") { Special = true, Normalized = false }, added.AddedTokensDecoder[64]);
        // The original is immutable.
        Assert.Equal(64, tokenizer.VocabularySize);
        Assert.Null(tokenizer.TokenToId("[E1]"));
        Assert.Equal("[ [UNK] ]", Tokens(tokenizer, "[E1]"));
        // Adding nothing new gives the same instance.
        Assert.Same(added, added.AddTokens(["[E1]"], specialTokens: true));
        // Ids continue after the largest added id.
        Assert.Equal(66, added.AddTokens(["zz"]).TokenToId("zz"));
    }

    [Fact]
    public void Pairs_and_truncation_count_an_added_token_as_one_token()
    {
        var tokenizer = LetterPieces().AddTokens(["[E1]", "[/E1]"], specialTokens: true);
        int e1 = tokenizer.TokenToId("[E1]")!.Value;

        // [E1] a ##b [/E1] c ##d: 6 tokens, budget 5 - 2 = 3 (longest_first on one text keeps the first three).
        var single = tokenizer.Encode("[E1] ab [/E1] cd", null, new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 5 });
        Assert.Equal([2, e1, 5, 32, 3], single.Ids);

        // only_second: first [E1] (1), second a ##b c ##d (4), budget 6 - 3 = 3, so the second keeps 2.
        var pair = tokenizer.Encode("[E1]", "ab cd", new EncodingOptions { Truncation = TruncationStrategy.OnlySecond, MaxLength = 6 });
        Assert.Equal([2, e1, 3, 5, 32, 3], pair.Ids);
        Assert.Equal([0, 0, 0, 1, 1, 1], pair.TypeIds);
        Assert.Equal([null, 0, null, 1, 1, null], pair.SequenceIds);
        Assert.Equal([null, 0, null, 0, 0, null], pair.WordIds);
        Assert.Equal([(0, 0), (0, 4), (0, 0), (0, 1), (1, 2), (0, 0)], pair.Offsets);
    }

    [Fact]
    public void The_early_exit_counts_added_tokens_but_stops_only_after_a_word()
    {
        // tokenize_with_limit (pre_tokenizer.rs): a split that already has tokens (an added token) is counted and
        // skipped; the loop stops after tokenizing a word that brings the count to max_length. Limit 4: a b c [E1] (4)
        // [E2] d (6, stop), so "e" is dropped and the six tokens make three windows of 4 - 2 = 2.
        var tokenizer = LetterPieces().AddTokens(["[E1]", "[E2]"], specialTokens: true);
        var windows = tokenizer.EncodeWindows("a b c [E1] [E2] d e", null, new EncodingOptions
        {
            Truncation = TruncationStrategy.LongestFirst, MaxLength = 4, ReturnOverflowingTokens = true, TokenizersEarlyExit = true,
        });

        Assert.Equal(
            [[2, 5, 6, 3], [2, 7, 64, 3], [2, 65, 8, 3]],
            windows.Select(w => w.Ids.ToArray()));
    }

    [Fact]
    public void Texts_without_added_tokens_encode_the_same_with_them()
    {
        // Property over the 297 fixture texts: adding tokens that do not occur changes nothing, both for special tokens
        // (matched in the original text) and for a normalized token (the normalize-then-split path of extract_and_normalize).
        var plain = Full;
        var special = Full.AddTokens(["[E1]", "[/E1]"], specialTokens: true);
        var normalized = Full.AddTokens(["qqzzxq"]);
        foreach (var row in Rows("tokenizer_single.json"))
        {
            var text = row.GetProperty("text").GetString()!;
            var expected = plain.Encode(text);
            foreach (var other in new[] { special, normalized })
            {
                var actual = other.Encode(text);
                Assert.Equal(expected.Ids, actual.Ids);
                Assert.Equal(expected.Offsets, actual.Offsets);
                Assert.Equal(expected.WordIds, actual.WordIds);
                Assert.Equal(expected.Tokens, actual.Tokens);
            }
        }
    }

    [Fact]
    public void Named_special_tokens_in_added_tokens_keep_working()
    {
        // The fixture models' tokenizer.json lists [PAD] [UNK] [CLS] [SEP] [MASK] in added_tokens with their WordPiece
        // ids; "[MASK]" in a text is one token, and the post-processor's [CLS]/[SEP] are unchanged.
        var tokenizer = BertTokenizer.Load(Fixtures.Model("mlm"));
        var encoding = tokenizer.Encode("the [MASK] sat");

        Assert.Equal(8000, tokenizer.VocabularySize);
        Assert.Equal([101, 1996, 103, 2938, 102], encoding.Ids);
        Assert.Equal([0, 100, 101, 102, 103], tokenizer.AddedTokensDecoder.Keys.Order());
    }

    [Fact]
    public void Added_token_ids_in_the_file_are_assigned_again()
    {
        // The crate's deserialiser ignores the stored ids and calls add_tokens: [E1] stored as 20 becomes 14.
        var path = IssueTokenizerJson();
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json["added_tokens"]![5]!["id"] = 20;
        File.WriteAllText(path, json.ToJsonString());

        var tokenizer = BertTokenizer.Load(path);

        Assert.Equal(14, tokenizer.TokenToId("[E1]"));
        Assert.Equal(15, tokenizer.TokenToId("[/E1]"));
    }

    [Fact]
    public void Config_added_tokens_decoder_wins_over_tokenizer_json()
    {
        // transformers' _from_pretrained reads tokenizer.json's added_tokens only when tokenizer_config.json has no
        // added_tokens_decoder.
        IssueTokenizerJson();
        File.WriteAllText(_folder.File("tokenizer_config.json"), """
            {"added_tokens_decoder": {
              "2": {"content": "[CLS]", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true},
              "14": {"content": "<ent>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false, "special": false}}}
            """);

        var tokenizer = BertTokenizer.Load(_folder.Path);

        Assert.Equal(14, tokenizer.TokenToId("<ent>"));
        Assert.Null(tokenizer.TokenToId("[E1]"));
        Assert.False(tokenizer.AddedTokensDecoder[14].Special);
    }

    [Theory]
    [InlineData("""[{"id": 14}]""", "added_tokens[0] has no \"content\" string")]
    [InlineData("""[{"id": 14, "content": "[E1]", "special": "yes"}]""", "added_tokens[0].special must be true or false")]
    [InlineData("""{"a": 1}""", "added_tokens must be an array")]
    public void Malformed_added_tokens_are_refused_naming_the_field(string added, string message)
    {
        var path = IssueTokenizerJson();
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        json["added_tokens"] = JsonNode.Parse(added);
        File.WriteAllText(path, json.ToJsonString());

        var e = Assert.Throws<InvalidDataException>(() => BertTokenizer.Load(path));

        Assert.Contains(message, e.Message, StringComparison.Ordinal);
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Saved_added_tokens_reload_identically()
    {
        var tokenizer = LetterPieces()
            .AddTokens(["[E1]", "[/E1]"], specialTokens: true)
            .AddTokens([new AddedToken("NewTok"), new AddedToken("<m>") { Normalized = false, LStrip = true, SingleWord = true }]);
        tokenizer.Save(_folder.Path);
        const string Text = "[E1] NEWTOK [/E1] a <m> b";

        foreach (var reloaded in new[] { BertTokenizer.Load(_folder.Path), BertTokenizer.Load(_folder.File("tokenizer.json")) })
        {
            Assert.Equal(tokenizer.AddedTokensDecoder.OrderBy(t => t.Key), reloaded.AddedTokensDecoder.OrderBy(t => t.Key));
            Assert.Equal(tokenizer.VocabularySize, reloaded.VocabularySize);
            Assert.Equal(tokenizer.Encode(Text).Ids, reloaded.Encode(Text).Ids);
            Assert.Equal(tokenizer.Encode(Text).Tokens, reloaded.Encode(Text).Tokens);
        }

        // tokenizer.json as the crate serialises it: added_tokens sorted by id with every option; tokenizer_config.json's
        // added_tokens_decoder keyed by id; vocab.txt the WordPiece vocabulary only.
        var json = JsonNode.Parse(File.ReadAllText(_folder.File("tokenizer.json")))!;
        var added = json["added_tokens"]!.AsArray();
        Assert.Equal([0, 1, 2, 3, 4, 64, 65, 66, 67], added.Select(t => t!["id"]!.GetValue<int>()));
        Assert.True(JsonNode.DeepEquals(
            JsonNode.Parse("""{"id":67,"content":"<m>","single_word":true,"lstrip":true,"rstrip":false,"normalized":false,"special":false}"""),
            added[8]));
        Assert.Equal(64, json["model"]!["vocab"]!.AsObject().Count);
        var decoder = JsonNode.Parse(File.ReadAllText(_folder.File("tokenizer_config.json")))!["added_tokens_decoder"]!.AsObject();
        Assert.Equal(["0", "1", "2", "3", "4", "64", "65", "66", "67"], decoder.Select(p => p.Key));
        Assert.True(decoder["66"]!["normalized"]!.GetValue<bool>());
        Assert.Equal(64, File.ReadAllLines(_folder.File("vocab.txt")).Length);
    }
}
