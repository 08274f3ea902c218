namespace BertFineTune.Evaluation;

/// <summary>Metrics of single-label classification over class ids, with scikit-learn's definitions.</summary>
public static class ClassificationMetrics
{
    /// <summary>The fraction of examples whose predicted class equals the gold class.</summary>
    /// <exception cref="ArgumentException">The lists differ in length or are empty.</exception>
    public static double Accuracy(IReadOnlyList<int> gold, IReadOnlyList<int> predicted)
    {
        CheckPair(gold, predicted);
        int correct = 0;
        for (int i = 0; i < gold.Count; i++)
        {
            if (gold[i] == predicted[i])
            {
                correct++;
            }
        }
        return (double)correct / gold.Count;
    }

    /// <summary>
    /// Precision, recall and F1 per class and their macro, micro and weighted averages, as scikit-learn's
    /// <c>precision_recall_fscore_support</c> with <c>zero_division=0</c>.
    /// </summary>
    /// <param name="gold">The gold class of each example.</param>
    /// <param name="predicted">The predicted class of each example.</param>
    /// <param name="labels">
    /// The classes to report, in this order; classes outside it are left out of every average. Default: the sorted union
    /// of the classes in <paramref name="gold"/> and <paramref name="predicted"/> (scikit-learn's <c>labels=None</c>), so a
    /// class that occurs nowhere is not averaged in; pass every class id to average over all of them.
    /// </param>
    /// <exception cref="ArgumentException">The lists differ in length or are empty, or <paramref name="labels"/> repeats a class.</exception>
    public static PrecisionRecallReport<int> PrecisionRecallF1(IReadOnlyList<int> gold, IReadOnlyList<int> predicted, IReadOnlyList<int>? labels = null)
    {
        CheckPair(gold, predicted);
        labels ??= gold.Concat(predicted).Distinct().Order().ToArray();
        var index = new Dictionary<int, int>();
        for (int i = 0; i < labels.Count; i++)
        {
            if (!index.TryAdd(labels[i], i))
            {
                throw new ArgumentException($"Class {labels[i]} is listed twice.", nameof(labels));
            }
        }
        var tp = new long[labels.Count];
        var predictedCount = new long[labels.Count];
        var goldCount = new long[labels.Count];
        for (int i = 0; i < gold.Count; i++)
        {
            bool goldListed = index.TryGetValue(gold[i], out var g);
            bool predictedListed = index.TryGetValue(predicted[i], out var p);
            if (goldListed)
            {
                goldCount[g]++;
            }
            if (predictedListed)
            {
                predictedCount[p]++;
            }
            if (goldListed && gold[i] == predicted[i])
            {
                tp[g]++;
            }
        }
        return PrecisionRecallReport<int>.FromCounts(
            Enumerable.Range(0, labels.Count).Select(c => (labels[c], tp[c], predictedCount[c], goldCount[c])).ToArray());
    }

    /// <summary>
    /// The Matthews correlation coefficient, multi-class form as scikit-learn's <c>matthews_corrcoef</c>: with the
    /// confusion matrix C, t = gold counts per class, p = predicted counts, c = trace(C) and s = number of examples,
    /// MCC = (c·s − t·p) / √((s² − p·p)(s² − t·t)); 0 when the denominator is 0 (one class only in gold or predictions).
    /// </summary>
    /// <exception cref="ArgumentException">The lists differ in length or are empty.</exception>
    public static double MatthewsCorrelation(IReadOnlyList<int> gold, IReadOnlyList<int> predicted)
    {
        CheckPair(gold, predicted);
        var goldCounts = new Dictionary<int, long>();
        var predictedCounts = new Dictionary<int, long>();
        long correct = 0;
        for (int i = 0; i < gold.Count; i++)
        {
            goldCounts[gold[i]] = goldCounts.GetValueOrDefault(gold[i]) + 1;
            predictedCounts[predicted[i]] = predictedCounts.GetValueOrDefault(predicted[i]) + 1;
            if (gold[i] == predicted[i])
            {
                correct++;
            }
        }
        double samples = gold.Count;
        double dotTp = goldCounts.Sum(kv => (double)kv.Value * predictedCounts.GetValueOrDefault(kv.Key));
        double dotPp = predictedCounts.Values.Sum(v => (double)v * v);
        double dotTt = goldCounts.Values.Sum(v => (double)v * v);
        double covariance = correct * samples - dotTp;
        double predictedVariance = samples * samples - dotPp;
        double goldVariance = samples * samples - dotTt;
        return predictedVariance * goldVariance == 0 ? 0 : covariance / Math.Sqrt(goldVariance * predictedVariance);
    }

    internal static void CheckPair<T>(IReadOnlyList<T> gold, IReadOnlyList<T> predicted)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        if (gold.Count != predicted.Count)
        {
            throw new ArgumentException($"{gold.Count} gold values but {predicted.Count} predictions; give one prediction per gold value.", nameof(predicted));
        }
        if (gold.Count == 0)
        {
            throw new ArgumentException("No examples to score.", nameof(gold));
        }
    }
}
