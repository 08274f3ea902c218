using BertFineTune.Data;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>
/// One evaluation pass, as transformers' <c>Trainer.evaluate</c>: the model in eval mode without gradients, the mean
/// loss over the examples, plus the metrics hook's values (an <c>eval_</c> prefix dropped); the model's mode is restored
/// afterwards.
/// </summary>
internal static class Evaluator
{
    /// <summary>Evaluates <paramref name="data"/> with <paramref name="forward"/>; <c>loss</c> is absent when no batch had targets.</summary>
    public static IReadOnlyDictionary<string, double> Evaluate(ForwardPass forward, BatchSource data,
        Func<IReadOnlyList<EvaluationBatch>, IReadOnlyDictionary<string, double>>? computeMetrics)
    {
        var model = forward.Model;
        bool wasTraining = model.training;
        model.eval();
        var collected = new List<EvaluationBatch>();
        double lossSum = 0;
        long examples = 0;
        // Without gradients the weights cannot change during the evaluation: their low-precision casts are made once.
        using var casts = forward.Precision.CreateCastCache();
        try
        {
            using var _ = no_grad();
            foreach (var batch in data.Batches(0))
            {
                using var scope = NewDisposeScope();
                using var owned = batch;
                using var onDevice = batch.To(forward.Device);
                using var output = forward.Run(onDevice, casts);
                if (output.Loss is { } loss)
                {
                    lossSum += loss.to_type(ScalarType.Float64).item<double>() * batch.Size;
                    examples += batch.Size;
                }
                if (computeMetrics is not null)
                {
                    collected.Add(new EvaluationBatch(
                        output.Tensors.Where(p => p.Key != "loss").ToDictionary(p => p.Key, p => p.Value.detach().cpu().MoveToOuterDisposeScope()),
                        batch.Targets.ToDictionary(p => p.Key, p => p.Value.cpu().clone().MoveToOuterDisposeScope()),
                        batch.AttentionMask?.cpu().clone().MoveToOuterDisposeScope()));
                }
            }
            var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
            if (examples > 0)
            {
                metrics["loss"] = lossSum / examples;
            }
            if (computeMetrics is not null)
            {
                foreach (var (name, value) in computeMetrics(collected))
                {
                    metrics[name.StartsWith("eval_", StringComparison.Ordinal) ? name["eval_".Length..] : name] = value;
                }
            }
            return metrics;
        }
        finally
        {
            foreach (var batch in collected)
            {
                foreach (var t in batch.Outputs.Values.Concat(batch.Targets.Values))
                {
                    t.Dispose();
                }
                batch.AttentionMask?.Dispose();
            }
            if (wasTraining)
            {
                model.train();
            }
        }
    }
}
