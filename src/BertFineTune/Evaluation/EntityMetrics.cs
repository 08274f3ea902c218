namespace BertFineTune.Evaluation;

/// <summary>How chunk tags are read into entities.</summary>
public enum EntityMatching
{
    /// <summary>
    /// seqeval's default (conlleval) mode: a chunk starts at <c>B-X</c>, and also at <c>I-X</c> after <c>O</c> or after a
    /// tag of another type; it continues over <c>I-X</c> and ends before <c>O</c>, <c>B-</c> or another type. Any tag is
    /// accepted (its first character is the prefix, the text after the first <c>-</c> the type).
    /// </summary>
    Lenient,

    /// <summary>
    /// seqeval's strict mode with the IOB2 scheme: an entity is <c>B-X</c> followed by any run of <c>I-X</c>; an
    /// <c>I-X</c> that does not continue such an entity belongs to none. Tags must be <c>O</c>, <c>B-X</c> or <c>I-X</c>.
    /// </summary>
    StrictIob2,
}

/// <summary>A chunk of tagged tokens: which sentence, which tokens [Start, End), which type.</summary>
/// <param name="Sentence">The 0-based sentence index.</param>
/// <param name="Type">The entity type (<c>PER</c>, <c>LOC</c>, …; <c>_</c> for a tag without a type in lenient mode).</param>
/// <param name="Start">The first token.</param>
/// <param name="End">The token after the last.</param>
public readonly record struct EntitySpan(int Sentence, string Type, int Start, int End);

/// <summary>Entity-level precision, recall and F1 for sequence labelling (NER), exactly as the Python package seqeval.</summary>
/// <remarks>
/// A predicted entity counts as correct only when a gold entity has the same type and the same first and last token.
/// The overall score is <see cref="PrecisionRecallReport{TLabel}.Micro"/> (seqeval's <c>f1_score</c> default); per-type
/// rows, macro and weighted averages match seqeval's <c>classification_report</c>.
/// </remarks>
public static class EntityMetrics
{
    /// <summary>Scores predicted tag sequences against gold ones, sentence by sentence.</summary>
    /// <param name="gold">The gold tags, one list per sentence.</param>
    /// <param name="predicted">The predicted tags, one list per sentence of the same length as its gold list.</param>
    /// <param name="matching">How tags are read into entities (default: seqeval's lenient default mode).</param>
    /// <returns>Per-type scores (types sorted ordinally) and the micro, macro and weighted averages.</returns>
    /// <exception cref="ArgumentException">The sentence counts or a sentence's lengths differ, or a tag is empty (or invalid in strict mode).</exception>
    public static PrecisionRecallReport<string> Score(IReadOnlyList<IReadOnlyList<string>> gold, IReadOnlyList<IReadOnlyList<string>> predicted,
        EntityMatching matching = EntityMatching.Lenient)
    {
        ArgumentNullException.ThrowIfNull(gold);
        ArgumentNullException.ThrowIfNull(predicted);
        if (gold.Count != predicted.Count)
        {
            throw new ArgumentException($"{gold.Count} gold sentences but {predicted.Count} predicted ones.", nameof(predicted));
        }
        for (int s = 0; s < gold.Count; s++)
        {
            if (gold[s].Count != predicted[s].Count)
            {
                throw new ArgumentException($"Sentence {s} has {gold[s].Count} gold tags but {predicted[s].Count} predicted ones.", nameof(predicted));
            }
        }
        var goldEntities = Entities(gold, matching).ToHashSet();
        var predictedEntities = Entities(predicted, matching).ToHashSet();
        var types = goldEntities.Select(e => e.Type).Union(predictedEntities.Select(e => e.Type)).Order(StringComparer.Ordinal).ToArray();
        var counts = types.Select(type => (
            type,
            (long)predictedEntities.Count(e => e.Type == type && goldEntities.Contains(e)),
            (long)predictedEntities.Count(e => e.Type == type),
            (long)goldEntities.Count(e => e.Type == type))).ToArray();
        return PrecisionRecallReport<string>.FromCounts(counts);
    }

