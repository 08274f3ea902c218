using System.Text.Json;
using BertFineTune.Tokenization;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// Shared inputs of the tokenizer tests: the full reference vocabulary, the fixture rows, and small hand-made
/// vocabularies whose results can be worked out on paper.
/// </summary>
internal static class TokenizerTestData
{
    private static readonly Lazy<string[]> FullVocabLines = new(() => File.ReadAllLines(FullVocabPath));
    private static readonly Lazy<BertTokenizer> FullTokenizer = new(() => BertTokenizer.Load(FullVocabPath));

    /// <summary>The special tokens at ids 0..4 of every hand-made vocabulary.</summary>
    public static readonly string[] Specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

    /// <summary>../shared/fixtures/vocab/bert-base-uncased-vocab.txt (30,522 lines, id = line index).</summary>
    public static string FullVocabPath =>
        Path.Combine(Fixtures.RepositoryRoot, "..", "shared", "fixtures", "vocab", "bert-base-uncased-vocab.txt");

    /// <summary>../shared/fixtures/hf-reference/vocab8k.txt, the vocabulary of the fixture models.</summary>
    public static string Vocab8kPath => Path.Combine(Fixtures.HfReference, "vocab8k.txt");

    /// <summary>The lower-casing tokenizer of the full vocabulary (default options), shared by the tests.</summary>
    public static BertTokenizer Full => FullTokenizer.Value;

    /// <summary>The id of <paramref name="token"/> read from the vocabulary file itself (its line index), not from the tokenizer.</summary>
    public static int VocabId(string token)
    {
        int id = Array.IndexOf(FullVocabLines.Value, token);
        return id >= 0 ? id : throw new InvalidOperationException($"'{token}' is not in the reference vocabulary.");
    }

    /// <summary>A tokenizer over exactly <paramref name="tokens"/> (id = position), written to a temp vocab.txt and loaded.</summary>
    public static BertTokenizer FromTokens(IEnumerable<string> tokens, BertTokenizerOptions? options = null)
    {
        using var folder = new TempFolder();
        var path = folder.File("vocab.txt");
        File.WriteAllText(path, string.Join("\n", tokens) + "\n");
        return BertTokenizer.Load(path, o => options ?? o);
    }

    /// <summary>
    /// Specials (ids 0..4) then the letters a..z (ids 5..30): every one-letter word is exactly one token, so token
    /// counts and truncation results can be worked out by counting letters.
    /// </summary>
    public static BertTokenizer Letters(BertTokenizerOptions? options = null) =>
        FromTokens(Specials.Concat(Enumerable.Range('a', 26).Select(c => ((char)c).ToString())), options);

    /// <summary>Id of a letter in <see cref="Letters"/>: 'a' is 5.</summary>
    public static int LetterId(char letter) => 5 + (letter - 'a');

    /// <summary>Space-separated one-letter words: Words("abc") is "a b c".</summary>
    public static string Words(string letters) => string.Join(' ', letters.ToCharArray());

    /// <summary>The rows of a fixture file in hf-reference.</summary>
    public static List<JsonElement> Rows(string fixture)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.HfReference, fixture)));
        return document.RootElement.GetProperty("rows").EnumerateArray().Select(r => r.Clone()).ToList();
    }

    /// <summary>The texts of tokenizer_single.json, in order.</summary>
    public static List<string> SingleTexts() => Rows("tokenizer_single.json").Select(r => r.GetProperty("text").GetString()!).ToList();

    public static List<int> Ints(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt32()).ToList();

    public static List<int?> NullableInts(JsonElement array) =>
        array.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? (int?)null : e.GetInt32()).ToList();

    public static List<(int, int)> Offsets(JsonElement array) =>
        array.EnumerateArray().Select(e => (e[0].GetInt32(), e[1].GetInt32())).ToList();

    /// <summary>Asserts that two encodings agree in every field.</summary>
    public static void AssertSameEncoding(BertFineTune.Tokenization.EncodedText expected, BertFineTune.Tokenization.EncodedText actual)
    {
        Assert.Equal(expected.Ids, actual.Ids);
        Assert.Equal(expected.TypeIds, actual.TypeIds);
        Assert.Equal(expected.Offsets, actual.Offsets);
        Assert.Equal(expected.WordIds, actual.WordIds);
        Assert.Equal(expected.SequenceIds, actual.SequenceIds);
        Assert.Equal(expected.SpecialTokensMask, actual.SpecialTokensMask);
        Assert.Equal(expected.AttentionMask, actual.AttentionMask);
        Assert.Equal(expected.SampleIndex, actual.SampleIndex);
    }
}
