using BertFineTune.Checkpoints;
using BertFineTune.Tokenization;

namespace BertFineTune.Inference;

/// <summary>How logits become scores, as transformers' <c>function_to_apply</c>.</summary>
public enum ScoreFunction
{
    /// <summary>Softmax over the labels (single-label classification).</summary>
    Softmax,
    /// <summary>An independent sigmoid per label (multi-label, or one label).</summary>
    Sigmoid,
    /// <summary>The raw logits (regression).</summary>
    None,
}

/// <summary>A label and its score.</summary>
/// <param name="Label">The label name (<c>id2label</c>).</param>
/// <param name="Score">Its probability, or raw value for regression.</param>
public sealed record LabelScore(string Label, double Score);

/// <summary>
/// Text and text-pair classification as transformers' <c>text-classification</c> pipeline: the score function is
/// chosen from the problem type (regression → none; multi-label or one label → sigmoid; otherwise softmax), labels are
/// sorted by score and cut to <c>topK</c>.
/// </summary>
public sealed class TextClassificationPredictor : Predictor
{
    /// <summary>
    /// Creates the predictor over <paramref name="backend"/>; the score function is chosen as transformers'
    /// <c>TextClassificationPipeline.postprocess</c> does: regression → none; multi-label or one label → sigmoid;
    /// otherwise softmax.
    /// </summary>
    /// <param name="backend">What runs the model; its output <c>logits</c> is [labels] per input.</param>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="labels">The label names by id (<c>id2label</c>).</param>
    /// <param name="problemType">The config's <c>problem_type</c>, or null.</param>
    /// <param name="batchSize">Inputs per forward pass.</param>
    internal TextClassificationPredictor(IPredictorBackend backend, BertTokenizer tokenizer, IReadOnlyList<string> labels,
        ProblemType? problemType, int batchSize = 32)
        : base(backend, tokenizer, batchSize)
    {
        ArgumentNullException.ThrowIfNull(labels);
        Labels = labels;
        DefaultFunction = problemType == ProblemType.Regression ? ScoreFunction.None
            : problemType == ProblemType.MultiLabelClassification || Labels.Count == 1 ? ScoreFunction.Sigmoid
            : ScoreFunction.Softmax;
    }

    /// <summary>The label names by id.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>The score function transformers would choose for this model.</summary>
    public ScoreFunction DefaultFunction { get; }

    /// <summary>The <paramref name="topK"/> best labels (all when null) of a text or text pair, best first.</summary>
    public IReadOnlyList<LabelScore> Predict(string text, string? pair = null, int? topK = 1, ScoreFunction? function = null) =>
        PredictBatch([text], pair is null ? null : [pair], topK, function)[0];

    /// <summary>Classifies many texts (or pairs) in length-sorted batches; results are in input order.</summary>
    public IReadOnlyList<IReadOnlyList<LabelScore>> PredictBatch(IReadOnlyList<string> texts, IReadOnlyList<string?>? pairs = null,
        int? topK = 1, ScoreFunction? function = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (topK is <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(topK), topK, "topK must be positive, or null for every label.");
        }
        var encodings = Tokenizer.EncodeBatch(texts, pairs, TruncateToModel).Encodings;
        var results = new IReadOnlyList<LabelScore>[texts.Count];
        var apply = function ?? DefaultFunction;
        Run(encodings, (i, outputs) =>
        {
            var logits = Output(outputs, "logits");
            float[] scores = apply switch
            {
                ScoreFunction.Softmax => Scores.Softmax(logits.Values, logits.Width),
                ScoreFunction.Sigmoid => Scores.Sigmoid(logits.Values),
                _ => logits.Values,
            };
            var ranked = scores.Select((s, k) => new LabelScore(Labels[k], s)).OrderByDescending(l => l.Score);
            results[i] = (topK is { } k ? ranked.Take(k) : ranked).ToList();
        });
        return results;
    }

}
