namespace BertFineTune.Inference;

/// <summary>
/// The aggregation of transformers' <c>token-classification</c> pipeline (<c>pipelines/token_classification.py</c>:
/// <c>aggregate</c>, <c>aggregate_words</c>, <c>aggregate_word</c>, <c>group_entities</c>, <c>group_sub_entities</c>,
/// <c>get_tag</c>) as pure functions over plain arrays, so that it runs the same on any runtime's scores.
/// </summary>
/// <remarks>
/// The reference knows only the <c>B-</c> and <c>I-</c> prefixes: <c>get_tag</c> reads <c>B-X</c> as (B, X), <c>I-X</c>
/// as (I, X) and any other label, <c>S-X</c>, <c>E-X</c>, <c>U-X</c>, <c>L-X</c> or <c>O</c> included, whole as
/// (I, label). Adjacent entities join while their tags are equal and the newcomer is not B, so with BIOES or BILOU
/// labels <c>B-PER E-PER</c> makes two groups and <c>S-PER S-PER</c> one. A group is named after its first label with
/// everything up to the first hyphen removed (<c>split("-", 1)[-1]</c>): <c>S-PER</c> → <c>PER</c>,
/// <c>B-MISC-X</c> → <c>MISC-X</c>, and <c>MISC-X</c> (no prefix) → <c>X</c>.
/// </remarks>
internal static class TokenClassificationAggregation
{
    /// <summary>
    /// One text token as <c>gather_pre_entities</c> makes it (special tokens are left out before).
    /// </summary>
    /// <param name="Word">The token string (<c>##owal</c>), or the original text for an unknown token.</param>
    /// <param name="Scores">Its probabilities over the labels, by label id.</param>
    /// <param name="Start">Start of its span in the text.</param>
    /// <param name="End">End (exclusive) of its span.</param>
    /// <param name="Index">Its index in the encoding.</param>
    /// <param name="IsSubword">Whether it continues the word of the token before.</param>
    internal sealed record PreEntity(string Word, float[] Scores, int Start, int End, int Index, bool IsSubword);

    /// <summary>
    /// <c>aggregate</c>: with <see cref="AggregationStrategy.None"/> each token with its best label; with
    /// <see cref="AggregationStrategy.Simple"/> those tokens grouped; with the word strategies each word's label
    /// first (<see cref="AggregateWords"/>), then grouped (<see cref="GroupEntities"/>).
    /// </summary>
    /// <param name="preEntities">The text tokens in order.</param>
    /// <param name="labels">The label names by id (<c>id2label</c>).</param>
    /// <param name="strategy">The aggregation strategy.</param>
    /// <param name="convertTokensToString">The tokenizer's <c>convert_tokens_to_string</c>.</param>
    internal static List<TokenEntity> Aggregate(IReadOnlyList<PreEntity> preEntities, IReadOnlyList<string> labels,
        AggregationStrategy strategy, Func<IReadOnlyList<string>, string> convertTokensToString)
    {
        ArgumentNullException.ThrowIfNull(preEntities);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(convertTokensToString);
        List<TokenEntity> entities;
        if (strategy is AggregationStrategy.None or AggregationStrategy.Simple)
        {
            entities = preEntities.Select(p =>
            {
                int label = ArgMax(p.Scores);
                return new TokenEntity(labels[label], p.Scores[label], p.Word, p.Start, p.End, p.Index);
            }).ToList();
        }
        else
        {
            entities = AggregateWords(preEntities, labels, strategy, convertTokensToString);
        }
        return strategy == AggregationStrategy.None ? entities : GroupEntities(entities, convertTokensToString);
    }

    /// <summary>
    /// <c>aggregate_words</c>: a word is a token and the sub-word tokens after it; it takes one label by the strategy
    /// (<see cref="AggregateWord"/>).
    /// </summary>
    internal static List<TokenEntity> AggregateWords(IReadOnlyList<PreEntity> preEntities, IReadOnlyList<string> labels,
        AggregationStrategy strategy, Func<IReadOnlyList<string>, string> convertTokensToString)
    {
        if (strategy is AggregationStrategy.None or AggregationStrategy.Simple)
        {
            throw new ArgumentException($"{strategy} is not a word aggregation strategy; use First, Average or Max.", nameof(strategy));
        }
        var words = new List<TokenEntity>();
        var group = new List<PreEntity>();
        foreach (var entity in preEntities)
        {
            if (group.Count > 0 && !entity.IsSubword)
            {
                words.Add(AggregateWord(group, labels, strategy, convertTokensToString));
                group = [];
            }
            group.Add(entity);
        }
        if (group.Count > 0)
        {
            words.Add(AggregateWord(group, labels, strategy, convertTokensToString));
        }
        return words;
    }

