using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// Decoding as the WordPiece decoder of the tokenizers crate: pieces joined by spaces, "##" pieces glued to the
/// previous one, and with cleanup the space before . ? ! , and some contractions removed, piece by piece.
/// </summary>
public sealed class DecodeTests
{
    private static readonly BertTokenizer Tokenizer = Full;

    private static int[] Ids(params string[] tokens) => tokens.Select(VocabId).ToArray();

    [Fact]
    public void Special_tokens_are_skipped_by_default()
    {
        var ids = Tokenizer.Encode("Hello, world!").Ids;

        // Fixture row "Hello, world!": decoded "hello, world!".
        Assert.Equal("hello, world!", Tokenizer.Decode(ids));
    }

    [Fact]
    public void Special_tokens_are_kept_when_not_skipped()
    {
        // [CLS] + " hello" + " ," -> "," + " world" + " !" -> "!" + " [SEP]".
        var ids = Tokenizer.Encode("Hello, world!").Ids;

        Assert.Equal("[CLS] hello, world! [SEP]", Tokenizer.Decode(ids, skipSpecialTokens: false));
    }

    [Fact]
    public void Literal_special_tokens_in_the_text_are_skipped_too()
    {
        // Fixture row "mixed [MASK]ed tokens" decodes to "mixed ed tokens".
        Assert.Equal("mixed ed tokens", Tokenizer.Decode(Tokenizer.Encode("mixed [MASK]ed tokens").Ids));
    }

    [Fact]
    public void Continuation_pieces_are_glued_to_the_previous_piece()
    {
        Assert.Equal("unaffable", Tokenizer.Decode(Ids("una", "##ffa", "##ble")));
    }

    [Fact]
    public void A_continuation_piece_first_keeps_its_prefix()
    {
        // The decoder strips "##" only from pieces after the first.
        Assert.Equal("##s token", Tokenizer.Decode(Ids("##s", "token")));
    }

    [Fact]
    public void Space_before_comma_and_period_is_removed()
    {
        Assert.Equal("hello, world.", Tokenizer.Decode(Ids("hello", ",", "world", ".")));
    }

    [Fact]
    public void Spaced_apostrophe_between_pieces_is_not_joined()
    {
        // Cleanup works on each piece with its own leading space (" '" then " t"), so " ' " never appears whole:
        // "don ' t" stays, as in the fixture's decoded "don ' t can ' t ...".
        Assert.Equal("don ' t", Tokenizer.Decode(Ids("don", "'", "t")));
    }

    [Fact]
    public void Without_cleanup_every_piece_is_space_separated()
    {
        var tokenizer = BertTokenizer.Load(FullVocabPath, _ => new BertTokenizerOptions { CleanUpTokenizationSpaces = false });

        Assert.Equal("hello , world .", tokenizer.Decode(Ids("hello", ",", "world", ".")));
    }

    [Theory]
    [InlineData("Hello, world!")]
    [InlineData("Unbelievably, the tokenizer's output wasn't what we'd expected...")]
    [InlineData("Crème brûlée costs €5.50 (or $6)!")]
    [InlineData("don't can't won't I'm you're")]
    [InlineData("北京是中国的首都。")]
    [InlineData("[CLS] [SEP] [MASK] [PAD] [UNK] literal specials")]
    public void Decoding_matches_the_fixture_decoded_text(string text)
    {
        var row = Rows("tokenizer_single.json").Single(r => r.GetProperty("text").GetString() == text);

        Assert.Equal(row.GetProperty("decoded").GetString(), Tokenizer.Decode(Ints(row.GetProperty("ids"))));
    }

    [Fact]
    public void Decoding_every_fixture_row_gives_its_decoded_text()
    {
        foreach (var row in Rows("tokenizer_single.json"))
        {
            Assert.Equal(row.GetProperty("decoded").GetString(), Tokenizer.Decode(Ints(row.GetProperty("ids"))));
        }
    }

    [Fact]
    public void Empty_ids_decode_to_an_empty_string()
    {
        Assert.Equal("", Tokenizer.Decode([]));
        Assert.Equal("", Tokenizer.Decode(Ids("[CLS]", "[SEP]")));
    }

    [Fact]
    public void Null_ids_raise_ArgumentNullException()
    {
        Assert.Throws<ArgumentNullException>(() => Tokenizer.Decode(null!));
    }
}
