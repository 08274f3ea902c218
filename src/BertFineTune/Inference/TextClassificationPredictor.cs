using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

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
    /// <summary>Creates the predictor for a sequence-classification model.</summary>
    /// <exception cref="ArgumentException">The model's head is not sequence classification.</exception>
    internal TextClassificationPredictor(BertForTask model, BertTokenizer tokenizer, int batchSize = 32)
        : base(model, tokenizer, batchSize)
    {
        if (model.Head is not SequenceClassificationHead head)
        {
            throw new ArgumentException($"Text classification needs a SequenceClassificationHead, not {model.Head.GetType().Name}.", nameof(model));
        }
        Labels = head.Labels;
        DefaultFunction = head.ProblemType == ProblemType.Regression ? ScoreFunction.None
            : head.ProblemType == ProblemType.MultiLabelClassification || Labels.Count == 1 ? ScoreFunction.Sigmoid
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
            var logits = outputs["logits"];
            float[] scores = apply switch
            {
                ScoreFunction.Softmax => Softmax(logits),
                ScoreFunction.Sigmoid => Sigmoid(logits),
                _ => logits.to_type(ScalarType.Float32).data<float>().ToArray(),
            };
            var ranked = scores.Select((s, k) => new LabelScore(Labels[k], s)).OrderByDescending(l => l.Score);
            results[i] = (topK is { } k ? ranked.Take(k) : ranked).ToList();
        });
        return results;
    }

    private static float[] Sigmoid(Tensor logits)
    {
        using var scores = logits.to_type(ScalarType.Float32).sigmoid();
        return scores.data<float>().ToArray();
    }
}
