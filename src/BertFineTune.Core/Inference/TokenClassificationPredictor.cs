using BertFineTune.Tokenization;

namespace BertFineTune.Inference;

/// <summary>How token predictions are merged into entities, as transformers' <c>aggregation_strategy</c>.</summary>
public enum AggregationStrategy
{
    /// <summary>One result per token.</summary>
    None,
    /// <summary>
    /// Adjacent tokens with the same tag are grouped unless the next one starts with <c>B-</c>; sub-words are not forced
    /// together. Only <c>B-</c> and <c>I-</c> are read as prefixes (transformers' <c>get_tag</c>): <c>S-</c>, <c>E-</c>,
    /// <c>U-</c> and <c>L-</c> labels are tags of their own, so <c>B-PER E-PER</c> makes two groups.
    /// </summary>
    Simple,
    /// <summary>Words take the label of their first sub-token, then group.</summary>
    First,
    /// <summary>Words take the label of the average of their sub-tokens' scores, then group.</summary>
    Average,
    /// <summary>Words take the label of their most confident sub-token, then group.</summary>
    Max,
}

/// <summary>A predicted entity (or token, without aggregation) with its character span in the original text.</summary>
/// <param name="Entity">
/// The label (<c>B-PER</c>) without aggregation; with it, the group's name: its first label without the part up to the
/// first hyphen (<c>B-PER</c>, <c>S-PER</c> → <c>PER</c>; <c>B-MISC-X</c> → <c>MISC-X</c>), as transformers'
/// <c>entity_group</c>.
/// </param>
/// <param name="Score">Its probability (mean over grouped tokens).</param>
/// <param name="Word">The text of the token(s), as the tokenizer decodes it.</param>
/// <param name="Start">Start of the span in the original text (UTF-16 index).</param>
/// <param name="End">End (exclusive) of the span.</param>
/// <param name="Index">The token's index in the encoding, without aggregation; null for groups.</param>
public sealed record TokenEntity(string Entity, double Score, string Word, int Start, int End, int? Index);

