using BertFineTune.Evaluation;

namespace BertFineTune.Tests.Evaluation;

public sealed class CorrelationMetricsTests
{
    [Fact]
    public void Pearson_of_a_small_sample()
    {
        // Means 2.5 and 5; deviations x [-1.5, -0.5, 0.5, 1.5], y [-3, -1, 0, 4].
        // Σdxdy = 4.5 + 0.5 + 0 + 6 = 11, Σdx² = 5, Σdy² = 26: r = 11 / √130.
        Assert.Equal(11 / Math.Sqrt(130), CorrelationMetrics.Pearson([1, 2, 3, 4], [2, 4, 5, 9]), 12);
    }

    [Fact]
    public void Spearman_gives_ties_their_average_rank()
    {
        // Ranks x: [1, 2.5, 2.5, 4] (the two 2s share ranks 2 and 3); ranks y: [1, 3, 2, 4]. Means 2.5.
        // Deviations [-1.5, 0, 0, 1.5] and [-1.5, 0.5, -0.5, 1.5]: Σ = 4.5, Σdx² = 4.5, Σdy² = 5: ρ = 4.5/√22.5 = √0.9.
        Assert.Equal(Math.Sqrt(0.9), CorrelationMetrics.Spearman([1, 2, 2, 3], [1, 3, 2, 4]), 12);
    }

    [Fact]
    public void Ranks_average_over_a_run_of_ties()
    {
        // 5 is smallest (1), 10 next (2), the three 20s share ranks 3, 4, 5 -> 4.
        Assert.Equal([2.0, 4, 4, 4, 1], CorrelationMetrics.Ranks([10, 20, 20, 20, 5]));
    }

    [Fact]
    public void Spearman_of_a_monotone_but_nonlinear_relation_is_one()
    {
        Assert.Equal(1.0, CorrelationMetrics.Spearman([1, 2, 3, 4, 5], [1, 8, 27, 64, 125]), 12);
    }

    [Fact]
    public void Correlation_with_a_constant_is_nan()
    {
        Assert.True(double.IsNaN(CorrelationMetrics.Pearson([1, 2, 3], [4, 4, 4])));
    }
}
