namespace BertFineTune.Inference;

/// <summary>
/// The score functions of transformers' pipelines on plain arrays (<c>pipelines/text_classification.py</c>
/// <c>softmax</c>/<c>sigmoid</c>, <c>fill_mask.py</c> and <c>token_classification.py</c> softmax over the last axis), one
/// implementation for every backend.
/// </summary>
internal static class Scores
{
    /// <summary>
    /// Softmax over each consecutive run of <paramref name="width"/> values (the last dimension), as
    /// <c>exp(x - max) / sum(exp(x - max))</c>; accumulated in double and rounded to float32 once.
    /// </summary>
    /// <exception cref="ArgumentException">The length is not a multiple of <paramref name="width"/>.</exception>
    public static float[] Softmax(ReadOnlySpan<float> logits, int width)
    {
        if (width < 1 || logits.Length % width != 0)
        {
            throw new ArgumentException($"{logits.Length} logits do not split into rows of {width}.", nameof(logits));
        }
        var result = new float[logits.Length];
        for (int start = 0; start < logits.Length; start += width)
        {
            var row = logits.Slice(start, width);
            float max = float.NegativeInfinity;
            foreach (var x in row)
            {
                max = Math.Max(max, x);
            }
            double sum = 0;
            for (int i = 0; i < width; i++)
            {
                sum += Math.Exp((double)row[i] - max);
            }
            for (int i = 0; i < width; i++)
            {
                result[start + i] = (float)(Math.Exp((double)row[i] - max) / sum);
            }
        }
        return result;
    }

    /// <summary>The logistic function <c>1 / (1 + exp(-x))</c> of each value, in double, rounded to float32.</summary>
    public static float[] Sigmoid(ReadOnlySpan<float> logits)
    {
        var result = new float[logits.Length];
        for (int i = 0; i < logits.Length; i++)
        {
            result[i] = (float)(1 / (1 + Math.Exp(-(double)logits[i])));
        }
        return result;
    }
}
