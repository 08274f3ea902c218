using System.Text.Json;
using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;
using EncodedText = BertFineTune.Tokenization.EncodedText;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// Extractive-QA windows: <c>truncation=only_second, max_length=64, stride=16, return_overflowing_tokens=True</c> on the
/// question/context pairs of tokenizer_overflow.json.
/// </summary>
public sealed class OverflowWindowTests
{
    private const int MaxLength = 64;
    private const int Stride = 16;

    private static readonly BertTokenizer Tokenizer = Full;

    private static readonly List<JsonElement> OverflowRows = Rows("tokenizer_overflow.json");

    public static TheoryData<int> RowIndexes() => new(Enumerable.Range(0, OverflowRows.Count));

    private static (string Question, string Context) Row(int index) =>
        (OverflowRows[index].GetProperty("question").GetString()!, OverflowRows[index].GetProperty("context").GetString()!);

    private static EncodingOptions Windows(bool earlyExit = false) => new()
    {
        Truncation = TruncationStrategy.OnlySecond,
        MaxLength = MaxLength,
        Stride = Stride,
        ReturnOverflowingTokens = true,
        TokenizersEarlyExit = earlyExit,
    };

    private static EncodedText Plain(string text) => Tokenizer.Encode(text, null, new EncodingOptions { AddSpecialTokens = false });

    private static List<int> ContextPositions(EncodedText window) =>
        Enumerable.Range(0, window.Length).Where(i => window.SequenceIds[i] == 1).ToList();

    [Theory]
    [MemberData(nameof(RowIndexes))]
    public void Consecutive_windows_overlap_by_exactly_the_stride(int row)
    {
        var (question, context) = Row(row);
        var windows = Tokenizer.EncodeWindows(question, context, Windows());
        Assert.True(windows.Count > 1, "The context must need several windows.");

        for (int w = 0; w + 1 < windows.Count; w++)
        {
            var current = ContextPositions(windows[w]);
            var next = ContextPositions(windows[w + 1]);
            // The last Stride context tokens of a window are the first Stride of the next (same ids, same offsets).
            var tail = current.TakeLast(Stride).ToList();
            var head = next.Take(Stride).ToList();
            Assert.Equal(tail.Select(i => windows[w].Ids[i]), head.Select(i => windows[w + 1].Ids[i]));
            Assert.Equal(tail.Select(i => windows[w].Offsets[i]), head.Select(i => windows[w + 1].Offsets[i]));
        }
    }

    [Theory]
    [MemberData(nameof(RowIndexes))]
    public void Every_window_holds_the_whole_question_between_cls_and_sep(int row)
    {
        var (question, context) = Row(row);
        var questionIds = Plain(question).Ids;

        foreach (var window in Tokenizer.EncodeWindows(question, context, Windows()))
        {
            Assert.Equal(VocabId("[CLS]"), window.Ids[0]);
            Assert.Equal(questionIds, window.Ids.Skip(1).Take(questionIds.Count));
            Assert.Equal(VocabId("[SEP]"), window.Ids[questionIds.Count + 1]);
            Assert.Equal(VocabId("[SEP]"), window.Ids[^1]);
            Assert.Equal(questionIds.Count, window.SequenceIds.Count(s => s == 0));
        }
    }

    [Theory]
    [MemberData(nameof(RowIndexes))]
    public void Full_windows_hold_max_length_tokens(int row)
    {
        // Each window but the last is exactly MaxLength long: [CLS] question [SEP] (64 - 3 - |question|) [SEP].
        var (question, context) = Row(row);
        var windows = Tokenizer.EncodeWindows(question, context, Windows());

        Assert.All(windows.SkipLast(1), w => Assert.Equal(MaxLength, w.Length));
        Assert.InRange(windows[^1].Length, 1, MaxLength);
    }

    [Theory]
    [MemberData(nameof(RowIndexes))]
    public void Context_token_offsets_point_into_the_context(int row)
    {
        var (question, context) = Row(row);
        Assert.True(context.All(char.IsAscii), "This check compares lower-cased ASCII slices with the tokens.");
        var unknown = VocabId("[UNK]");

        foreach (var window in Tokenizer.EncodeWindows(question, context, Windows()))
        {
            foreach (var i in ContextPositions(window).Where(i => window.Ids[i] != unknown))
            {
                var (start, end) = window.Offsets[i];
                var piece = window.Tokens[i].StartsWith("##", StringComparison.Ordinal) ? window.Tokens[i][2..] : window.Tokens[i];
                Assert.Equal(piece, context[start..end].ToLowerInvariant());
            }
        }
    }

