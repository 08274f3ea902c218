using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// The fields of an encoding as BERT's template post-processor builds them: "[CLS] A [SEP]" is segment 0 and
/// "B [SEP]" segment 1. The pair used: "hello world" / "the quick" -> [CLS] hello world [SEP] the quick [SEP].
/// </summary>
public sealed class EncodingFieldsTests
{
    private const string First = "hello world";
    private const string Second = "the quick";

    private static readonly BertTokenizer Tokenizer = Full;

    private static BertFineTune.Tokenization.EncodedText EncodePair() => Tokenizer.Encode(First, Second);

    [Fact]
    public void Pair_ids_are_cls_first_sep_second_sep()
    {
        Assert.Equal(
            [VocabId("[CLS]"), VocabId("hello"), VocabId("world"), VocabId("[SEP]"), VocabId("the"), VocabId("quick"), VocabId("[SEP]")],
            EncodePair().Ids);
    }

    [Fact]
    public void Pair_type_ids_are_zero_through_the_first_sep_and_one_after()
    {
        Assert.Equal([0, 0, 0, 0, 1, 1, 1], EncodePair().TypeIds);
    }

    [Fact]
    public void Pair_sequence_ids_name_the_text_and_are_null_for_special_tokens()
    {
        Assert.Equal([null, 0, 0, null, 1, 1, null], EncodePair().SequenceIds);
    }

    [Fact]
    public void Special_tokens_mask_marks_the_added_tokens()
    {
        Assert.Equal([1, 0, 0, 1, 0, 0, 1], EncodePair().SpecialTokensMask);
    }

    [Fact]
    public void Attention_mask_is_all_ones_without_padding()
    {
        Assert.Equal([1, 1, 1, 1, 1, 1, 1], EncodePair().AttentionMask);
    }

    [Fact]
    public void Word_ids_restart_at_zero_in_the_second_text()
    {
        Assert.Equal([null, 0, 1, null, 0, 1, null], EncodePair().WordIds);
    }

    [Fact]
    public void Offsets_of_the_second_text_point_into_the_second_text()
    {
        Assert.Equal([(0, 0), (0, 5), (6, 11), (0, 0), (0, 3), (4, 9), (0, 0)], EncodePair().Offsets);
    }

    [Fact]
    public void Pieces_of_one_word_share_its_word_id()
    {
        // "unaffable" = una ##ffa ##ble (fixture), one word; "is" is the next word.
        var encoding = Tokenizer.Encode("unaffable is");

        Assert.Equal(["[CLS]", "una", "##ffa", "##ble", "is", "[SEP]"], encoding.Tokens);
        Assert.Equal([null, 0, 0, 0, 1, null], encoding.WordIds);
        Assert.Equal([(0, 0), (0, 3), (3, 6), (6, 9), (10, 12), (0, 0)], encoding.Offsets);
    }

    [Fact]
    public void Without_special_tokens_a_single_text_is_only_its_tokens()
    {
        var encoding = Tokenizer.Encode(First, null, new EncodingOptions { AddSpecialTokens = false });

        Assert.Equal([VocabId("hello"), VocabId("world")], encoding.Ids);
        Assert.Equal([0, 0], encoding.SpecialTokensMask);
        Assert.Equal([0, 1], encoding.WordIds.Select(w => w!.Value));
    }

    [Fact]
    public void Without_special_tokens_a_pair_keeps_its_segments()
    {
        // The second text is encoded with type id 1 before any template is applied.
        var encoding = Tokenizer.Encode(First, Second, new EncodingOptions { AddSpecialTokens = false });

        Assert.Equal([VocabId("hello"), VocabId("world"), VocabId("the"), VocabId("quick")], encoding.Ids);
        Assert.Equal([0, 0, 1, 1], encoding.TypeIds);
        Assert.Equal([0, 0, 1, 1], encoding.SequenceIds.Select(s => s!.Value));
    }

    [Fact]
    public void Tokenize_returns_the_pieces_without_special_tokens()
    {
        Assert.Equal(["una", "##ffa", "##ble"], Tokenizer.Tokenize("unaffable"));
    }

    [Fact]
    public void Encode_gives_sample_index_zero()
    {
        Assert.Equal(0, EncodePair().SampleIndex);
    }

    [Fact]
    public void Special_token_ids_come_from_the_vocabulary()
    {
        Assert.Equal(VocabId("[CLS]"), Tokenizer.ClsTokenId);
        Assert.Equal(VocabId("[SEP]"), Tokenizer.SepTokenId);
        Assert.Equal(VocabId("[PAD]"), Tokenizer.PadTokenId);
        Assert.Equal(VocabId("[UNK]"), Tokenizer.UnknownTokenId);
        Assert.Equal(VocabId("[MASK]"), Tokenizer.MaskTokenId);
        Assert.Equal(30522, Tokenizer.VocabularySize);
    }

    [Fact]
    public void Token_and_id_lookups_are_inverse()
    {
        Assert.Equal(VocabId("hello"), Tokenizer.TokenToId("hello"));
        Assert.Equal("hello", Tokenizer.IdToToken(VocabId("hello")));
        Assert.Null(Tokenizer.TokenToId("not-a-token"));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(30522)]
    public void Id_outside_the_vocabulary_raises(int id)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Tokenizer.IdToToken(id));
    }
}
