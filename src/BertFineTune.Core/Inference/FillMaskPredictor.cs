using BertFineTune.Tokenization;

namespace BertFineTune.Inference;

/// <summary>One candidate for a <c>[MASK]</c> position.</summary>
/// <param name="Score">Its probability.</param>
/// <param name="Token">Its token id.</param>
/// <param name="TokenString">The token, decoded.</param>
/// <param name="Sequence">The input with this token in place of the mask, decoded.</param>
public sealed record MaskPrediction(double Score, int Token, string TokenString, string Sequence);

/// <summary>
/// Fill-mask as transformers' <c>fill-mask</c> pipeline: the top-k tokens and probabilities for every <c>[MASK]</c>,
/// optionally restricted to target words.
/// </summary>
public sealed class FillMaskPredictor : Predictor
{
    /// <summary>
    /// Creates the predictor over <paramref name="backend"/>, whose output <c>logits</c> (masked LM) or
    /// <c>prediction_logits</c> (pre-training) is [length, vocabulary] per input.
    /// </summary>
    internal FillMaskPredictor(IPredictorBackend backend, BertTokenizer tokenizer, int batchSize = 32) : base(backend, tokenizer, batchSize)
    {
    }

    /// <summary>
    /// For each <c>[MASK]</c> in <paramref name="text"/> (in order), the <paramref name="topK"/> best tokens, or only the
    /// <paramref name="targets"/> when given (each must be a single token of the vocabulary).
    /// </summary>
    /// <exception cref="ArgumentException">The text has no mask, or a target is not a single vocabulary token.</exception>
    public IReadOnlyList<IReadOnlyList<MaskPrediction>> Predict(string text, int topK = 5, IReadOnlyList<string>? targets = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        var encoding = Tokenizer.Encode(text, options: TruncateToModel);
        var masks = Enumerable.Range(0, encoding.Length).Where(i => encoding.Ids[i] == Tokenizer.MaskTokenId).ToList();
        if (masks.Count == 0)
        {
            throw new ArgumentException($"The text has no {Tokenizer.Options.MaskToken} to fill: \"{text}\".", nameof(text));
        }
        int[]? targetIds = targets?.Select(t => Tokenizer.TokenToId(t) ?? throw new ArgumentException(
            $"Target '{t}' is not a token of the vocabulary; fill-mask can only propose single tokens.", nameof(targets))).ToArray();

        var results = new List<IReadOnlyList<MaskPrediction>>();
        Run([encoding], (_, outputs) =>
        {
            var logits = outputs.ContainsKey("logits") || !outputs.ContainsKey("prediction_logits")
                ? Output(outputs, "logits") : outputs["prediction_logits"];
            foreach (var position in masks)
            {
                var probabilities = Scores.Softmax(logits.Values.AsSpan(position * logits.Width, logits.Width), logits.Width);
                var candidates = targetIds ?? Enumerable.Range(0, probabilities.Length).ToArray();
                var best = candidates.OrderByDescending(id => probabilities[id]).ThenBy(id => id).Take(topK);
                results.Add(best.Select(id =>
                {
                    var ids = encoding.Ids.ToArray();
                    ids[position] = id;
                    // As transformers: the sequence drops special tokens only when there is a single mask.
                    var sequence = Tokenizer.Decode(ids, skipSpecialTokens: masks.Count == 1);
                    return new MaskPrediction(probabilities[id], id, Tokenizer.Decode([id], skipSpecialTokens: false), sequence);
                }).ToList());
            }
        });
        return results;
    }
}
