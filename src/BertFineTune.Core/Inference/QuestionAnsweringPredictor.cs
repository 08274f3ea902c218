using BertFineTune.Tokenization;

namespace BertFineTune.Inference;

/// <summary>An answer span in the context.</summary>
/// <param name="Score">
/// The product of its start and end probabilities within its window; when several spans give the same answer text
/// (compared case-insensitively, as transformers' <c>get_answer</c>), the sum of their products. For "no answer", the
/// smallest [CLS] start × end probability over the windows.
/// </param>
/// <param name="Start">Start of the answer in the context (UTF-16 index).</param>
/// <param name="End">End (exclusive) of the answer in the context.</param>
/// <param name="Text">The answer text, <c>context[Start..End]</c>; empty for "no answer".</param>
public sealed record Answer(double Score, int Start, int End, string Text);

/// <summary>
/// Settings of extractive question answering, with the defaults of transformers' <c>question-answering</c> pipeline
/// (<c>pipelines/question_answering.py</c>).
/// </summary>
public sealed record QuestionAnsweringOptions
{
    /// <summary>Answers to return (<c>top_k</c>); at least 1. Fewer come back when the context holds fewer distinct answers.</summary>
    public int TopK { get; init; } = 1;

    /// <summary>Longest answer, in tokens (<c>max_answer_len</c>); at least 1.</summary>
    public int MaxAnswerLength { get; init; } = 15;

    /// <summary>
    /// Context tokens shared by consecutive windows (<c>doc_stride</c>). Null (the default) takes the pipeline's
    /// <c>min(max_seq_len // 2, 128)</c>. A stride larger than <see cref="MaxSequenceLength"/>, or one that is not smaller
    /// than the context tokens a window holds when the context must be split, is an error, as in the pipeline.
    /// </summary>
    public int? DocStride { get; init; }

    /// <summary>
    /// Window length in tokens: [CLS] question [SEP] part of the context [SEP] (<c>max_seq_len</c>). Null (the default)
    /// takes the pipeline's <c>min(model_max_length, 384)</c>, with the model's position table as its limit.
    /// </summary>
    public int? MaxSequenceLength { get; init; }

    /// <summary>Also consider "no answer" (the [CLS] score), as SQuAD 2.0 models do (<c>handle_impossible_answer</c>).</summary>
    public bool HandleImpossibleAnswer { get; init; }

    /// <summary>
    /// Widen each answer to the whole words its first and last tokens belong to (<c>align_to_words</c>, default true),
    /// so that an answer never starts or ends inside a word. Turn off for languages without spaces between words.
    /// </summary>
    public bool AlignToWords { get; init; } = true;
}

/// <summary>
/// Extractive question answering as transformers' <c>question-answering</c> pipeline (<c>pipelines/question_answering.py</c>,
/// the last version before transformers 5.3 removed it): the question and context are encoded with <c>only_second</c>
/// truncation into overlapping windows (<see cref="QuestionAnsweringOptions.DocStride"/>); in each window the start and
/// end logits are softmaxed over the context tokens and [CLS], the best <c>top_k × 2 + 10</c> spans (end ≥ start, at most
/// <see cref="QuestionAnsweringOptions.MaxAnswerLength"/> tokens, inside the context) are widened to whole words, answers
/// with the same text are merged by adding their scores, and the best answers over all windows are returned. The
/// pipeline's <c>max_question_len</c> applies only to its slow-tokenizer path; with a fast tokenizer, as here, the
/// question is never truncated, and a question that leaves no room for context is an error.
/// </summary>
public sealed class QuestionAnsweringPredictor : Predictor
{
    /// <summary>Creates the predictor over <paramref name="backend"/>, whose outputs <c>start_logits</c> and <c>end_logits</c> are [length] per input.</summary>
    internal QuestionAnsweringPredictor(IPredictorBackend backend, BertTokenizer tokenizer, int batchSize = 16) : base(backend, tokenizer, batchSize)
    {
    }

    /// <summary>The best answers to <paramref name="question"/> in <paramref name="context"/>, best first.</summary>
    /// <exception cref="ArgumentException">
    /// The question or context is empty; the question leaves no room for context in a window; the stride does not fit
    /// the windows; a window would be longer than the model takes; or an option is out of range.
    /// </exception>
    public IReadOnlyList<Answer> Predict(string question, string context, QuestionAnsweringOptions? options = null)
    {
        options ??= new QuestionAnsweringOptions();
        var windows = EncodeWindows(Tokenizer, MaxLength, question, context, options);
        var scored = new (EncodedText Window, float[] Start, float[] End)[windows.Count];
        Run(windows, (w, outputs) => scored[w] = (windows[w],
            Output(outputs, "start_logits").Values, Output(outputs, "end_logits").Values));
        return DecodeAnswers(scored, context, options, Tokenizer.ClsTokenId);
    }