/// <summary>
/// Named-entity style token classification as transformers' <c>token-classification</c> pipeline, with its aggregation
/// strategies and ignored labels. Texts longer than the model takes are split into overlapping windows; each token's
/// prediction comes from the window where it has the most context on both sides.
/// </summary>
public sealed class TokenClassificationPredictor : Predictor
{
    /// <summary>Creates the predictor over <paramref name="backend"/>, whose output <c>logits</c> is [length, labels] per input.</summary>
    /// <param name="backend">What runs the model.</param>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="labels">The label names by id (<c>id2label</c>).</param>
    /// <param name="batchSize">Inputs per forward pass.</param>
    /// <param name="stride">Tokens shared by consecutive windows of a long text; not negative.</param>
    internal TokenClassificationPredictor(IPredictorBackend backend, BertTokenizer tokenizer, IReadOnlyList<string> labels,
        int batchSize = 32, int stride = 32)
        : base(backend, tokenizer, batchSize)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfNegative(stride);
        Labels = labels;
        Stride = stride;
    }

    /// <summary>The label names by id.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Tokens shared by consecutive windows of a long text.</summary>
    public int Stride { get; }

    /// <summary>
    /// The entities of <paramref name="text"/>; those whose <see cref="TokenEntity.Entity"/> is in
    /// <paramref name="ignoreLabels"/> (default <c>O</c>) are left out: the label without aggregation, the group's name
    /// (<c>PER</c>, not <c>B-PER</c>) with it, as transformers' <c>ignore_labels</c>.
    /// </summary>
    public IReadOnlyList<TokenEntity> Predict(string text, AggregationStrategy aggregation = AggregationStrategy.None,
        IReadOnlyCollection<string>? ignoreLabels = null) =>
        PredictBatch([text], aggregation, ignoreLabels)[0];

    /// <summary>Predicts many texts in length-sorted batches; results are in input order.</summary>
    public IReadOnlyList<IReadOnlyList<TokenEntity>> PredictBatch(IReadOnlyList<string> texts,
        AggregationStrategy aggregation = AggregationStrategy.None, IReadOnlyCollection<string>? ignoreLabels = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ignoreLabels ??= ["O"];
        int stride = Math.Min(Stride, Math.Max(0, MaxLength - 3));
        var windows = Tokenizer.EncodeBatch(texts, options: TruncateToModel with
        {
            Stride = stride,
            ReturnOverflowingTokens = true,
        }).Encodings;
        // Window w of a text starts at text token w × step (the tokenizer's stride windows over MaxLength − 2 tokens).
        int step = MaxLength - 2 - stride;
        var windowScores = new float[windows.Count][];
        Run(windows, (i, outputs) =>
        {
            var logits = Output(outputs, "logits");
            windowScores[i] = Scores.Softmax(logits.Values, logits.Width);
        });

        var results = new IReadOnlyList<TokenEntity>[texts.Count];
        foreach (var sample in Enumerable.Range(0, windows.Count).GroupBy(i => windows[i].SampleIndex))
        {
            var tokens = MergeWindows(sample.Select(i => (windows[i], windowScores[i])).ToList(), step);
            var entities = Aggregate(texts[sample.Key], tokens, aggregation);
            results[sample.Key] = entities.Where(e => !ignoreLabels.Contains(e.Entity)).ToList();
        }
        return results;
    }

    /// <summary>A text token with its scores over the labels.</summary>
    private sealed record TokenScores(int Index, int Id, int Start, int End, float[] Scores);

    /// <summary>One entry per text token: from the window where it is farthest from a window edge.</summary>
    private List<TokenScores> MergeWindows(List<(EncodedText Window, float[] Scores)> windows, int step)
    {
        var best = new SortedDictionary<int, (int Context, TokenScores Token)>();
        int labels = Labels.Count;
        for (int w = 0; w < windows.Count; w++)
        {
            var (window, scores) = windows[w];
            var textPositions = Enumerable.Range(0, window.Length).Where(i => window.SequenceIds[i] == 0).ToList();
            for (int k = 0; k < textPositions.Count; k++)
            {
                int i = textPositions[k];
                int position = w * step + k;
                int context = Math.Min(k, textPositions.Count - 1 - k);
                if (!best.TryGetValue(position, out var current) || context > current.Context)
                {
                    var token = new TokenScores(position + 1, window.Ids[i], window.Offsets[i].Start, window.Offsets[i].End, scores[(i * labels)..((i + 1) * labels)]);
                    best[position] = (context, token);
                }
            }
        }
        return best.Values.Select(v => v.Token).ToList();
    }

    /// <summary>
    /// transformers' <c>gather_pre_entities</c> then <c>aggregate</c>: each text token with its word (the token string,
    /// or the original text for unknown tokens) and whether it continues a word, then the aggregation strategy.
    /// </summary>
    private List<TokenEntity> Aggregate(string text, List<TokenScores> tokens, AggregationStrategy aggregation)
    {
        var preEntities = tokens.Select(t => new TokenClassificationAggregation.PreEntity(
            WordOf(text, t), t.Scores, t.Start, t.End, t.Index, IsSubword(t))).ToList();
        return TokenClassificationAggregation.Aggregate(preEntities, Labels, aggregation, DecodeTokens);
    }

    /// <summary>The token string, or the original text for unknown tokens (as transformers shows them).</summary>
    private string WordOf(string text, TokenScores token) =>
        token.Id == Tokenizer.UnknownTokenId ? text[token.Start..token.End] : Tokenizer.IdToToken(token.Id);

    /// <summary>
    /// transformers' heuristic for tokenizers with a continuing-subword prefix: a token continues a word when its string's
    /// length differs from its text span's; unknown tokens never do.
    /// </summary>
    private bool IsSubword(TokenScores token) =>
        token.Id != Tokenizer.UnknownTokenId && Tokenizer.IdToToken(token.Id).Length != token.End - token.Start;

    /// <summary>Joins token strings as the WordPiece decoder does (<c>convert_tokens_to_string</c>).</summary>
    private string DecodeTokens(IReadOnlyList<string> tokens) =>
        TokenClassificationAggregation.ConvertTokensToString(tokens, Tokenizer.Options.ContinuingSubwordPrefix,
            Tokenizer.Options.CleanUpTokenizationSpaces);
}
