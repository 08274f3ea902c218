using BertFineTune.Evaluation;

namespace BertFineTune.Tests.Evaluation;

public sealed class SquadMetricsTests
{
    [Theory]
    // Lower-case, drop punctuation, drop the whole words a/an/the, collapse white space.
    [InlineData("The  Quick, brown fox!", "quick brown fox")]
    [InlineData("An apple a day", "apple day")]
    [InlineData("theater of anathema", "theater of anathema")]
    [InlineData("  (the)\tend.  ", "end")]
    public void Normalisation_follows_the_official_script(string text, string expected)
    {
        Assert.Equal(expected, SquadMetrics.NormalizeAnswer(text));
    }

    [Fact]
    public void Exact_match_takes_the_best_gold_answer()
    {
        // "the Eiffel tower" and "Eiffel Tower" both normalise to "eiffel tower".
        Assert.Equal(1.0, SquadMetrics.ExactMatch("the Eiffel tower", ["tower", "Eiffel Tower"]));
        Assert.Equal(0.0, SquadMetrics.ExactMatch("Eiffel", ["Eiffel Tower"]));
    }

    [Fact]
    public void F1_counts_shared_normalised_tokens_and_takes_the_best_gold_answer()
    {
        // Prediction [big, red, dog] ("the" removed) against [red, dog, barks]: 2 shared, P = R = 2/3, F1 = 2/3;
        // against "cat": 0. The best is 2/3.
        Assert.Equal(2.0 / 3, SquadMetrics.F1("the big red dog", ["cat", "red dog barks"]), 12);
    }

    [Fact]
    public void F1_counts_repeated_tokens_at_most_as_often_as_both_sides_have_them()
    {
        // Prediction {x: 2, y: 1}, gold {x: 1, y: 2}: shared min = x 1 + y 1 = 2; P = R = 2/3.
        Assert.Equal(2.0 / 3, SquadMetrics.F1("x x y", ["x y y"]), 12);
    }

    [Fact]
    public void Unanswerable_gold_scores_only_an_empty_prediction()
    {
        // No gold answer (or only ones that normalise to nothing) means the gold answer is "".
        Assert.Equal((1.0, 1.0), (SquadMetrics.ExactMatch("", []), SquadMetrics.F1("", [])));
        Assert.Equal((0.0, 0.0), (SquadMetrics.ExactMatch("Paris", []), SquadMetrics.F1("Paris", [])));
        Assert.Equal(1.0, SquadMetrics.F1("", ["the", "."]));
        // An answerable question is not matched by an empty prediction.
        Assert.Equal(0.0, SquadMetrics.F1("", ["Paris"]));
    }

    [Fact]
    public void Score_averages_in_percent()
    {
        var scores = SquadMetrics.Score(
            ["Eiffel Tower", "red dog", ""],
            [["the eiffel tower"], ["red dog barks"], []]);

        // EM: 1, 0, 1 -> 200/3 %. F1: 1; P 2/2, R 2/3 -> 2·(2/3)/(5/3) = 0.8; 1 -> (1 + 0.8 + 1)/3 = 280/3 %.
        Assert.Equal(200.0 / 3, scores.ExactMatch, 9);
        Assert.Equal(280.0 / 3, scores.F1, 9);
        Assert.Equal((3, 2, 1), (scores.Total, scores.HasAnswerTotal, scores.NoAnswerTotal));
    }
}