    [Theory]
    [MemberData(nameof(RowIndexes))]
    public void Without_early_exit_the_windows_cover_the_whole_context(int row)
    {
        var (question, context) = Row(row);
        var all = Plain(context);
        int perWindow = MaxLength - 3 - Plain(question).Length;
        // Windows start every perWindow - Stride tokens until one reaches the end: 1 + ceil((n - L) / (L - stride)).
        int expectedWindows = 1 + (Math.Max(0, all.Length - perWindow) + perWindow - Stride - 1) / (perWindow - Stride);

        var windows = Tokenizer.EncodeWindows(question, context, Windows());

        Assert.Equal(expectedWindows, windows.Count);
        var last = windows[^1];
        int lastContext = ContextPositions(last)[^1];
        Assert.Equal(all.Ids[^1], last.Ids[lastContext]);
        Assert.Equal(all.Offsets[^1], last.Offsets[lastContext]);
        for (int w = 0; w < windows.Count; w++)
        {
            // Window w starts at context token w * (L - stride).
            Assert.Equal(all.Offsets[w * (perWindow - Stride)], windows[w].Offsets[ContextPositions(windows[w])[0]]);
        }
    }

    [Theory]
    [MemberData(nameof(RowIndexes))]
    public void With_early_exit_the_windows_reproduce_transformers_5(int row)
    {
        var fixture = OverflowRows[row];
        var (question, context) = Row(row);
        var options = Windows(earlyExit: true) with { Padding = PaddingStrategy.MaxLength };

        var batch = Tokenizer.EncodeBatch([question], [context], options);

        var expectedIds = fixture.GetProperty("input_ids").EnumerateArray().ToList();
        Assert.Equal(expectedIds.Count, batch.Encodings.Count);
        Assert.Equal(Ints(fixture.GetProperty("overflow_to_sample_mapping")), batch.SampleMapping);
        for (int w = 0; w < expectedIds.Count; w++)
        {
            var window = batch.Encodings[w];
            Assert.Equal(Ints(expectedIds[w]), window.Ids);
            Assert.Equal(Ints(fixture.GetProperty("token_type_ids")[w]), window.TypeIds);
            Assert.Equal(Ints(fixture.GetProperty("attention_mask")[w]), window.AttentionMask);
            // ASCII texts: Python's code-point offsets are the UTF-16 offsets.
            Assert.Equal(Offsets(fixture.GetProperty("offsets")[w]), window.Offsets);
            Assert.Equal(NullableInts(fixture.GetProperty("sequence_ids")[w]), window.SequenceIds);
        }
    }

    [Fact]
    public void Early_exit_drops_the_end_of_a_long_context()
    {
        // With the early exit each text is tokenized only up to MaxLength tokens, so fewer windows come back and the
        // last one ends before the context does.
        var (question, context) = Row(0);

        var full = Tokenizer.EncodeWindows(question, context, Windows());
        var early = Tokenizer.EncodeWindows(question, context, Windows(earlyExit: true));

        Assert.True(early.Count < full.Count, $"early exit gave {early.Count} windows, full tokenization {full.Count}");
        Assert.True(early[^1].Offsets[ContextPositions(early[^1])[^1]].End < Plain(context).Offsets[^1].End);
    }

    [Fact]
    public void Batch_sample_mapping_names_the_input_of_every_window()
    {
        var questions = OverflowRows.Select(r => r.GetProperty("question").GetString()!).ToList();
        var contexts = OverflowRows.Select(r => (string?)r.GetProperty("context").GetString()!).ToList();
        // A short pair in the middle gives a single window.
        questions.Insert(1, "short question");
        contexts.Insert(1, "short context");
        var counts = questions.Select((q, i) => Tokenizer.EncodeWindows(q, contexts[i], Windows()).Count).ToList();

        var batch = Tokenizer.EncodeBatch(questions, contexts, Windows());

        var expected = counts.SelectMany((count, i) => Enumerable.Repeat(i, count)).ToList();
        Assert.Equal(1, counts[1]);
        Assert.Equal(expected, batch.SampleMapping);
        Assert.Equal(expected, batch.Encodings.Select(e => e.SampleIndex));
    }

    [Fact]
    public void Without_return_overflowing_tokens_only_the_first_window_comes_back()
    {
        var (question, context) = Row(0);
        var options = Windows() with { ReturnOverflowingTokens = false };

        var windows = Tokenizer.EncodeWindows(question, context, options);

        var single = Assert.Single(windows);
        AssertSameEncoding(Tokenizer.EncodeWindows(question, context, Windows())[0], single);
        Assert.Single(Tokenizer.EncodeBatch([question], [context], options).Encodings);
    }

    [Fact]
    public void Windows_of_one_input_are_padded_together()
    {
        var (question, context) = Row(2);
        var unpadded = Tokenizer.EncodeWindows(question, context, Windows());
        Assert.True(unpadded[^1].Length < unpadded[0].Length, "The last window must be shorter for padding to show.");

        var padded = Tokenizer.EncodeWindows(question, context, Windows() with { Padding = PaddingStrategy.Longest });

        Assert.All(padded, w => Assert.Equal(unpadded[0].Length, w.Length));
        Assert.Equal(unpadded[^1].Length, padded[^1].AttentionMask.Sum());
        Assert.Equal(unpadded[^1].Ids, padded[^1].Ids.Take(unpadded[^1].Length));
    }
}
