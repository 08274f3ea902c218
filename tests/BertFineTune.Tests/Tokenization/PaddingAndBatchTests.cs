using BertFineTune.Tokenization;
using TorchSharp;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;

namespace BertFineTune.Tests.Tokenization;

/// <summary>Padding strategies, pad-token fields, and batches as tensors.</summary>
public sealed class PaddingAndBatchTests
{
    private const int Pad = 0;
    private const int Cls = 2;
    private const int Sep = 3;

    private static readonly BertTokenizer Tokenizer = Letters();

    private static readonly string[] Texts = [Words("a"), Words("abcd"), Words("ab")];

    /// <summary>One row of a [batch, length] tensor, the row view disposed.</summary>
    private static long[] RowOf(torch.Tensor tensor, int row)
    {
        using var view = tensor[row];
        return view.data<long>().ToArray();
    }

    [Fact]
    public void Without_padding_encodings_keep_their_own_lengths()
    {
        var batch = Tokenizer.EncodeBatch(Texts);

        Assert.Equal([3, 6, 4], batch.Encodings.Select(e => e.Length));
    }

    [Fact]
    public void Longest_pads_every_encoding_to_the_longest_of_the_batch()
    {
        // Lengths 3, 6, 4 -> 6.
        var batch = Tokenizer.EncodeBatch(Texts, null, new EncodingOptions { Padding = PaddingStrategy.Longest });

        Assert.All(batch.Encodings, e => Assert.Equal(6, e.Length));
        Assert.Equal([Cls, LetterId('a'), Sep, Pad, Pad, Pad], batch.Encodings[0].Ids);
        Assert.Equal([1, 1, 1, 0, 0, 0], batch.Encodings[0].AttentionMask);
    }

    [Fact]
    public void Max_length_pads_every_encoding_to_max_length()
    {
        var batch = Tokenizer.EncodeBatch(Texts, null, new EncodingOptions { Padding = PaddingStrategy.MaxLength, MaxLength = 9 });

        Assert.All(batch.Encodings, e => Assert.Equal(9, e.Length));
    }

    [Fact]
    public void Max_length_padding_defaults_to_the_model_max_length()
    {
        var tokenizer = Letters(new BertTokenizerOptions { ModelMaxLength = 7 });

        var encoding = tokenizer.Encode(Words("a"), null, new EncodingOptions { Padding = PaddingStrategy.MaxLength });

        Assert.Equal(7, encoding.Length);
    }

    [Fact]
    public void Padding_alone_does_not_cut_an_encoding_longer_than_max_length()
    {
        var encoding = Tokenizer.Encode(Words("abcdef"), null, new EncodingOptions { Padding = PaddingStrategy.MaxLength, MaxLength = 4 });

        Assert.Equal(8, encoding.Length);
        Assert.DoesNotContain(Pad, encoding.Ids);
    }

    [Theory]
    [InlineData(8, 8)]
    [InlineData(4, 8)]
    [InlineData(5, 10)]
    [InlineData(6, 6)]
    [InlineData(1, 6)]
    public void Pad_to_multiple_of_rounds_the_longest_length_up(int multiple, int expected)
    {
        // The longest is 6: rounded up to a multiple of 8 -> 8, of 4 -> 8, of 5 -> 10, of 6 -> 6, of 1 -> 6.
        var options = new EncodingOptions { Padding = PaddingStrategy.Longest, PadToMultipleOf = multiple };

        var batch = Tokenizer.EncodeBatch(Texts, null, options);

        Assert.All(batch.Encodings, e => Assert.Equal(expected, e.Length));
    }

    [Fact]
    public void Pad_to_multiple_of_rounds_max_length_up()
    {
        var options = new EncodingOptions { Padding = PaddingStrategy.MaxLength, MaxLength = 10, PadToMultipleOf = 4 };

        Assert.Equal(12, Tokenizer.Encode(Words("a"), null, options).Length);
    }

