using BertFineTune.Tokenization;

namespace BertFineTune.Data.Readers;

/// <summary>
/// One window of a tokenized SQuAD question: the <see cref="EncodedExample"/> with <c>start_positions</c> and
/// <c>end_positions</c>, and what is needed to turn predicted token positions back into answer text.
/// </summary>
public sealed class QuestionAnswerFeature
{
    internal QuestionAnswerFeature(EncodedExample example, QuestionAnswerExample source, int exampleIndex, int windowIndex,
        (int Start, int End)?[] contextOffsets, int startPosition, int endPosition)
    {
        Example = example;
        Source = source;
        ExampleIndex = exampleIndex;
        WindowIndex = windowIndex;
        ContextOffsets = contextOffsets;
        StartPosition = startPosition;
        EndPosition = endPosition;
    }

    /// <summary>Token ids (<c>[CLS] question [SEP] context window [SEP]</c>), segment ids and the two position targets.</summary>
    public EncodedExample Example { get; }

    /// <summary>The question this window belongs to.</summary>
    public QuestionAnswerExample Source { get; }

    /// <summary>The question's id.</summary>
    public string ExampleId => Source.Id;

    /// <summary>The context the offsets point into.</summary>
    public string Context => Source.Context;

    /// <summary>The position of the question in the list given to <see cref="SquadEncoder.Encode"/>.</summary>
    public int ExampleIndex { get; }

    /// <summary>Which window of the question's context this is (0 = the first).</summary>
    public int WindowIndex { get; }

    /// <summary>For each token, its [start, end) in <see cref="Context"/>; null for tokens outside the context (question, special tokens).</summary>
    public IReadOnlyList<(int Start, int End)?> ContextOffsets { get; }

    /// <summary>The token where the answer starts in this window, or 0 ([CLS]) when the window does not hold the whole answer or there is none.</summary>
    public int StartPosition { get; }

    /// <summary>The token where the answer ends (inclusive) in this window, or 0 ([CLS]) as for <see cref="StartPosition"/>.</summary>
    public int EndPosition { get; }

    /// <summary>
    /// The context text from token <paramref name="startToken"/> to token <paramref name="endToken"/> (inclusive), or null
    /// when either token is outside the context or the span is reversed (no answer).
    /// </summary>
    public string? AnswerText(int startToken, int endToken)
    {
        if ((uint)startToken >= (uint)ContextOffsets.Count || (uint)endToken >= (uint)ContextOffsets.Count || endToken < startToken)
        {
            return null;
        }
        return ContextOffsets[startToken] is { } start && ContextOffsets[endToken] is { } end ? Context[start.Start..end.End] : null;
    }
}

