using BertFineTune.Data;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Data;

public class BatchCollatorTests
{
    private static EncodedExample Example(int length, TargetValue label, int first = 1) =>
        EncodedExample.WithLabel(Enumerable.Range(first, length).ToArray(), Enumerable.Repeat(1, length).ToArray(), label);

    private static long[,] Values(Tensor t)
    {
        var flat = t.data<long>().ToArray();
        var result = new long[t.shape[0], t.shape[1]];
        Buffer.BlockCopy(flat, 0, result, 0, flat.Length * sizeof(long));
        return result;
    }

    [Fact]
    public void Pads_to_the_longest_example_of_the_batch_with_the_pad_id()
    {
        var collator = new BatchCollator(padTokenId: 7);

        using var batch = collator.Collate([Example(3, TargetValue.Integer(0), first: 10), Example(5, TargetValue.Integer(2), first: 20)]);

        Assert.Equal([2L, 5L], batch.InputIds.shape);
        Assert.Equal(new long[,] { { 10, 11, 12, 7, 7 }, { 20, 21, 22, 23, 24 } }, Values(batch.InputIds));
        Assert.Equal(new long[,] { { 1, 1, 1, 0, 0 }, { 1, 1, 1, 1, 1 } }, Values(batch.AttentionMask!));
        Assert.Equal(new long[,] { { 1, 1, 1, 0, 0 }, { 1, 1, 1, 1, 1 } }, Values(batch.TokenTypeIds!));
        Assert.Equal([0L, 2L], batch.Targets["labels"].data<long>().ToArray());
        Assert.Equal(ScalarType.Int64, batch.Targets["labels"].dtype);
    }

    [Fact]
    public void Another_batch_gets_its_own_length_not_a_fixed_one()
    {
        var collator = new BatchCollator();

        using var short_ = collator.Collate([Example(2, TargetValue.Integer(0)), Example(3, TargetValue.Integer(1))]);
        using var long_ = collator.Collate([Example(9, TargetValue.Integer(0)), Example(4, TargetValue.Integer(1))]);

        Assert.Equal(3, short_.InputIds.shape[1]);
        Assert.Equal(9, long_.InputIds.shape[1]);
    }

    [Theory]
    [InlineData(5, 8, 8)]
    [InlineData(8, 8, 8)]
    [InlineData(9, 8, 16)]
    [InlineData(1, 3, 3)]
    [InlineData(7, 1, 7)]
    public void Pad_to_multiple_of_rounds_the_length_up(int longest, int multiple, int expected)
    {
        var collator = new BatchCollator(padToMultipleOf: multiple);

        using var batch = collator.Collate([Example(longest, TargetValue.Integer(0)), Example(1, TargetValue.Integer(0))]);

        Assert.Equal(expected, batch.InputIds.shape[1]);
        Assert.Equal(longest, batch.AttentionMask!.sum().item<long>() - 1);
    }

    [Fact]
    public void Token_labels_are_padded_with_minus_100()
    {
        var collator = new BatchCollator(padToMultipleOf: 4);
        var a = new EncodedExample([1, 2, 3], null, new Dictionary<string, TargetValue> { ["labels"] = TargetValue.TokenLabels([-100, 4, 1]) });
        var b = new EncodedExample([1, 2, 3, 4, 5], null, new Dictionary<string, TargetValue> { ["labels"] = TargetValue.TokenLabels([-100, 0, 2, 3, -100]) });

        using var batch = collator.Collate([a, b]);

        Assert.Equal(new long[,] { { -100, 4, 1, -100, -100, -100, -100, -100 }, { -100, 0, 2, 3, -100, -100, -100, -100 } },
            Values(batch.Targets["labels"]));
        Assert.Equal(new long[,] { { 0, 0, 0, 0, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0, 0, 0 } }, Values(batch.TokenTypeIds!));
    }

    [Fact]
    public void Number_and_vector_targets_stack_as_float()
    {
        var collator = new BatchCollator();

        using var numbers = collator.Collate([Example(2, TargetValue.Number(0.5f)), Example(3, TargetValue.Number(-2f))]);
        using var vectors = collator.Collate([Example(2, TargetValue.Vector([1f, 0f, 1f])), Example(3, TargetValue.Vector([0f, 0f, 1f]))]);

        Assert.Equal(ScalarType.Float32, numbers.Targets["labels"].dtype);
        Assert.Equal([0.5f, -2f], numbers.Targets["labels"].data<float>().ToArray());
        Assert.Equal([2L, 3L], vectors.Targets["labels"].shape);
        Assert.Equal([1f, 0f, 1f, 0f, 0f, 1f], vectors.Targets["labels"].data<float>().ToArray());
    }