    [Fact]
    public void Pad_tokens_have_pad_id_type_zero_no_attention_special_mask_empty_offsets_and_no_word_or_sequence()
    {
        // A pair ends in segment 1, but padding uses pad_token_type_id 0.
        var batch = Tokenizer.EncodeBatch([Words("a"), Words("abc")], [Words("b"), Words("def")],
            new EncodingOptions { Padding = PaddingStrategy.Longest });
        var padded = batch.Encodings[0];

        // [CLS] a [SEP] b [SEP] then 4 pads to reach 9.
        Assert.Equal(9, padded.Length);
        foreach (int i in Enumerable.Range(5, 4))
        {
            Assert.Equal(Pad, padded.Ids[i]);
            Assert.Equal(0, padded.TypeIds[i]);
            Assert.Equal(0, padded.AttentionMask[i]);
            Assert.Equal(1, padded.SpecialTokensMask[i]);
            Assert.Equal((0, 0), padded.Offsets[i]);
            Assert.Null(padded.WordIds[i]);
            Assert.Null(padded.SequenceIds[i]);
            Assert.Equal("[PAD]", padded.Tokens[i]);
        }
        Assert.Equal([0, 0, 0, 1, 1], padded.TypeIds.Take(5));
    }

    [Fact]
    public void Padding_to_max_length_without_any_max_length_raises()
    {
        // transformers warns and skips padding; this library refuses to return unpadded data silently.
        var e = Assert.Throws<ArgumentException>(() =>
            Tokenizer.Encode(Words("a"), null, new EncodingOptions { Padding = PaddingStrategy.MaxLength }));

        Assert.Contains("MaxLength", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pairs_of_another_length_than_the_texts_raise()
    {
        Assert.Throws<ArgumentException>(() => Tokenizer.EncodeBatch([Words("a"), Words("b")], [Words("c")]));
    }

    [Fact]
    public void To_tensors_gives_int64_batch_by_length_tensors_equal_to_the_encodings()
    {
        var batch = Tokenizer.EncodeBatch([Words("ab"), Words("c")], [Words("d"), Words("efg")],
            new EncodingOptions { Padding = PaddingStrategy.Longest });

        using var tensors = batch.ToTensors();

        foreach (var tensor in new[] { tensors.InputIds, tensors.AttentionMask, tensors.TokenTypeIds })
        {
            Assert.Equal(torch.ScalarType.Int64, tensor.dtype);
            Assert.Equal([2L, 7L], tensor.shape);
        }
        for (int row = 0; row < 2; row++)
        {
            var e = batch.Encodings[row];
            Assert.Equal(e.Ids.Select(v => (long)v), RowOf(tensors.InputIds, row));
            Assert.Equal(e.AttentionMask.Select(v => (long)v), RowOf(tensors.AttentionMask, row));
            Assert.Equal(e.TypeIds.Select(v => (long)v), RowOf(tensors.TokenTypeIds, row));
        }
        // Row 0: [CLS] a b [SEP] d [SEP] + 1 pad (type 0); row 1: [CLS] c [SEP] e f g [SEP], the longest.
        Assert.Equal([0L, 0, 0, 0, 1, 1, 0], RowOf(tensors.TokenTypeIds, 0));
        Assert.Equal([1L, 1, 1, 1, 1, 1, 0], RowOf(tensors.AttentionMask, 0));
        Assert.Equal([0L, 0, 0, 1, 1, 1, 1], RowOf(tensors.TokenTypeIds, 1));
    }

    [Fact]
    public void To_tensors_of_an_unpadded_batch_of_different_lengths_raises()
    {
        var batch = Tokenizer.EncodeBatch(Texts);

        var e = Assert.Throws<InvalidOperationException>(() => batch.ToTensors());

        Assert.Contains("Padding", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void To_tensors_of_an_unpadded_batch_of_equal_lengths_works()
    {
        var batch = Tokenizer.EncodeBatch([Words("ab"), Words("cd")]);

        using var tensors = batch.ToTensors();

        Assert.Equal([2L, 4L], tensors.InputIds.shape);
    }
}
