using BertFineTune.Builder;
using BertFineTune.Inference;
using BertFineTune.Tokenization;

namespace BertFineTune.Tests.Inference;

public class QuestionAnsweringTests
{
    private static readonly BertTokenizer Tokenizer = BertTokenizer.Load(Path.Combine(Fixtures.HfReference, "..", "vocab", "bert-base-uncased-vocab.txt"));

    // A context of filler sentences with one fact in the middle, so the answer lands in a later stride window.
    private static string Context(int fillerBefore, int fillerAfter) =>
        string.Concat(Enumerable.Repeat("the weather was mild and the river ran slowly past the old mill . ", fillerBefore))
        + "the treaty was signed in geneva in 1864 . "
        + string.Concat(Enumerable.Repeat("people walked along the bank and talked about the harvest . ", fillerAfter));

    /// <summary>Logits that point at the tokens of <paramref name="answer"/> wherever the window holds them whole.</summary>
    private static List<(EncodedText, float[], float[])> GoldLogits(IReadOnlyList<EncodedText> windows, string context, string answer)
    {
        int answerStart = context.IndexOf(answer, StringComparison.Ordinal);
        int answerEnd = answerStart + answer.Length;
        var result = new List<(EncodedText, float[], float[])>();
        foreach (var w in windows)
        {
            var start = new float[w.Length];
            var end = new float[w.Length];
            for (int i = 0; i < w.Length; i++)
            {
                bool inContext = w.SequenceIds[i] == 1;
                start[i] = inContext && w.Offsets[i].Start == answerStart ? 10f : 0f;
                end[i] = inContext && w.Offsets[i].End == answerEnd ? 10f : 0f;
            }
            result.Add((w, start, end));
        }
        return result;
    }

    private static IReadOnlyList<EncodedText> Windows(string question, string context, int maxLength, int stride) =>
        Tokenizer.EncodeWindows(question, context, new EncodingOptions
        {
            Truncation = TruncationStrategy.OnlySecond, MaxLength = maxLength, Stride = stride, ReturnOverflowingTokens = true,
        });

    [Theory]
    [InlineData(6)]  // the fact falls in the second window
    [InlineData(11)] // and in the third
    public void The_answer_is_found_in_a_later_stride_window_with_its_span_in_the_original_context(int fillerBefore)
    {
        var context = Context(fillerBefore, 30);
        var windows = Windows("where was the treaty signed?", context, 96, 24);
        int holding = windows.Select((w, i) => (w, i)).First(p => p.w.Offsets.Where((o, k) => p.w.SequenceIds[k] == 1).Any(o => context[o.Start..o.End] == "geneva")).i;
        Assert.True(holding >= 1);

        var answers = QuestionAnsweringPredictor.DecodeAnswers(GoldLogits(windows, context, "geneva"), context, new QuestionAnsweringOptions(), Tokenizer.ClsTokenId);

        var best = Assert.Single(answers);
        Assert.Equal("geneva", best.Text);
        Assert.Equal(context.IndexOf("geneva", StringComparison.Ordinal), best.Start);
    }

    [Fact]
    public void Spans_longer_than_the_maximum_answer_length_are_not_proposed()
    {
        var context = Context(1, 1);
        var windows = Windows("when?", context, 128, 32);
        // Start on "treaty", end on "1864": 6 tokens apart.
        var logits = GoldLogits(windows, context, "treaty was signed in geneva in 1864");

        var shortAnswers = QuestionAnsweringPredictor.DecodeAnswers(logits, context, new QuestionAnsweringOptions { MaxAnswerLength = 3 }, Tokenizer.ClsTokenId);
        var longAnswers = QuestionAnsweringPredictor.DecodeAnswers(logits, context, new QuestionAnsweringOptions { MaxAnswerLength = 15 }, Tokenizer.ClsTokenId);

        Assert.NotEqual("treaty was signed in geneva in 1864", shortAnswers[0].Text);
        Assert.Equal("treaty was signed in geneva in 1864", longAnswers[0].Text);
    }

    [Fact]
    public void An_unanswerable_question_returns_the_empty_answer_when_impossible_answers_are_allowed()
    {
        var context = Context(2, 2);
        var windows = Windows("who won the war?", context, 128, 32);
        // Only [CLS] scores: the model says "no answer".
        var logits = windows.Select(w => (w, new float[w.Length], new float[w.Length])).Select(t =>
        {
            t.Item2[0] = 10f;
            t.Item3[0] = 10f;
            return (t.w, t.Item2, t.Item3);
        }).ToList();

        var answers = QuestionAnsweringPredictor.DecodeAnswers(logits, context, new QuestionAnsweringOptions { HandleImpossibleAnswer = true }, Tokenizer.ClsTokenId);

        Assert.Equal(string.Empty, answers[0].Text);
        Assert.Equal((0, 0), (answers[0].Start, answers[0].End));
    }

    [Fact]
    public void A_context_longer_than_two_thousand_tokens_runs_through_the_model()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("qa")).Build();
        var context = Context(150, 150);
        Assert.True(model.Tokenizer.Tokenize(context).Count > 2000);

        var answers = model.CreateQuestionAnsweringPredictor().Predict("where was the treaty signed?", context, new QuestionAnsweringOptions { TopK = 3, DocStride = 32 });

        Assert.Equal(3, answers.Count);
        Assert.All(answers, a => Assert.Equal(context[a.Start..a.End], a.Text));
        Assert.True(answers.Zip(answers.Skip(1)).All(p => p.First.Score >= p.Second.Score));
    }
}