    /// <summary>
    /// The pipeline's <c>preprocess</c>: the windows of <paramref name="question"/> and <paramref name="context"/>, with
    /// <c>max_seq_len</c> and <c>doc_stride</c> defaulted and checked as transformers does.
    /// </summary>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="modelMaxLength">The longest input the model takes (its position table).</param>
    /// <param name="question">The question; not empty.</param>
    /// <param name="context">The context; not empty.</param>
    /// <param name="options">The settings.</param>
    internal static IReadOnlyList<EncodedText> EncodeWindows(BertTokenizer tokenizer, int modelMaxLength, string question, string context,
        QuestionAnsweringOptions options)
    {
        ArgumentNullException.ThrowIfNull(question);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(options);
        // QuestionAnsweringArgumentHandler.normalize: "`question` cannot be empty" / "`context` cannot be empty".
        if (question.Length == 0)
        {
            throw new ArgumentException("The question is empty; question answering needs a question.", nameof(question));
        }
        if (context.Length == 0)
        {
            throw new ArgumentException("The context is empty; question answering needs a context to find the answer in.", nameof(context));
        }
        // _sanitize_parameters: "top_k parameter should be >= 1", "max_answer_len parameter should be >= 1".
        if (options.TopK < 1)
        {
            throw new ArgumentException($"QuestionAnsweringOptions.TopK must be at least 1, got {options.TopK}.", nameof(options));
        }
        if (options.MaxAnswerLength < 1)
        {
            throw new ArgumentException($"QuestionAnsweringOptions.MaxAnswerLength must be at least 1, got {options.MaxAnswerLength}.", nameof(options));
        }

        // preprocess: max_seq_len = min(tokenizer.model_max_length, 384); doc_stride = min(max_seq_len // 2, 128).
        int maxSeqLen = options.MaxSequenceLength ?? Math.Min(modelMaxLength, 384);
        if (maxSeqLen < 4)
        {
            throw new ArgumentException(
                $"QuestionAnsweringOptions.MaxSequenceLength {maxSeqLen} leaves no room for a question and context next to the 3 special tokens; use at least 4.",
                nameof(options));
        }
        int docStride = options.DocStride ?? Math.Min(maxSeqLen / 2, 128);
        if (docStride < 0)
        {
            throw new ArgumentException($"QuestionAnsweringOptions.DocStride must not be negative, got {docStride}.", nameof(options));
        }
        if (docStride > maxSeqLen)
        {
            throw new ArgumentException(
                $"QuestionAnsweringOptions.DocStride ({docStride}) is larger than MaxSequenceLength ({maxSeqLen}); use a smaller DocStride, or leave it null for min(MaxSequenceLength / 2, 128).",
                nameof(options));
        }

        var noSpecial = new EncodingOptions { AddSpecialTokens = false };
        int questionTokens = tokenizer.Encode(question, options: noSpecial).Length;
        int contextRoom = maxSeqLen - questionTokens - 3;
        if (contextRoom < 1)
        {
            // The tokenizers crate cannot truncate the context far enough ("Second sequence not long enough").
            throw new ArgumentException(
                $"The question has {questionTokens} tokens, leaving no room for context in windows of MaxSequenceLength {maxSeqLen} (with 3 special tokens); shorten the question or raise MaxSequenceLength.",
                nameof(question));
        }
        if (docStride >= contextRoom && tokenizer.Encode(context, options: noSpecial).Length > contextRoom)
        {
            // The tokenizers crate's EncodedText::truncate asserts stride < max_len when the context must be split; the pipeline
            // fails here too instead of changing the stride.
            throw new ArgumentException(
                $"QuestionAnsweringOptions.DocStride {docStride} does not fit: each window of {maxSeqLen} tokens holds {contextRoom} context tokens "
                + $"(after the {questionTokens}-token question and 3 special tokens), and the stride must be smaller than that; "
                + $"use a DocStride below {contextRoom}, or a larger MaxSequenceLength.", nameof(options));
        }

        // Question first: BERT pads on the right, so the pipeline encodes (question, context) and truncates only_second.
        var windows = tokenizer.EncodeWindows(question, context, new EncodingOptions
        {
            Truncation = TruncationStrategy.OnlySecond,
            MaxLength = maxSeqLen,
            Stride = docStride,
            ReturnOverflowingTokens = true,
        });
        int longest = windows.Max(w => w.Length);
        if (longest > modelMaxLength)
        {
            throw new ArgumentException(
                $"QuestionAnsweringOptions.MaxSequenceLength {maxSeqLen} makes windows of {longest} tokens, but the model takes at most {modelMaxLength}; "
                + $"use MaxSequenceLength {modelMaxLength} or less, or leave it null.", nameof(options));
        }
        return windows;
    }

    /// <summary>
    /// The pipeline's <c>postprocess</c> over each window's encoding and start/end logits (at least as many as the
    /// window has tokens; padding beyond the window is ignored): best answers first, at most
    /// <see cref="QuestionAnsweringOptions.TopK"/>.
    /// </summary>
    /// <param name="windows">Each window's encoding with its start and end logits.</param>
    /// <param name="context">The context the windows were encoded from.</param>
    /// <param name="options">The settings.</param>
    /// <param name="clsTokenId">The [CLS] id: tokens with it stay unmasked, as the pipeline keeps them for "no answer".</param>
    internal static IReadOnlyList<Answer> DecodeAnswers(IReadOnlyList<(EncodedText Window, float[] Start, float[] End)> windows,
        string context, QuestionAnsweringOptions options, int clsTokenId)
    {
        var outputs = windows.Select(w => new QuestionAnsweringDecoding.WindowOutput(
            w.Start, w.End, CandidateMask(w.Window, clsTokenId), w.Window.Offsets, w.Window.WordIds, w.Window.SequenceIds)).ToList();
        return QuestionAnsweringDecoding.Postprocess(outputs, context, options.TopK, options.HandleImpossibleAnswer,
            options.MaxAnswerLength, options.AlignToWords);
    }

    /// <summary>
    /// The pipeline's <c>1 - p_mask</c> with the attention mask: true for context tokens and for [CLS] (kept for "no
    /// answer"), false for the question, the other special tokens and padding.
    /// </summary>
    private static bool[] CandidateMask(EncodedText window, int clsTokenId)
    {
        var mask = new bool[window.Length];
        for (int i = 0; i < mask.Length; i++)
        {
            mask[i] = (window.SequenceIds[i] == 1 || window.Ids[i] == clsTokenId) && window.AttentionMask[i] == 1;
        }
        return mask;
    }
}
