using BertFineTune.Evaluation;

namespace BertFineTune.Tests.Evaluation;

public sealed class ClassificationMetricsTests
{
    // Gold and predictions of 5 examples over classes 0, 1, 2; class 2 is never predicted (a zero-division precision).
    private static readonly int[] Gold = [0, 0, 1, 1, 2];
    private static readonly int[] Predicted = [0, 1, 1, 1, 0];

    [Fact]
    public void Accuracy_is_the_share_of_correct_predictions()
    {
        // Positions 0, 2, 3 and 4 match: 4 of 5.
        Assert.Equal(0.8, ClassificationMetrics.Accuracy([0, 1, 2, 2, 1], [0, 2, 2, 2, 1]), 12);
    }

    [Fact]
    public void Per_class_scores_count_zero_division_as_zero()
    {
        var report = ClassificationMetrics.PrecisionRecallF1(Gold, Predicted);

        // Class 0: TP 1 (pos 0), predicted 2 (pos 0, 4), gold 2 -> P 1/2, R 1/2, F1 2·1/(2+2) = 1/2.
        // Class 1: TP 2 (pos 2, 3), predicted 3 (pos 1, 2, 3), gold 2 -> P 2/3, R 1, F1 2·2/(3+2) = 4/5.
        // Class 2: TP 0, predicted 0 (zero division -> 0), gold 1 -> P 0, R 0, F1 0.
        Assert.Equal([0, 1, 2], report.PerClass.Select(c => c.Label));
        AssertScores((0.5, 0.5, 0.5, 2), report.PerClass[0]);
        AssertScores((2.0 / 3, 1.0, 0.8, 2), report.PerClass[1]);
        AssertScores((0.0, 0.0, 0.0, 1), report.PerClass[2]);
    }

    [Fact]
    public void Macro_micro_and_weighted_averages_follow_scikit_learn()
    {
        var report = ClassificationMetrics.PrecisionRecallF1(Gold, Predicted);

        // Macro: plain means of the per-class rows above: P (1/2 + 2/3 + 0)/3 = 7/18, R (1/2 + 1 + 0)/3 = 1/2, F1 (1/2 + 4/5 + 0)/3.
        AssertAverage((7.0 / 18, 0.5, 1.3 / 3), report.Macro);
        // Micro: pooled TP 3 of 5 predictions and 5 gold labels: 3/5 each.
        AssertAverage((0.6, 0.6, 0.6), report.Micro);
        // Weighted by support 2, 2, 1: P (1/2·2 + 2/3·2 + 0)/5 = 7/15, R (1·1 + 1·2 + 0)/5 = 3/5, F1 (1/2·2 + 4/5·2 + 0)/5 = 0.52.
        AssertAverage((7.0 / 15, 0.6, 0.52), report.Weighted);
    }

    [Fact]
    public void Listed_labels_include_absent_classes_and_exclude_unlisted_ones()
    {
        var all = ClassificationMetrics.PrecisionRecallF1(Gold, Predicted, [0, 1, 2, 3]);
        var some = ClassificationMetrics.PrecisionRecallF1(Gold, Predicted, [0, 1]);

        // Class 3 occurs nowhere: its zero row joins the macro mean, F1 (1/2 + 4/5 + 0 + 0)/4.
        Assert.Equal(1.3 / 4, all.Macro.F1, 12);
        // Over classes 0 and 1 only: TP 3, predictions of them 5 (all), gold labels of them 4 -> P 3/5, R 3/4.
        AssertAverage((0.6, 0.75, 2.0 * 3 / (5 + 4)), some.Micro);
    }

    [Fact]
    public void Matthews_correlation_of_three_classes_follows_the_multiclass_formula()
    {
        // Gold counts t = [2, 2, 2]; predicted counts p = [2, 3, 1]; correct c = 4 (positions 0, 2, 3, 4); s = 6.
        // MCC = (c·s − t·p) / √((s² − p·p)(s² − t·t)) = (24 − 12) / √((36 − 14)(36 − 12)) = 12 / √528.
        var mcc = ClassificationMetrics.MatthewsCorrelation([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]);

        Assert.Equal(12 / Math.Sqrt(528), mcc, 12);
    }

    [Fact]
    public void Matthews_correlation_is_one_for_perfect_and_zero_for_constant_predictions()
    {
        Assert.Equal(1.0, ClassificationMetrics.MatthewsCorrelation([0, 1, 1, 0], [0, 1, 1, 0]), 12);
        // A single predicted class makes s² − p·p = 16 − 16 = 0: defined as 0.
        Assert.Equal(0.0, ClassificationMetrics.MatthewsCorrelation([0, 1, 1, 0], [1, 1, 1, 1]));
    }

    [Fact]
    public void Lists_of_different_lengths_are_refused()
    {
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([0, 1], [0]));
        Assert.Throws<ArgumentException>(() => ClassificationMetrics.Accuracy([], []));
    }

    private static void AssertScores((double P, double R, double F1, int Support) expected, ClassScores<int> actual)
    {
        Assert.Equal(expected.P, actual.Precision, 12);
        Assert.Equal(expected.R, actual.Recall, 12);
        Assert.Equal(expected.F1, actual.F1, 12);
        Assert.Equal(expected.Support, actual.Support);
    }

    private static void AssertAverage((double P, double R, double F1) expected, AverageScores actual)
    {
        Assert.Equal(expected.P, actual.Precision, 12);
        Assert.Equal(expected.R, actual.Recall, 12);
        Assert.Equal(expected.F1, actual.F1, 12);
    }
}
