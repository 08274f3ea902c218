using BertFineTune.Builder;
using BertFineTune.Inference;
using BertFineTune.Tokenization;

namespace BertFineTune.Tests.Inference;

/// <summary>
/// The rules of transformers' <c>question-answering</c> pipeline, src/transformers/pipelines/question_answering.py in its
/// last form, from the over-fetch of July 2025 (PR 39193) until transformers 5.3 removed the pipeline (read at the
/// codeflash-ai/transformers mirror, commit e78b5e51, 5.0-era syntax, whose pipeline code matches the cyyever/transformers
/// mirror, commit b7cba825): <c>preprocess</c>
/// (max_seq_len and doc_stride defaults and checks), <c>select_starts_ends</c> / <c>decode_spans</c> and
/// <c>postprocess</c> / <c>get_indices</c> / <c>get_answer</c>; the windows come from the tokenizers crate's
/// only_second truncation (utils/truncation.rs, tokenizer/encoding.rs).
/// </summary>
public class QuestionAnsweringPipelineRulesTests
{
    private const string KowalczykQuestion = "Who signed the treaty?";
    private const string KowalczykContext = "The treaty was signed by Kowalczyk in Geneva.";

    /// <summary>
    /// Issue 11, item 5, on the qa fixture model. Without word alignment the pipeline asks each window for top_k spans
    /// and keeps token offsets (get_indices' else branch); the best two are the spans the issue quotes from the old
    /// predictor, "owalczyk in" [26, 37) and "owal" [26, 30), so the logits agree with transformers'.
    /// </summary>
    [Fact]
    public void Without_word_alignment_the_answers_keep_the_token_offsets()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("qa")).Build();

        var answers = model.CreateQuestionAnsweringPredictor().Predict(KowalczykQuestion, KowalczykContext,
            new QuestionAnsweringOptions { TopK = 3, AlignToWords = false });

        Assert.Equal(("owalczyk in", 26, 37), (answers[0].Text, answers[0].Start, answers[0].End));
        Assert.Equal(("owal", 26, 30), (answers[1].Text, answers[1].Start, answers[1].End));
    }

    /// <summary>
    /// Issue 11, item 5: with word alignment no answer starts or ends inside a word; "Kowalczyk in" [25, 37) and
    /// "Kowalczyk" [25, 34) are the whole-word answers the issue quotes. Their order follows the 5.x postprocess: each
    /// window proposes top_k × 2 + 10 = 16 spans, each widened to whole words, and equal texts add up (get_answer).
    /// The 16 best spans of this model (below, as the unaligned run lists them) widen to: "Kowalczyk" ← owal, owalczy,
    /// Kowal, owalczyk, Kowalczy, Kowalczyk (6 spans); "treaty was signed by Kowalczyk" ← … Kowal, … Kowalczy,
    /// … Kowalczyk (3); "Kowalczyk in" ← owalczyk in, Kowalczyk in (2); so that is the top 3. (transformers before the
    /// over-fetch of July 2025, PR 39193, asked each window for only top_k = 3 spans, which gives "Kowalczyk in",
    /// "Kowalczyk", "treaty was signed by Kowalczyk in": the order quoted in the issue.)
    /// </summary>
    [Fact]
    public void The_qa_fixture_model_gives_whole_word_answers_merged_as_the_pipeline_does()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("qa")).Build();
        var qa = model.CreateQuestionAnsweringPredictor();

        var spans = qa.Predict(KowalczykQuestion, KowalczykContext, new QuestionAnsweringOptions { TopK = 16, AlignToWords = false });
        var answers = qa.Predict(KowalczykQuestion, KowalczykContext, new QuestionAnsweringOptions { TopK = 3 });

        Assert.Equal(
        [
            "owalczyk in", "owal", "treaty was signed by Kowalczyk in", "Kowalczyk in", "owalczy", "treaty was signed by Kowal",
            "Kowal", "owalczyk", "treaty was signed by Kowalczy", "Kowalczy", "owalczyk in Geneva", "treaty was signed by Kowalczyk",
            "signed by Kowalczyk in", "Kowalczyk", "owalczyk in Gene", "treaty was signed by Kowalczyk in Geneva",
        ], spans.Select(a => a.Text));
        Assert.Equal([("Kowalczyk", 25, 34), ("treaty was signed by Kowalczyk", 4, 34), ("Kowalczyk in", 25, 37)],
            answers.Select(a => (a.Text, a.Start, a.End)));
        Assert.Equal(new[] { 1, 4, 6, 7, 9, 13 }.Sum(i => spans[i].Score), answers[0].Score, 9);
        Assert.Equal(new[] { 5, 8, 11 }.Sum(i => spans[i].Score), answers[1].Score, 9);
        Assert.Equal(new[] { 0, 3 }.Sum(i => spans[i].Score), answers[2].Score, 9);
        Assert.All(answers, a => Assert.Equal(KowalczykContext[a.Start..a.End], a.Text));
    }

    private static readonly BertTokenizer BaseTokenizer =
        BertTokenizer.Load(Path.Combine(Fixtures.HfReference, "..", "vocab", "bert-base-uncased-vocab.txt"));

    /// <summary>"the" is one token of bert-base-uncased: a text of <paramref name="tokens"/> tokens.</summary>
    private static string Words(int tokens) => string.Join(' ', Enumerable.Repeat("the", tokens));

    /// <summary>
    /// Windows per (max_seq_len, question tokens, context tokens, doc_stride), by the pipeline's preprocess
    /// (max_seq_len = min(model_max_length, 384), doc_stride = min(max_seq_len // 2, 128)) and the tokenizers crate's
    /// only_second truncation (utils/truncation.rs, EncodedText::truncate): a window holds R = max_seq_len − 3 − Q context
    /// tokens and consecutive windows start R − doc_stride apart, so C &gt; R tokens make 1 + ⌈(C − R) / (R − doc_stride)⌉
    /// windows. Null max_seq_len takes the model's 512 positions, capped at 384. Worked: (128, 5, 190, null): stride 64,
    /// R 120, step 56, 1 + ⌈70 / 56⌉ = 3 (issue 11's example); (64, 10, 200, null): stride 32, R 51, step 19,
    /// 1 + ⌈149 / 19⌉ = 9; (16, 4, 190, null): stride 8, R 9, step 1, 1 + 181 = 182; (null, 20, 1000, null): 384,
    /// stride 128, R 361, step 233, 1 + ⌈639 / 233⌉ = 4.
    /// </summary>
    [Theory]
    [InlineData(128, 5, 190, null, 3)]
    [InlineData(128, 5, 100, null, 1)]
    [InlineData(128, 5, 120, null, 1)]   // exactly fills one window
    [InlineData(128, 5, 121, null, 2)]
    [InlineData(64, 10, 200, null, 9)]
    [InlineData(16, 4, 190, null, 182)]
    [InlineData(128, 5, 190, 0, 2)]
    [InlineData(128, 5, 190, 119, 71)]   // the largest stride that fits: step 1
    [InlineData(128, 5, 100, 120, 1)]    // a stride too large for splitting is fine when nothing is split
    [InlineData(null, 20, 1000, null, 4)]
    [InlineData(null, 20, 1000, 128, 4)]
    public void The_number_of_windows_follows_the_pipelines_stride_rule(int? maxSeqLen, int questionTokens, int contextTokens, int? docStride, int expected)
    {
        var options = new QuestionAnsweringOptions { MaxSequenceLength = maxSeqLen, DocStride = docStride };

        var windows = QuestionAnsweringPredictor.EncodeWindows(BaseTokenizer, 512, Words(questionTokens), Words(contextTokens), options);

        Assert.Equal(expected, windows.Count);
        int length = maxSeqLen ?? 384;
        int stride = docStride ?? Math.Min(length / 2, 128);
        Assert.All(windows, w => Assert.True(w.Length <= length));
        // Consecutive windows share exactly doc_stride context tokens (every window but the last is full).
        foreach (var (a, b) in windows.Zip(windows.Skip(1)))
        {
            var first = ContextOffsets(a);
            var second = ContextOffsets(b);
            Assert.Equal(first.TakeLast(stride), second.Take(stride));
            Assert.Equal(length - 3 - questionTokens, first.Count);
        }
        Assert.Equal(contextTokens, windows.SelectMany(ContextOffsets).Distinct().Count());
    }

    /// <summary>
    /// Issue 11, item 5: 128-token windows over a 190-token context on the qa fixture model take the default stride
    /// min(128 // 2, 128) = 64 and make 3 windows (R = 128 − 3 − 5 = 120, step 56), not a stride cut to fit.
    /// </summary>
    [Fact]
    public void The_qa_fixture_model_splits_a_190_token_context_into_3_windows()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("qa")).Build();
        var context = string.Join(' ', Enumerable.Repeat("the", 190));
        Assert.Equal(190, model.Tokenizer.Tokenize(context).Count);
        Assert.Equal(5, model.Tokenizer.Tokenize(KowalczykQuestion).Count);
        var options = new QuestionAnsweringOptions { MaxSequenceLength = 128, TopK = 3 };

        var windows = QuestionAnsweringPredictor.EncodeWindows(model.Tokenizer, 128, KowalczykQuestion, context, options);
        var answers = model.CreateQuestionAnsweringPredictor().Predict(KowalczykQuestion, context, options);

        Assert.Equal(3, windows.Count);
        Assert.Equal([128, 128, 86], windows.Select(w => w.Length));
        Assert.Equal(3, answers.Count);
    }

    /// <summary>
    /// The cases the pipeline refuses: preprocess raises "`doc_stride` (…) is larger than `max_seq_len` (…)"; the
    /// tokenizers crate refuses a stride above max_length − 2 (TokenizerImpl::with_truncation), asserts
    /// "`stride` must be strictly less than `max_len`" when the context must be split (EncodedText::truncate; this also
    /// catches the default stride 64 against a 70-token question, and 8 against R = 8), and cannot truncate a context
    /// the question leaves no room for. None is silently changed.
    /// </summary>
    [Theory]
    [InlineData(128, 5, 190, 129, "larger than MaxSequenceLength")]
    [InlineData(128, 5, 190, 120, "does not fit")]
    [InlineData(128, 5, 100, 127, "Stride 127")]
    [InlineData(128, 70, 190, null, "does not fit")]
    [InlineData(16, 5, 190, null, "does not fit")]
    [InlineData(128, 125, 10, null, "no room for context")]
    [InlineData(128, 5, 190, -1, "must not be negative")]
    public void A_stride_or_question_that_does_not_fit_is_an_error(int? maxSeqLen, int questionTokens, int contextTokens, int? docStride, string message)
    {
        var options = new QuestionAnsweringOptions { MaxSequenceLength = maxSeqLen, DocStride = docStride };

        var error = Assert.ThrowsAny<ArgumentException>(() =>
            QuestionAnsweringPredictor.EncodeWindows(BaseTokenizer, 512, Words(questionTokens), Words(contextTokens), options));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_window_longer_than_the_model_takes_is_an_error_but_a_short_input_is_not()
    {
        var options = new QuestionAnsweringOptions { MaxSequenceLength = 384 };

        var error = Assert.Throws<ArgumentException>(() => QuestionAnsweringPredictor.EncodeWindows(BaseTokenizer, 128, Words(5), Words(1000), options));
        var windows = QuestionAnsweringPredictor.EncodeWindows(BaseTokenizer, 128, Words(5), Words(10), options);

        Assert.Contains("the model takes at most 128", error.Message, StringComparison.Ordinal);
        Assert.Equal(18, Assert.Single(windows).Length);
    }

    [Theory]
    [InlineData("", "context", "question")]
    [InlineData("question?", "", "context")]
    public void An_empty_question_or_context_is_an_error(string question, string context, string parameter)
    {
        var error = Assert.Throws<ArgumentException>(() =>
            QuestionAnsweringPredictor.EncodeWindows(BaseTokenizer, 512, question, context, new QuestionAnsweringOptions()));

        Assert.Equal(parameter, error.ParamName);
    }

    private static List<(int Start, int End)> ContextOffsets(EncodedText window) =>
        window.Offsets.Where((_, i) => window.SequenceIds[i] == 1).ToList();

    /// <summary>One window "[CLS] who [SEP] {context} [SEP]" with the given logits on the context tokens and [CLS].</summary>
    private static (EncodedText Window, float[] Start, float[] End) Window(string context, float cls, float[] startContext, float[] endContext, float? clsEnd = null)
    {
        var window = BaseTokenizer.Encode("who", context);
        var start = new float[window.Length];
        var end = new float[window.Length];
        start[0] = cls;
        end[0] = clsEnd ?? cls;
        int k = 0;
        for (int i = 0; i < window.Length; i++)
        {
            if (window.SequenceIds[i] == 1)
            {
                start[i] = startContext[k];
                end[i] = endContext[k];
                k++;
            }
        }
        Assert.Equal(startContext.Length, k);
        return (window, start, end);
    }

    /// <summary>
    /// Uniform logits over [CLS] and the n context tokens of one word give every token probability 1 / (n + 1), and
    /// every span s ≤ e of the word the score 1 / (n + 1)²; [CLS] is then set to 0. With align_to_words all n(n + 1) / 2
    /// spans (at most top_k × 2 + 10 = 12) widen to the whole word and get_answer adds them up: "kowalczyk" is 4 tokens
    /// (ko ##wal ##cz ##yk), so one answer of 10 / 25 = 0.4. Without alignment only top_k = 1 span is asked for,
    /// numpy's argmax takes the first of the equal scores in row-major order, (ko, ko), 1 / 25.
    /// </summary>
    [Fact]
    public void Spans_that_widen_to_the_same_word_are_one_answer_with_their_scores_added()
    {
        const string context = "Kowalczyk";
        Assert.Equal(["ko", "##wal", "##cz", "##yk"], BaseTokenizer.Tokenize(context));
        var window = Window(context, 0f, [0f, 0f, 0f, 0f], [0f, 0f, 0f, 0f]);

        var aligned = QuestionAnsweringPredictor.DecodeAnswers([window], context, new QuestionAnsweringOptions(), BaseTokenizer.ClsTokenId);
        var tokens = QuestionAnsweringPredictor.DecodeAnswers([window], context, new QuestionAnsweringOptions { AlignToWords = false }, BaseTokenizer.ClsTokenId);

        var answer = Assert.Single(aligned);
        Assert.Equal(("Kowalczyk", 0, 9), (answer.Text, answer.Start, answer.End));
        Assert.Equal(0.4, answer.Score, 6);
        var token = Assert.Single(tokens);
        Assert.Equal(("Ko", 0, 2), (token.Text, token.Start, token.End));
        Assert.Equal(0.04, token.Score, 6);
    }

    /// <summary>
    /// get_answer compares answer.lower(): "Geneva" and "geneva" are one answer, kept at the first one's position, with
    /// both scores. Uniform logits over [CLS] and 3 tokens: each span 1/16, the merged one 2/16.
    /// </summary>
    [Fact]
    public void Answers_equal_but_for_case_are_merged_at_the_first_position()
    {
        const string context = "Geneva and geneva";
        var window = Window(context, 0f, [0f, 0f, 0f], [0f, 0f, 0f]);

        var best = QuestionAnsweringPredictor.DecodeAnswers([window], context, new QuestionAnsweringOptions(), BaseTokenizer.ClsTokenId);

        var answer = Assert.Single(best);
        Assert.Equal(("Geneva", 0, 6), (answer.Text, answer.Start, answer.End));
        Assert.Equal(0.125, answer.Score, 6);
    }

    /// <summary>
    /// The answers of all windows go into one list before merging and sorting, and "no answer" takes the smallest [CLS]
    /// score of any window (min_null_score). Window A: logits 0 on [CLS] and "x" → probabilities ½, ½: span 1/4, [CLS]
    /// 1/4. Window B: [CLS] ln 3, "x" 0 → ¾, ¼: span 1/16, [CLS] 9/16. So "x" = 1/4 + 1/16 = 0.3125, no answer = 0.25.
    /// </summary>
    [Fact]
    public void Windows_are_merged_and_no_answer_takes_the_smallest_cls_score()
    {
        const string context = "x";
        var a = Window(context, 0f, [0f], [0f]);
        var b = Window(context, MathF.Log(3), [0f], [0f]);

        var answers = QuestionAnsweringPredictor.DecodeAnswers([a, b], context, new QuestionAnsweringOptions { TopK = 2, HandleImpossibleAnswer = true },
            BaseTokenizer.ClsTokenId);

        Assert.Equal(2, answers.Count);
        Assert.Equal(("x", 0, 1), (answers[0].Text, answers[0].Start, answers[0].End));
        Assert.Equal(0.3125, answers[0].Score, 6);
        Assert.Equal((string.Empty, 0, 0), (answers[1].Text, answers[1].Start, answers[1].End));
        Assert.Equal(0.25, answers[1].Score, 6);
    }

    /// <summary>
    /// word_to_chars(word, sequence_index=1) sees only the tokens of the word inside this window: a word cut by the
    /// window's start widens only to the part the window holds.
    /// </summary>
    [Fact]
    public void Word_alignment_widens_within_the_window_only()
    {
        // "[CLS] who [SEP] ##cz ##yk in [SEP]" as the second window of "kowalczyk in" would hold it (word 0 cut).
        var window = new QuestionAnsweringDecoding.WindowOutput([0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0],
            [true, false, false, true, true, true, false],
            [(0, 0), (0, 3), (0, 0), (5, 7), (7, 9), (10, 12), (0, 0)],
            [null, 0, null, 0, 0, 1, null],
            [null, 0, null, 1, 1, 1, null]);

        Assert.Equal((5, 9), QuestionAnsweringDecoding.GetIndices(window, 4, 4, alignToWords: true));
        Assert.Equal((7, 9), QuestionAnsweringDecoding.GetIndices(window, 4, 4, alignToWords: false));
        Assert.Equal((5, 12), QuestionAnsweringDecoding.GetIndices(window, 4, 5, alignToWords: true));
        // A token without a word ([CLS]) falls back to the token offsets, as the pipeline's except branch.
        Assert.Equal((0, 9), QuestionAnsweringDecoding.GetIndices(window, 0, 4, alignToWords: true));
    }

    /// <summary>
    /// decode_spans keeps end ≥ start, at most max_answer_len tokens, both ends on candidate tokens, best first; [CLS]
    /// (index 0) takes part in the softmax but starts and ends no span.
    /// </summary>
    [Fact]
    public void Decode_spans_keeps_ordered_short_spans_inside_the_context()
    {
        // [CLS] q [SEP] c1 c2 c3 [SEP]: probabilities are taken directly (decode_spans works on probabilities).
        bool[] mask = [true, false, false, true, true, true, false];
        float[] start = [0f, 0.9f, 0f, 0.5f, 0.3f, 0.2f, 0f];
        float[] end = [0f, 0.9f, 0f, 0.1f, 0.2f, 0.7f, 0f];

        var spans = QuestionAnsweringDecoding.DecodeSpans(start, end, mask, topK: 10, maxAnswerLength: 2);

        // (3,3) .05, (3,4) .10, (4,4) .06, (4,5) .21, (5,5) .14; (3,5) is 3 tokens long; q (index 1) is no candidate.
        Assert.Equal([(4, 5), (5, 5), (3, 4), (4, 4), (3, 3)], spans.Select(s => (s.Start, s.End)));
        Assert.Equal([(4, 5)], QuestionAnsweringDecoding.DecodeSpans(start, end, mask, topK: 1, maxAnswerLength: 2).Select(s => (s.Start, s.End)));
    }
}
