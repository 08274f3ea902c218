namespace BertFineTune.Evaluation;

/// <summary>Precision, recall and F1 of one class (or entity type), with its support.</summary>
/// <typeparam name="TLabel">The class type (an int class id, an entity type name).</typeparam>
/// <param name="Label">The class.</param>
/// <param name="Precision">True positives / predicted positives (0 when nothing was predicted as this class).</param>
/// <param name="Recall">True positives / gold positives (0 when the class never occurs in the gold data).</param>
/// <param name="F1">2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall (0 when both are 0).</param>
/// <param name="Support">Number of gold occurrences of the class.</param>
public sealed record ClassScores<TLabel>(TLabel Label, double Precision, double Recall, double F1, int Support);

/// <summary>Averaged precision, recall and F1.</summary>
/// <param name="Precision">The averaged precision.</param>
/// <param name="Recall">The averaged recall.</param>
/// <param name="F1">The averaged F1 (for macro and weighted averages: the average of per-class F1, as scikit-learn).</param>
public sealed record AverageScores(double Precision, double Recall, double F1);

/// <summary>
/// Per-class precision, recall and F1 with scikit-learn's three averages, computed with <c>zero_division=0</c> (a ratio
/// whose denominator is 0 counts as 0).
/// </summary>
/// <typeparam name="TLabel">The class type.</typeparam>
/// <param name="PerClass">The scores of each class, in label order.</param>
/// <param name="Macro">The unweighted mean over classes of each score.</param>
/// <param name="Micro">Scores of the pooled counts: ΣTP / ΣPredicted, ΣTP / ΣGold, and their F1.</param>
/// <param name="Weighted">The mean over classes of each score weighted by support (0 when there is no support).</param>
public sealed record PrecisionRecallReport<TLabel>(
    IReadOnlyList<ClassScores<TLabel>> PerClass, AverageScores Macro, AverageScores Micro, AverageScores Weighted)
{
    /// <summary>Builds the report from true-positive, predicted and gold counts per class.</summary>
    internal static PrecisionRecallReport<TLabel> FromCounts(IReadOnlyList<(TLabel Label, long TruePositives, long Predicted, long Gold)> counts)
    {
        var perClass = new ClassScores<TLabel>[counts.Count];
        long tp = 0, predicted = 0, gold = 0;
        for (int i = 0; i < counts.Count; i++)
        {
            var c = counts[i];
            perClass[i] = new ClassScores<TLabel>(c.Label, Divide(c.TruePositives, c.Predicted), Divide(c.TruePositives, c.Gold),
                Divide(2 * c.TruePositives, c.Predicted + c.Gold), checked((int)c.Gold));
            tp += c.TruePositives;
            predicted += c.Predicted;
            gold += c.Gold;
        }
        var macro = perClass.Length == 0
            ? new AverageScores(0, 0, 0)
            : new AverageScores(perClass.Average(s => s.Precision), perClass.Average(s => s.Recall), perClass.Average(s => s.F1));
        var micro = new AverageScores(Divide(tp, predicted), Divide(tp, gold), Divide(2 * tp, predicted + gold));
        double support = perClass.Sum(s => (double)s.Support);
        var weighted = support == 0
            ? new AverageScores(0, 0, 0)
            : new AverageScores(perClass.Sum(s => s.Precision * s.Support) / support, perClass.Sum(s => s.Recall * s.Support) / support,
                perClass.Sum(s => s.F1 * s.Support) / support);
        return new PrecisionRecallReport<TLabel>(perClass, macro, micro, weighted);
    }

    private static double Divide(long numerator, long denominator) => denominator == 0 ? 0 : (double)numerator / denominator;
}
