namespace BertFineTune.Evaluation;

/// <summary>Correlation metrics for regression (STS-B): Pearson's r and Spearman's ρ, as SciPy computes them.</summary>
public static class CorrelationMetrics
{
    /// <summary>
    /// Pearson's correlation coefficient r = Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² Σ(y−ȳ)²). NaN when either list is constant (as
    /// SciPy's <c>pearsonr</c>, which warns and returns nan).
    /// </summary>
    /// <exception cref="ArgumentException">The lists differ in length or have fewer than 2 values, or hold a NaN or infinity.</exception>
    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        Check(x, y);
        double meanX = x.Average(), meanY = y.Average();
        double sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Count; i++)
        {
            double dx = x[i] - meanX, dy = y[i] - meanY;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        if (sxx == 0 || syy == 0)
        {
            return double.NaN;
        }
        return Math.Clamp(sxy / Math.Sqrt(sxx * syy), -1, 1);
    }

    /// <summary>
    /// Spearman's rank correlation: Pearson's r of the ranks, tied values sharing the average of their ranks (SciPy's
    /// <c>spearmanr</c>). NaN when either list is constant.
    /// </summary>
    /// <exception cref="ArgumentException">The lists differ in length or have fewer than 2 values, or hold a NaN or infinity.</exception>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        Check(x, y);
        return Pearson(Ranks(x), Ranks(y));
    }

    /// <summary>1-based ranks, ties given the mean of the ranks they span (SciPy's <c>rankdata(method="average")</c>).</summary>
    /// <exception cref="ArgumentException">A value is NaN (it has no rank).</exception>
    public static IReadOnlyList<double> Ranks(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Any(double.IsNaN))
        {
            throw new ArgumentException("The values hold a NaN, which has no rank.", nameof(values));
        }
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int start = 0; start < order.Length;)
        {
            int stop = start + 1;
            while (stop < order.Length && values[order[stop]] == values[order[start]])
            {
                stop++;
            }
            // Positions start..stop-1 hold ranks start+1..stop; their mean is (start + 1 + stop) / 2.
            double rank = (start + 1 + stop) / 2.0;
            for (int k = start; k < stop; k++)
            {
                ranks[order[k]] = rank;
            }
            start = stop;
        }
        return ranks;
    }

    private static void Check(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count)
        {
            throw new ArgumentException($"{x.Count} values against {y.Count}; both lists need one value per example.", nameof(y));
        }
        if (x.Count < 2)
        {
            throw new ArgumentException($"A correlation needs at least 2 pairs, got {x.Count}.", nameof(x));
        }
        if (x.Any(v => !double.IsFinite(v)) || y.Any(v => !double.IsFinite(v)))
        {
            throw new ArgumentException("The values hold a NaN or infinity; correlations need finite numbers.", nameof(x));
        }
    }
}
