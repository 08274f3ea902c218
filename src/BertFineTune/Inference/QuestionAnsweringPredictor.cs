using BertFineTune.Heads;
using BertFineTune.Tokenization;

namespace BertFineTune.Inference;

/// <summary>An answer span in the context.</summary>
/// <param name="Score">The product of its start and end probabilities (within its window).</param>
/// <param name="Start">Start of the answer in the context (UTF-16 index).</param>
/// <param name="End">End (exclusive) of the answer in the context.</param>
/// <param name="Text">The answer text; empty for "no answer".</param>
public sealed record Answer(double Score, int Start, int End, string Text);

/// <summary>Settings of extractive question answering, with transformers' pipeline defaults.</summary>
public sealed record QuestionAnsweringOptions
{
    /// <summary>Answers to return.</summary>
    public int TopK { get; init; } = 1;

    /// <summary>Longest answer, in tokens.</summary>
    public int MaxAnswerLength { get; init; } = 15;

    /// <summary>Tokens of context shared by consecutive windows.</summary>
    public int DocStride { get; init; } = 128;

    /// <summary>Window length (question + context + special tokens); capped at the model's maximum.</summary>
    public int MaxSequenceLength { get; init; } = 384;

    /// <summary>Also consider "no answer" (the <c>[CLS]</c> score), as SQuAD 2.0 models do.</summary>
    public bool HandleImpossibleAnswer { get; init; }
}

/// <summary>
/// Extractive question answering as transformers' <c>question-answering</c> pipeline: the context is split into
/// overlapping windows, each window scores spans by start × end probability with end ≥ start, at most
/// <see cref="QuestionAnsweringOptions.MaxAnswerLength"/> tokens and inside the context, and the best spans over all
/// windows are returned with their character positions in the original context.
/// </summary>
public sealed class QuestionAnsweringPredictor : Predictor
{
    /// <summary>Creates the predictor for a question-answering model.</summary>
    public QuestionAnsweringPredictor(BertTaskModel model, BertTokenizer tokenizer, int batchSize = 16) : base(model, tokenizer, batchSize)
    {
        if (model.Head is not QuestionAnsweringHead)
        {
            throw new ArgumentException($"Question answering needs a QuestionAnsweringHead, not {model.Head.GetType().Name}.", nameof(model));
        }
    }

    /// <summary>The best answers to <paramref name="question"/> in <paramref name="context"/>, best first.</summary>
    /// <exception cref="ArgumentException">The question leaves no room for context in a window, or an option is out of range.</exception>
    public IReadOnlyList<Answer> Predict(string question, string context, QuestionAnsweringOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(context);
        options ??= new QuestionAnsweringOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.TopK, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxAnswerLength, 1);
        int maxLength = Math.Min(options.MaxSequenceLength, MaxLength);
        int questionTokens = Tokenizer.Encode(question, options: new EncodingOptions { AddSpecialTokens = false }).Length;
        int contextRoom = maxLength - questionTokens - 3;
        if (contextRoom < 1)
        {
            throw new ArgumentException(
                $"The question has {questionTokens} tokens, leaving no room for context in {maxLength}-token windows; shorten the question.", nameof(question));
        }
        var windows = Tokenizer.EncodeWindows(question, context, new EncodingOptions
        {
            Truncation = TruncationStrategy.OnlySecond,
            MaxLength = maxLength,
            // The stride must be smaller than the context room of a window.
            Stride = Math.Min(options.DocStride, contextRoom - 1),
            ReturnOverflowingTokens = true,
        });

        var scored = new (Encoding Window, float[] Start, float[] End)[windows.Count];
        Run(windows, (w, outputs) => scored[w] = (windows[w],
            outputs["start_logits"].to_type(TorchSharp.torch.ScalarType.Float32).data<float>().ToArray(),
            outputs["end_logits"].to_type(TorchSharp.torch.ScalarType.Float32).data<float>().ToArray()));
        return DecodeAnswers(scored, context, options);
    }

    /// <summary>
    /// Turns each window's start and end logits into answers: probabilities over the window's context tokens (and
    /// [CLS] for "no answer"), spans with end ≥ start and at most MaxAnswerLength tokens, best first over all windows.
    /// </summary>
    internal static IReadOnlyList<Answer> DecodeAnswers(IReadOnlyList<(Encoding Window, float[] Start, float[] End)> windows,
        string context, QuestionAnsweringOptions options)
    {
        var answers = new List<Answer>();
        double noAnswer = double.MaxValue;
        foreach (var (window, startLogits, endLogits) in windows)
        {
            var start = Probabilities(startLogits, window);
            var end = Probabilities(endLogits, window);
            if (options.HandleImpossibleAnswer)
            {
                noAnswer = Math.Min(noAnswer, start[0] * end[0]);
            }
            start[0] = 0;
            end[0] = 0;
            answers.AddRange(BestSpans(start, end, window, context, options));
        }
        if (options.HandleImpossibleAnswer && noAnswer != double.MaxValue)
        {
            answers.Add(new Answer(noAnswer, 0, 0, string.Empty));
        }
        return answers.OrderByDescending(a => a.Score).Take(options.TopK).ToList();
    }

    /// <summary>Softmax over the window with every non-context token masked (the [CLS] stays, for "no answer").</summary>
    private static double[] Probabilities(float[] logits, Encoding window)
    {
        var masked = new double[window.Length];
        for (int i = 0; i < window.Length; i++)
        {
            bool allowed = window.SequenceIds[i] == 1 || i == 0;
            masked[i] = allowed ? logits[i] : -10000.0;
        }
        double max = masked.Max();
        double sum = 0;
        for (int i = 0; i < masked.Length; i++)
        {
            masked[i] = Math.Exp(masked[i] - max);
            sum += masked[i];
        }
        for (int i = 0; i < masked.Length; i++)
        {
            masked[i] /= sum;
        }
        return masked;
    }

    private static IEnumerable<Answer> BestSpans(double[] start, double[] end, Encoding window, string context, QuestionAnsweringOptions options)
    {
        var candidates = new List<(double Score, int Start, int End)>();
        for (int s = 0; s < window.Length; s++)
        {
            if (window.SequenceIds[s] != 1)
            {
                continue;
            }
            for (int e = s; e < Math.Min(window.Length, s + options.MaxAnswerLength); e++)
            {
                if (window.SequenceIds[e] == 1)
                {
                    candidates.Add((start[s] * end[e], s, e));
                }
            }
        }
        return candidates.OrderByDescending(c => c.Score).Take(options.TopK).Select(c =>
        {
            int from = window.Offsets[c.Start].Start;
            int to = window.Offsets[c.End].End;
            return new Answer(c.Score, from, to, context[from..to]);
        });
    }
}