/// <summary>
/// Tokenizes SQuAD questions for extractive question answering as transformers' <c>run_qa.py</c> prepares training
/// features: the question (left white space removed) and the context are encoded with truncation of the context only,
/// <c>maxLength</c> tokens per window and <c>docStride</c> tokens shared by consecutive windows, giving one
/// <see cref="QuestionAnswerFeature"/> per window. The targets are the first and last token of the first gold answer when
/// the window holds all of it, found through the tokens' offsets and sequence ids, else 0 (the [CLS] token); unanswerable
/// questions have 0 in every window.
/// </summary>
public static class SquadEncoder
{
    /// <summary>Encodes every question into its windows, in input order (windows of one question are consecutive).</summary>
    /// <param name="examples">The questions (as <see cref="SquadReader"/> returns them).</param>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="maxLength">Tokens per window, special tokens included (default 384, as run_qa.py).</param>
    /// <param name="docStride">Context tokens shared by consecutive windows (transformers' <c>stride</c>; default 128, as run_qa.py).</param>
    /// <param name="badRows">What to do with a question too long to leave room for its context, or with an answer that is not in its context.</param>
    /// <param name="sourceName">The name bad-row reports give the questions' source (their file, when one file holds them all).</param>
    /// <exception cref="BadRowException">A bad question under <see cref="BadRowPolicy.Throw"/>: the message names the source, question id and reason.</exception>
    public static ReadResult<QuestionAnswerFeature> Encode(IReadOnlyList<QuestionAnswerExample> examples, BertTokenizer tokenizer,
        int maxLength = 384, int docStride = 128, BadRowPolicy badRows = BadRowPolicy.Throw, string sourceName = "(SQuAD examples)")
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 4);
        ArgumentOutOfRangeException.ThrowIfNegative(docStride);
        ArgumentNullException.ThrowIfNull(sourceName);
        var options = new EncodingOptions
        {
            Truncation = TruncationStrategy.OnlySecond,
            MaxLength = maxLength,
            Stride = docStride,
            ReturnOverflowingTokens = true,
        };
        var windows = new IReadOnlyList<Tokenization.EncodedText>?[examples.Count];
        var errors = new string?[examples.Count];
        Parallel.For(0, examples.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            var example = examples[i];
            for (int k = 0; k < example.Answers.Count && errors[i] is null; k++)
            {
                errors[i] = SquadReader.CheckAnswer(example.Answers[k], k, example.Context);
            }
            if (errors[i] is not null)
            {
                return;
            }
            try
            {
                windows[i] = tokenizer.EncodeWindows(example.Question.TrimStart(), example.Context, options);
            }
            catch (ArgumentException e)
            {
                errors[i] = $"cannot be split into windows of {maxLength} tokens with stride {docStride}: {e.Message}";
            }
        });

        var sink = new BadRowSink(sourceName, badRows);
        var features = new List<QuestionAnswerFeature>();
        for (int i = 0; i < examples.Count; i++)
        {
            if (errors[i] is { } error)
            {
                sink.Report(null, error, examples[i].Id);
                continue;
            }
            var answer = examples[i].IsImpossible || examples[i].Answers.Count == 0 ? null : examples[i].Answers[0];
            for (int w = 0; w < windows[i]!.Count; w++)
            {
                features.Add(Feature(examples[i], i, w, windows[i]![w], answer));
            }
        }
        return sink.Result<QuestionAnswerFeature>(features);
    }

    private static QuestionAnswerFeature Feature(QuestionAnswerExample example, int exampleIndex, int windowIndex,
        Tokenization.EncodedText window, SquadAnswer? answer)
    {
        var offsets = new (int Start, int End)?[window.Length];
        int first = -1, last = -1;
        for (int t = 0; t < window.Length; t++)
        {
            if (window.SequenceIds[t] == 1)
            {
                offsets[t] = window.Offsets[t];
                first = first < 0 ? t : first;
                last = t;
            }
        }
        var (start, end) = answer is null || first < 0 ? (0, 0) : Locate(window.Offsets, first, last, answer.Start, answer.End);
        var targets = new Dictionary<string, TargetValue>
        {
            ["start_positions"] = TargetValue.Integer(start),
            ["end_positions"] = TargetValue.Integer(end),
        };
        var encoded = EncodedExample.FromEncoding(window, targets);
        return new QuestionAnswerFeature(encoded, example, exampleIndex, windowIndex, offsets, start, end);
    }

    /// <summary>
    /// The first and last context token of the answer [<paramref name="startChar"/>, <paramref name="endChar"/>) when
    /// context tokens <paramref name="first"/>..<paramref name="last"/> cover all of it, else (0, 0): run_qa.py's search,
    /// kept inside the context tokens.
    /// </summary>
    private static (int Start, int End) Locate(IReadOnlyList<(int Start, int End)> offsets, int first, int last, int startChar, int endChar)
    {
        if (offsets[first].Start > startChar || offsets[last].End < endChar)
        {
            return (0, 0);
        }
        int start = first;
        while (start <= last && offsets[start].Start <= startChar)
        {
            start++;
        }
        int end = last;
        while (end >= first && offsets[end].End >= endChar)
        {
            end--;
        }
        return (start - 1, end + 1);
    }
}