    public static TheoryData<string, EncodedExample[]> Mismatches() => new()
    {
        { "Example 2", [Example(2, TargetValue.Integer(0)), Example(2, TargetValue.Integer(1)), Example(2, TargetValue.Number(1f))] },
        { "Example 1", [Example(2, TargetValue.Vector([1f, 0f])), Example(2, TargetValue.Vector([1f, 0f, 1f]))] },
        { "Example 1", [Example(2, TargetValue.Integer(0)), new EncodedExample([1, 2], null, new Dictionary<string, TargetValue>())] },
        { "Example 1", [Example(2, TargetValue.Integer(0)), new EncodedExample([1, 2], null,
            new Dictionary<string, TargetValue> { ["label"] = TargetValue.Integer(0) })] },
        { "Example 1", [Example(2, TargetValue.Integer(0)), new EncodedExample([1, 2], null,
            new Dictionary<string, TargetValue> { ["labels"] = TargetValue.Integer(0), ["start_positions"] = TargetValue.Integer(1) })] },
        { "Example 1", [Example(2, TargetValue.Integer(0)), new EncodedExample([1, 2, 3], null,
            new Dictionary<string, TargetValue> { ["labels"] = TargetValue.TokenLabels([0, 1, 2]) })] },
        { "Example 1", [new EncodedExample([1, 2], null, new Dictionary<string, TargetValue> { ["labels"] = TargetValue.Integer(0), ["weight"] = TargetValue.Number(1f) }),
            new EncodedExample([1, 2], null, new Dictionary<string, TargetValue> { ["labels"] = TargetValue.Integer(1), ["weight"] = TargetValue.Integer(1) })] },
        { "Example 0", [new EncodedExample([1, 2, 3], null, new Dictionary<string, TargetValue> { ["labels"] = TargetValue.TokenLabels([0, 1]) })] },
    };

    [Theory]
    [MemberData(nameof(Mismatches))]
    public void Mismatched_targets_are_refused_naming_the_example(string culprit, EncodedExample[] examples)
    {
        var collator = new BatchCollator();
        long live = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var error = Assert.Throws<ArgumentException>(() => collator.Collate(examples).Dispose());

        Assert.Contains(culprit, error.Message, StringComparison.Ordinal);
        Assert.Equal("examples", error.ParamName);
        // The targets stacked before the mismatch was found are freed, not left to the finalizer.
        Assert.Equal(live, TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void The_tokenizers_attention_mask_is_kept_so_its_padding_is_not_attended()
    {
        // Encoded with padding to 8 by the tokenizer: its [PAD]s are in the ids with mask 0. The collator pads the batch
        // further to the longest row and must keep the tokenizer's zeros, not mark every id it was given as attended.
        var tokenizer = Tokenization.TokenizerTestData.Letters();
        var padded = tokenizer.Encode("a b", options: new EncodingOptions { Padding = PaddingStrategy.MaxLength, MaxLength = 6 });
        var longer = tokenizer.Encode("a b c d e f");
        Assert.Equal([1, 1, 1, 1, 0, 0], padded.AttentionMask);

        using var batch = new BatchCollator(tokenizer.PadTokenId).Collate([
            EncodedExample.WithLabel(padded, TargetValue.Integer(0)),
            EncodedExample.WithLabel(longer, TargetValue.Integer(1)),
        ]);

        Assert.Equal(new long[,] { { 1, 1, 1, 1, 0, 0, 0, 0 }, { 1, 1, 1, 1, 1, 1, 1, 1 } }, Values(batch.AttentionMask!));
    }

    [Fact]
    public void A_mask_or_segment_ids_without_one_value_per_token_are_refused()
    {
        var example = Example(3, TargetValue.Integer(0)) with { AttentionMask = [1, 1] };

        var error = Assert.Throws<ArgumentException>(() => new BatchCollator().Collate([example]));

        Assert.Contains("3 tokens", error.Message, StringComparison.Ordinal);
        Assert.Contains("2 attention-mask values", error.Message, StringComparison.Ordinal);
    }
}
