namespace BertFineTune.Inference;

/// <summary>
/// The post-processing of transformers' <c>question-answering</c> pipeline (<c>pipelines/question_answering.py</c>:
/// <c>select_starts_ends</c>, <c>decode_spans</c>, <c>QuestionAnsweringPipeline.postprocess</c>, <c>get_indices</c> and
/// <c>get_answer</c>) as pure functions over plain arrays, so that it runs the same on any runtime's logits.
/// </summary>
internal static class QuestionAnsweringDecoding
{
    /// <summary>The pipeline's starting <c>min_null_score</c> ("large and positive").</summary>
    internal const double InitialMinNullScore = 1000000;

    /// <summary>The value the pipeline writes over the logits of tokens that cannot be in an answer before the softmax.</summary>
    private const float MaskedLogit = -10000f;

    /// <summary>One window's start and end logits with the encoding fields that post-processing reads.</summary>
    /// <param name="StartLogits">Start logits, at least one per token of the window (entries past it are padding and ignored).</param>
    /// <param name="EndLogits">End logits, likewise.</param>
    /// <param name="CandidateMask">
    /// Per token of the window, the pipeline's <c>(1 - p_mask) &amp; attention_mask</c>: true for context tokens and
    /// [CLS], false for the question, the other special tokens and padding.
    /// </param>
    /// <param name="Offsets">Each token's [start, end) in its own text.</param>
    /// <param name="WordIds">Each token's word within its own sequence; null for special tokens.</param>
    /// <param name="SequenceIds">0 for question tokens, 1 for context tokens, null for special tokens.</param>
    internal sealed record WindowOutput(float[] StartLogits, float[] EndLogits, bool[] CandidateMask,
        IReadOnlyList<(int Start, int End)> Offsets, IReadOnlyList<int?> WordIds, IReadOnlyList<int?> SequenceIds);

    /// <summary>A span of tokens [Start, End] (inclusive) of a window with its start × end probability (float32, as numpy computes it).</summary>
    internal readonly record struct Span(int Start, int End, float Score);

