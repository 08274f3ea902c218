namespace BertFineTune.Tokenization;

/// <summary>
/// One encoded input (or one overflow window of it), as transformers' fast tokenizers return it. Offsets are
/// [start, end) UTF-16 positions in the ORIGINAL text of the token's sequence; special and padding tokens have (0, 0).
/// </summary>
public sealed class EncodedText
{
    internal EncodedText(int[] ids, int[] typeIds, (int Start, int End)[] offsets, int?[] wordIds, int?[] sequenceIds,
        int[] specialTokensMask, int[] attentionMask, int sampleIndex, Func<int, string> tokenOf, string?[]? values = null)
    {
        _values = values;
        Ids = ids;
        TypeIds = typeIds;
        Offsets = offsets;
        WordIds = wordIds;
        SequenceIds = sequenceIds;
        SpecialTokensMask = specialTokensMask;
        AttentionMask = attentionMask;
        SampleIndex = sampleIndex;
        _tokenOf = tokenOf;
    }

    private readonly Func<int, string> _tokenOf;

    // The text an added token matched, where it took white space (lstrip/rstrip); null where the token string is the id's.
    private readonly string?[]? _values;

    /// <summary>The token string at <paramref name="index"/> when it is not the id's own, else null.</summary>
    internal string? Value(int index) => _values?[index];

    /// <summary>Token ids (<c>input_ids</c>).</summary>
    public IReadOnlyList<int> Ids { get; }

    /// <summary>Segment ids (<c>token_type_ids</c>): 0 for the first text and its special tokens, 1 for the second.</summary>
    public IReadOnlyList<int> TypeIds { get; }

    /// <summary>Each token's [start, end) in its original text; (0, 0) for special and padding tokens.</summary>
    public IReadOnlyList<(int Start, int End)> Offsets { get; }

    /// <summary>The index of the word each token comes from within its sequence; null for special and padding tokens.</summary>
    public IReadOnlyList<int?> WordIds { get; }

    /// <summary>0 or 1: which text each token comes from; null for special and padding tokens.</summary>
    public IReadOnlyList<int?> SequenceIds { get; }

    /// <summary>1 for special and padding tokens, 0 for text tokens.</summary>
    public IReadOnlyList<int> SpecialTokensMask { get; }

    /// <summary>1 for real tokens, 0 for padding.</summary>
    public IReadOnlyList<int> AttentionMask { get; }

    /// <summary>The index of the input this window belongs to (transformers' <c>overflow_to_sample_mapping</c>).</summary>
    public int SampleIndex { get; }

    /// <summary>Number of tokens, padding included.</summary>
    public int Length => Ids.Count;

    /// <summary>
    /// The token strings (<c>[CLS]</c>, <c>hello</c>, <c>##s</c>, …); an added token that took white space (lstrip or
    /// rstrip) shows the text it matched, white space included, as the tokenizers crate's <c>EncodedText.tokens</c> does.
    /// </summary>
    public IReadOnlyList<string> Tokens => Ids.Select((id, i) => _values?[i] ?? _tokenOf(id)).ToList();
}
