using BertFineTune.Inference;

namespace BertFineTune.Tests.Inference;

/// <summary>
/// The score functions every predictor backend shares (Scores), on values worked out by hand from their definitions in
/// transformers' pipelines (text_classification.py softmax: exp(x - max) / sum exp(x - max); sigmoid: 1 / (1 + exp(-x))).
/// </summary>
public class ScoresTests
{
    // [0, ln 3] → e^0 = 1 and e^ln3 = 3 over 4; [ln 1, ln 2, ln 5] → 1, 2, 5 over 8; equal logits → 1/n; logits of 1000
    // overflow exp without the max shift, and give 1/2 each with it.
    [Theory]
    [InlineData(new float[] { 0f, 1.0986123f }, 2, new float[] { 0.25f, 0.75f })]
    [InlineData(new float[] { 0f, 0.6931472f, 1.609438f }, 3, new float[] { 0.125f, 0.25f, 0.625f })]
    [InlineData(new float[] { 7f, 7f, 7f, 7f }, 4, new float[] { 0.25f, 0.25f, 0.25f, 0.25f })]
    [InlineData(new float[] { 1000f, 1000f }, 2, new float[] { 0.5f, 0.5f })]
    [InlineData(new float[] { 0f, 1.0986123f, 7f, 7f }, 2, new float[] { 0.25f, 0.75f, 0.5f, 0.5f })]
    public void Softmax_normalises_each_row_of_the_last_dimension(float[] logits, int width, float[] expected)
    {
        Assert.Equal(expected, Scores.Softmax(logits, width), (a, b) => Math.Abs(a - b) <= 1e-6f);
    }

    // sigmoid(0) = 1/2; sigmoid(ln 3) = 1 / (1 + 1/3) = 3/4; sigmoid(-ln 3) = 1/4; sigmoid(-1000) = 0 without overflow.
    [Theory]
    [InlineData(0f, 0.5f)]
    [InlineData(1.0986123f, 0.75f)]
    [InlineData(-1.0986123f, 0.25f)]
    [InlineData(-1000f, 0f)]
    public void Sigmoid_is_the_logistic_function(float logit, float expected)
    {
        Assert.Equal(expected, Scores.Sigmoid([logit])[0], 6);
    }

    [Fact]
    public void Softmax_refuses_logits_that_do_not_split_into_rows_naming_the_sizes()
    {
        var error = Assert.Throws<ArgumentException>(() => Scores.Softmax(new float[5], 2));

        Assert.Contains("5 logits do not split into rows of 2", error.Message, StringComparison.Ordinal);
    }
}