    /// <summary>
    /// <c>aggregate_word</c>: <see cref="AggregationStrategy.First"/> takes the first token's best label,
    /// <see cref="AggregationStrategy.Max"/> the best label of the token with the highest score (the first such),
    /// <see cref="AggregationStrategy.Average"/> the best label of the mean scores; the word is the tokens joined.
    /// </summary>
    internal static TokenEntity AggregateWord(IReadOnlyList<PreEntity> tokens, IReadOnlyList<string> labels,
        AggregationStrategy strategy, Func<IReadOnlyList<string>, string> convertTokensToString)
    {
        float[] scores = strategy switch
        {
            AggregationStrategy.First => tokens[0].Scores,
            // Python's max() keeps the first of equal maxima; OrderByDescending is stable.
            AggregationStrategy.Max => tokens.OrderByDescending(t => t.Scores.Max()).First().Scores,
            AggregationStrategy.Average => Enumerable.Range(0, labels.Count).Select(k => tokens.Select(t => t.Scores[k]).Average()).ToArray(),
            _ => throw new ArgumentException($"{strategy} is not a word aggregation strategy; use First, Average or Max.", nameof(strategy)),
        };
        int label = ArgMax(scores);
        var word = convertTokensToString(tokens.Select(t => t.Word).ToList());
        return new TokenEntity(labels[label], scores[label], word, tokens[0].Start, tokens[^1].End, null);
    }

    /// <summary>
    /// <c>group_entities</c>: an entity joins the group before it when its tag equals the last one's and it is not a
    /// B (see <see cref="GetTag"/>); each group becomes one entity (<see cref="GroupSubEntities"/>).
    /// </summary>
    internal static List<TokenEntity> GroupEntities(IReadOnlyList<TokenEntity> entities, Func<IReadOnlyList<string>, string> convertTokensToString)
    {
        var groups = new List<TokenEntity>();
        var current = new List<TokenEntity>();
        foreach (var entity in entities)
        {
            if (current.Count > 0)
            {
                var (bi, tag) = GetTag(entity.Entity);
                var (_, lastTag) = GetTag(current[^1].Entity);
                if (tag != lastTag || bi == "B")
                {
                    groups.Add(GroupSubEntities(current, convertTokensToString));
                    current = [];
                }
            }
            current.Add(entity);
        }
        if (current.Count > 0)
        {
            groups.Add(GroupSubEntities(current, convertTokensToString));
        }
        return groups;
    }

    /// <summary>
    /// <c>group_sub_entities</c>: named by <see cref="EntityGroupName"/> of the first entity's label, scored by the mean,
    /// the words joined, from the first start to the last end.
    /// </summary>
    internal static TokenEntity GroupSubEntities(IReadOnlyList<TokenEntity> entities, Func<IReadOnlyList<string>, string> convertTokensToString) =>
        new(EntityGroupName(entities[0].Entity), entities.Average(e => e.Score),
            convertTokensToString(entities.Select(e => e.Word).ToList()), entities[0].Start, entities[^1].End, null);

    /// <summary>
    /// <c>get_tag</c>: <c>B-X</c> → (B, X), <c>I-X</c> → (I, X), any other label → (I, label); only these two prefixes
    /// are known.
    /// </summary>
    internal static (string BI, string Tag) GetTag(string entity) =>
        entity.StartsWith("B-", StringComparison.Ordinal) ? ("B", entity[2..])
        : entity.StartsWith("I-", StringComparison.Ordinal) ? ("I", entity[2..])
        : ("I", entity);

    /// <summary>
    /// The name <c>group_sub_entities</c> gives a group: the label after its first hyphen, or the whole label when it has
    /// none (Python's <c>entity.split("-", 1)[-1]</c>).
    /// </summary>
    internal static string EntityGroupName(string label)
    {
        int hyphen = label.IndexOf('-', StringComparison.Ordinal);
        return hyphen < 0 ? label : label[(hyphen + 1)..];
    }

    /// <summary>
    /// The WordPiece decoder's <c>decode</c> (what a fast tokenizer's <c>convert_tokens_to_string</c> runs): every token
    /// after the first loses <paramref name="continuingSubwordPrefix"/> or gains a leading space, then each piece is
    /// cleaned up when <paramref name="cleanUp"/>.
    /// </summary>
    internal static string ConvertTokensToString(IReadOnlyList<string> tokens, string continuingSubwordPrefix, bool cleanUp)
    {
        var builder = new System.Text.StringBuilder();
        for (int i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (i > 0)
            {
                token = token.StartsWith(continuingSubwordPrefix, StringComparison.Ordinal) ? token[continuingSubwordPrefix.Length..] : " " + token;
            }
            builder.Append(cleanUp ? Tokenization.BertTokenizer.CleanUp(token) : token);
        }
        return builder.ToString();
    }

    /// <summary>numpy's <c>argmax</c>: the first index of the largest value.</summary>
    internal static int ArgMax(float[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }
        return best;
    }
}
