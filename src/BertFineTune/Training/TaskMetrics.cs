using BertFineTune.Evaluation;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>
/// Ready-made metric hooks for <see cref="Trainer"/> evaluations, one per task, built on <c>BertFineTune.Evaluation</c>.
/// Each reads the <c>logits</c> output and the <c>labels</c> target of every evaluation batch.
/// </summary>
public static class TaskMetrics
{
    /// <summary>Single-label classification: accuracy, macro F1 and Matthews correlation.</summary>
    public static Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>> SingleLabel() => batches =>
    {
        var gold = new List<int>();
        var predicted = new List<int>();
        foreach (var batch in batches)
        {
            using var argmax = batch.Outputs["logits"].argmax(-1);
            predicted.AddRange(argmax.to_type(ScalarType.Int32).data<int>().ToArray());
            gold.AddRange(batch.Targets["labels"].to_type(ScalarType.Int32).data<int>().ToArray());
        }
        return new Dictionary<string, double>
        {
            ["accuracy"] = ClassificationMetrics.Accuracy(gold, predicted),
            ["f1_macro"] = ClassificationMetrics.PrecisionRecallF1(gold, predicted).Macro.F1,
            ["mcc"] = ClassificationMetrics.MatthewsCorrelation(gold, predicted),
        };
    };

    /// <summary>Multi-label classification with a 0.5 sigmoid threshold: exact-match accuracy and micro F1 over labels.</summary>
    public static Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>> MultiLabel() => batches =>
    {
        long exact = 0, rows = 0, truePositives = 0, predictedPositives = 0, goldPositives = 0;
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            var predicted = batch.Outputs["logits"].sigmoid().ge(0.5);
            var gold = batch.Targets["labels"].ge(0.5);
            exact += predicted.eq(gold).all(1).sum().item<long>();
            rows += predicted.shape[0];
            truePositives += predicted.logical_and(gold).sum().item<long>();
            predictedPositives += predicted.sum().item<long>();
            goldPositives += gold.sum().item<long>();
        }
        return new Dictionary<string, double>
        {
            ["exact_match"] = rows == 0 ? 0 : (double)exact / rows,
            ["f1_micro"] = predictedPositives + goldPositives == 0 ? 0 : 2.0 * truePositives / (predictedPositives + goldPositives),
        };
    };

    /// <summary>Regression: Pearson and Spearman correlation of predictions with targets.</summary>
    public static Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>> Regression() => batches =>
    {
        var gold = new List<double>();
        var predicted = new List<double>();
        foreach (var batch in batches)
        {
            predicted.AddRange(batch.Outputs["logits"].reshape(-1).to_type(ScalarType.Float64).data<double>().ToArray());
            gold.AddRange(batch.Targets["labels"].reshape(-1).to_type(ScalarType.Float64).data<double>().ToArray());
        }
        return new Dictionary<string, double>
        {
            ["pearson"] = CorrelationMetrics.Pearson(gold, predicted),
            ["spearman"] = CorrelationMetrics.Spearman(gold, predicted),
        };
    };

    /// <summary>
    /// Token classification with first-sub-token labels: entity precision, recall and F1 as seqeval computes them, over
    /// the positions whose label is not -100 (one per word).
    /// </summary>
    public static Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>> Entities(IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return batches =>
        {
            var gold = new List<IReadOnlyList<string>>();
            var predicted = new List<IReadOnlyList<string>>();
            foreach (var batch in batches)
            {
                using var argmax = batch.Outputs["logits"].argmax(-1);
                var predictedIds = argmax.to_type(ScalarType.Int32).data<int>().ToArray();
                var goldIds = batch.Targets["labels"].to_type(ScalarType.Int64).data<long>().ToArray();
                long rows = argmax.shape[0], length = argmax.shape[1];
                for (int row = 0; row < rows; row++)
                {
                    var g = new List<string>();
                    var p = new List<string>();
                    for (int col = 0; col < length; col++)
                    {
                        long label = goldIds[row * length + col];
                        if (label >= 0)
                        {
                            g.Add(labels[(int)label]);
                            p.Add(labels[predictedIds[row * length + col]]);
                        }
                    }
                    gold.Add(g);
                    predicted.Add(p);
                }
            }
            var report = EntityMetrics.Score(gold, predicted);
            return new Dictionary<string, double>
            {
                ["precision"] = report.Micro.Precision,
                ["recall"] = report.Micro.Recall,
                ["f1"] = report.Micro.F1,
            };
        };
    }
}