    /// <summary>
    /// <c>QuestionAnsweringPipeline.postprocess</c>: the best <paramref name="topK"/> answers over all windows. Each window
    /// proposes its <c>top_k × 2 + 10</c> best spans (<c>top_k</c> without word alignment); each span becomes a character
    /// range of <paramref name="context"/> (<see cref="GetIndices"/>); a span whose text equals an earlier answer's
    /// (ignoring case) adds its score to that answer instead of making a new one; with
    /// <paramref name="handleImpossibleAnswer"/> the empty answer (0, 0) takes the smallest [CLS] score of any window;
    /// answers are sorted by score, ties in the order found (Python's stable sort).
    /// </summary>
    internal static IReadOnlyList<Answer> Postprocess(IReadOnlyList<WindowOutput> windows, string context, int topK,
        bool handleImpossibleAnswer, int maxAnswerLength, bool alignToWords)
    {
        ArgumentNullException.ThrowIfNull(windows);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxAnswerLength, 1);
        // "Some candidates may be deleted if we align to words": the pipeline asks each window for more spans.
        int preTopK = alignToWords ? topK * 2 + 10 : topK;
        double minNullScore = InitialMinNullScore;
        var answers = new List<MutableAnswer>();
        foreach (var window in windows)
        {
            var spans = SelectStartsEnds(window.StartLogits, window.EndLogits, window.CandidateMask, ref minNullScore, preTopK,
                handleImpossibleAnswer, maxAnswerLength);
            foreach (var span in spans)
            {
                var (start, end) = GetIndices(window, span.Start, span.End, alignToWords);
                var text = context[start..end];
                // get_answer: answers compare by answer.lower() == target.lower().
                var lower = text.ToLowerInvariant();
                var same = answers.Find(a => a.Lower == lower);
                if (same is not null)
                {
                    same.Score += span.Score;
                }
                else
                {
                    answers.Add(new MutableAnswer { Score = span.Score, Start = start, End = end, Text = text, Lower = lower });
                }
            }
        }
        if (handleImpossibleAnswer)
        {
            answers.Add(new MutableAnswer { Score = minNullScore, Start = 0, End = 0, Text = string.Empty, Lower = string.Empty });
        }
        return answers.OrderByDescending(a => a.Score).Take(topK).Select(a => new Answer(a.Score, a.Start, a.End, a.Text)).ToList();
    }

    /// <summary>
    /// <c>select_starts_ends</c>: the window's logits outside <paramref name="candidateMask"/> become −10000, start and
    /// end are softmaxed separately (float32), the [CLS] (index 0) start × end probability lowers
    /// <paramref name="minNullScore"/> when <paramref name="handleImpossibleAnswer"/>, then index 0 gets probability 0 and
    /// <see cref="DecodeSpans"/> picks the best spans.
    /// </summary>
    internal static IReadOnlyList<Span> SelectStartsEnds(float[] startLogits, float[] endLogits, bool[] candidateMask,
        ref double minNullScore, int topK, bool handleImpossibleAnswer, int maxAnswerLength)
    {
        ArgumentNullException.ThrowIfNull(startLogits);
        ArgumentNullException.ThrowIfNull(endLogits);
        ArgumentNullException.ThrowIfNull(candidateMask);
        int length = candidateMask.Length;
        if (startLogits.Length < length || endLogits.Length < length)
        {
            throw new ArgumentException(
                $"The window has {length} tokens but only {startLogits.Length} start and {endLogits.Length} end logits; pass one logit per token.",
                nameof(startLogits));
        }
        var start = MaskedSoftmax(startLogits, candidateMask);
        var end = MaskedSoftmax(endLogits, candidateMask);
        if (handleImpossibleAnswer && length > 0)
        {
            minNullScore = Math.Min(minNullScore, start[0] * end[0]);
        }
        if (length > 0)
        {
            // "Mask CLS": the first token can start or end no answer span.
            start[0] = 0;
            end[0] = 0;
        }
        return DecodeSpans(start, end, candidateMask, topK, maxAnswerLength);
    }

    /// <summary>
    /// <c>decode_spans</c>: every span [s, e] with s ≤ e ≤ s + <paramref name="maxAnswerLength"/> − 1 whose first and last
    /// tokens are both in <paramref name="candidateMask"/>, scored start[s] × end[e] (float32), best
    /// <paramref name="topK"/> first; equal scores in (s, e) order, as numpy's row-major argmax. Spans of score 0 (those
    /// on [CLS], or whose probability underflows) are left out: the pipeline ranks them among its many zero-score pairs
    /// in an order numpy's <c>argpartition</c> leaves unspecified.
    /// </summary>
    internal static IReadOnlyList<Span> DecodeSpans(float[] start, float[] end, bool[] candidateMask, int topK, int maxAnswerLength)
    {
        int length = candidateMask.Length;
        var spans = new List<Span>();
        for (int s = 0; s < length; s++)
        {
            if (!candidateMask[s])
            {
                continue;
            }
            int last = Math.Min(length, s + maxAnswerLength);
            for (int e = s; e < last; e++)
            {
                float score = start[s] * end[e];
                if (candidateMask[e] && score > 0)
                {
                    spans.Add(new Span(s, e, score));
                }
            }
        }
        // List.Sort is not stable; the comparison breaks ties by position so the order is the row-major one.
        spans.Sort((a, b) => b.Score != a.Score ? b.Score.CompareTo(a.Score) : a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.End.CompareTo(b.End));
        return spans.Count > topK ? spans.GetRange(0, topK) : spans;
    }

    /// <summary>
    /// <c>get_indices</c>: the answer's [start, end) in the context. With <paramref name="alignToWords"/>, from the first
    /// character of the word of token <paramref name="s"/> to the last character of the word of token
    /// <paramref name="e"/> (tokenizers' <c>token_to_word</c> then <c>word_to_chars(word, sequence_index=1)</c>, which
    /// sees only the tokens of that word inside this window); when a token has no word, the token offsets, as the
    /// pipeline's fallback for tokenizers without words.
    /// </summary>
    internal static (int Start, int End) GetIndices(WindowOutput window, int s, int e, bool alignToWords)
    {
        if (alignToWords && window.WordIds[s] is int startWord && window.WordIds[e] is int endWord)
        {
            int first = -1;
            for (int i = 0; i < window.WordIds.Count; i++)
            {
                if (window.SequenceIds[i] == 1 && window.WordIds[i] == startWord)
                {
                    first = i;
                    break;
                }
            }
            int last = -1;
            for (int i = window.WordIds.Count - 1; i >= 0; i--)
            {
                if (window.SequenceIds[i] == 1 && window.WordIds[i] == endWord)
                {
                    last = i;
                    break;
                }
            }
            if (first >= 0 && last >= 0)
            {
                return (window.Offsets[first].Start, window.Offsets[last].End);
            }
        }
        return (window.Offsets[s].Start, window.Offsets[e].End);
    }

    /// <summary>Softmax in float32 over the whole window, logits outside <paramref name="mask"/> replaced by −10000.</summary>
    private static float[] MaskedSoftmax(float[] logits, bool[] mask)
    {
        var values = new float[mask.Length];
        float max = float.NegativeInfinity;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = mask[i] ? logits[i] : MaskedLogit;
            max = Math.Max(max, values[i]);
        }
        double sum = 0;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = MathF.Exp(values[i] - max);
            sum += values[i];
        }
        float total = (float)sum;
        for (int i = 0; i < values.Length; i++)
        {
            values[i] /= total;
        }
        return values;
    }

    private sealed class MutableAnswer
    {
        public double Score { get; set; }
        public int Start { get; init; }
        public int End { get; init; }
        public required string Text { get; init; }
        public required string Lower { get; init; }
    }
}