    /// <summary>The entities of tagged sentences, in sentence and token order.</summary>
    /// <exception cref="ArgumentException">A tag is empty, or (strict mode) not <c>O</c>, <c>B-X</c> or <c>I-X</c>.</exception>
    public static IReadOnlyList<EntitySpan> Entities(IReadOnlyList<IReadOnlyList<string>> sentences, EntityMatching matching = EntityMatching.Lenient)
    {
        ArgumentNullException.ThrowIfNull(sentences);
        var entities = new List<EntitySpan>();
        for (int s = 0; s < sentences.Count; s++)
        {
            ArgumentNullException.ThrowIfNull(sentences[s], nameof(sentences));
            switch (matching)
            {
                case EntityMatching.Lenient:
                    Lenient(sentences[s], s, entities);
                    break;
                case EntityMatching.StrictIob2:
                    StrictIob2(sentences[s], s, entities);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(matching), matching, "Unknown entity matching.");
            }
        }
        return entities;
    }

    /// <summary>seqeval's <c>get_entities</c> with its <c>end_of_chunk</c> and <c>start_of_chunk</c> rules.</summary>
    private static void Lenient(IReadOnlyList<string> tags, int sentence, List<EntitySpan> entities)
    {
        char previousTag = 'O';
        string previousType = "";
        int begin = 0;
        for (int i = 0; i <= tags.Count; i++)
        {
            var (tag, type) = i < tags.Count ? Split(tags[i], sentence, i) : ('O', "_");
            if (EndOfChunk(previousTag, tag, previousType, type))
            {
                entities.Add(new EntitySpan(sentence, previousType, begin, i));
            }
            if (StartOfChunk(previousTag, tag, previousType, type))
            {
                begin = i;
            }
            previousTag = tag;
            previousType = type;
        }
    }

    /// <summary>seqeval's split of a tag: the first character is the prefix; the type is the text after the first '-' of the rest, or '_' when empty.</summary>
    private static (char Tag, string Type) Split(string chunk, int sentence, int position)
    {
        if (string.IsNullOrEmpty(chunk))
        {
            throw new ArgumentException($"Sentence {sentence}, token {position}: the tag is empty.");
        }
        var rest = chunk.AsSpan(1);
        int dash = rest.IndexOf('-');
        var type = dash < 0 ? rest.ToString() : rest[(dash + 1)..].ToString();
        return (chunk[0], type.Length == 0 ? "_" : type);
    }

    private static bool EndOfChunk(char previousTag, char tag, string previousType, string type) =>
        previousTag is 'E' or 'S'
        || (previousTag is 'B' or 'I' && tag is 'B' or 'S' or 'O')
        || (previousTag is not ('O' or '.') && previousType != type);

    private static bool StartOfChunk(char previousTag, char tag, string previousType, string type) =>
        tag is 'B' or 'S'
        || (previousTag is 'E' or 'S' && tag is 'E' or 'I')
        || (previousTag == 'O' && tag is 'E' or 'I')
        || (tag is not ('O' or '.') && previousType != type);

    /// <summary>seqeval's strict mode for IOB2: B-X starts an entity, I-X of the same type continues it.</summary>
    private static void StrictIob2(IReadOnlyList<string> tags, int sentence, List<EntitySpan> entities)
    {
        for (int i = 0; i < tags.Count; i++)
        {
            var tag = tags[i];
            if (tag != "O" && !(tag is ['B' or 'I', '-', _, ..]))
            {
                throw new ArgumentException(
                    $"Sentence {sentence}, token {i}: '{tag}' is not an IOB2 tag (O, B-TYPE or I-TYPE); strict IOB2 scoring accepts no other.");
            }
        }
        int t = 0;
        while (t < tags.Count)
        {
            if (tags[t][0] != 'B')
            {
                t++;
                continue;
            }
            var type = tags[t][2..];
            int end = t + 1;
            while (end < tags.Count && tags[end][0] == 'I' && tags[end].AsSpan(2).SequenceEqual(type))
            {
                end++;
            }
            entities.Add(new EntitySpan(sentence, type, t, end));
            t = end;
        }
    }
}
