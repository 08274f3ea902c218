using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;

namespace BertFineTune.Tests.Tokenization;

/// <summary>Null, empty, blank and very long inputs.</summary>
public sealed class InputEdgeCaseTests
{
    private const string Unit = "hello world. ";

    private static readonly BertTokenizer Tokenizer = Full;

    [Fact]
    public void Null_text_throws_ArgumentNullException() =>
        Assert.Throws<ArgumentNullException>(() => Tokenizer.Encode(null!));

    [Fact]
    public void Null_text_in_a_batch_throws_ArgumentNullException() =>
        Assert.Throws<ArgumentNullException>(() => Tokenizer.EncodeBatch(["fine", null!]));

    [Fact]
    public void Null_batch_throws_ArgumentNullException() =>
        Assert.Throws<ArgumentNullException>(() => Tokenizer.EncodeBatch(null!));

    [Fact]
    public void Null_text_to_tokenize_throws_ArgumentNullException() =>
        Assert.Throws<ArgumentNullException>(() => Tokenizer.Tokenize(null!));

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("   \t\n\r\n  ")]
    [InlineData("\u00A0\u2003\u3000")]
    [InlineData("\u200B\u00AD\0")]
    public void Empty_or_blank_text_gives_just_cls_and_sep(string text)
    {
        // Everything is whitespace or removed by clean_text: no words, only the template's [CLS] [SEP] (fixture rows
        // "" and " " are exactly that).
        var encoding = Tokenizer.Encode(text);

        Assert.Equal([VocabId("[CLS]"), VocabId("[SEP]")], encoding.Ids);
        Assert.Equal([(0, 0), (0, 0)], encoding.Offsets);
        Assert.Equal([null, null], encoding.WordIds);
    }

    [Fact]
    public void Empty_pair_gives_cls_sep_sep_with_the_last_sep_in_segment_one()
    {
        var encoding = Tokenizer.Encode("", "");

        Assert.Equal([VocabId("[CLS]"), VocabId("[SEP]"), VocabId("[SEP]")], encoding.Ids);
        Assert.Equal([0, 0, 1], encoding.TypeIds);
    }

    [Fact]
    public void One_megabyte_text_encodes_to_three_tokens_per_repetition()
    {
        // "hello world. " is the words hello, world and ".": 3 tokens per repetition, plus [CLS] and [SEP].
        int repeats = (1 << 20) / Unit.Length;
        var text = string.Concat(Enumerable.Repeat(Unit, repeats));

        var encoding = Tokenizer.Encode(text);

        Assert.Equal(3 * repeats + 2, encoding.Length);
        Assert.Equal(VocabId("hello"), encoding.Ids[^4]);
        Assert.Equal((text.Length - 2, text.Length - 1), encoding.Offsets[^2]);
        Assert.Equal(3 * repeats - 1, encoding.WordIds[^2]);
    }

    [Fact]
    public void Doubling_a_long_text_exactly_doubles_its_token_count()
    {
        int repeats = (1 << 20) / Unit.Length;
        var oneMegabyte = string.Concat(Enumerable.Repeat(Unit, repeats));

        int once = Tokenizer.Encode(oneMegabyte).Length - 2;
        int twice = Tokenizer.Encode(oneMegabyte + oneMegabyte).Length - 2;

        Assert.Equal(2 * once, twice);
    }

    [Fact]
    public void One_megabyte_word_without_spaces_becomes_one_unknown_token()
    {
        // A single word far over 100 characters: one [UNK] covering the whole text.
        var text = new string('x', 1 << 20);

        var encoding = Tokenizer.Encode(text);

        Assert.Equal([VocabId("[CLS]"), VocabId("[UNK]"), VocabId("[SEP]")], encoding.Ids);
        Assert.Equal((0, text.Length), encoding.Offsets[1]);
    }
}
