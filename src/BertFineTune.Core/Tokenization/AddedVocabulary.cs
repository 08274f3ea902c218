using System.Buffers;
using System.Globalization;
using System.Text;

namespace BertFineTune.Tokenization;

/// <summary>
/// The tokens added on top of the WordPiece vocabulary, as the tokenizers crate's <c>AddedVocabulary</c>
/// (<c>tokenizers/src/tokenizer/added_vocabulary.rs</c>, 0.23): ids, which are special, their normalized forms, and the
/// two matchers that find them in a text (non-normalized tokens in the original text, normalized ones in the
/// normalized text). Immutable: <see cref="With"/> returns a new vocabulary.
/// </summary>
internal sealed class AddedVocabulary
{
    private readonly Dictionary<string, int> _idsByContent;
    private readonly Dictionary<int, AddedToken> _tokensById;
    private readonly HashSet<string> _specialContents;
    private readonly Dictionary<int, string> _normalizedById;

    private AddedVocabulary(Dictionary<string, int> idsByContent, Dictionary<int, AddedToken> tokensById,
        HashSet<string> specialContents, Dictionary<int, string> normalizedById)
    {
        _idsByContent = idsByContent;
        _tokensById = tokensById;
        _specialContents = specialContents;
        _normalizedById = normalizedById;
        var raw = new List<(string, int)>();
        var normalized = new List<(string, int)>();
        foreach (var (id, token) in tokensById.OrderBy(t => t.Key))
        {
            if (token.IsNormalized)
            {
                normalized.Add((normalizedById.TryGetValue(id, out var form) ? form : token.Content, id));
            }
            else
            {
                raw.Add((token.Content, id));
            }
        }
        RawMatcher = TokenMatcher.Create(raw, tokensById);
        NormalizedMatcher = TokenMatcher.Create(normalized, tokensById);
        SpecialIds = new HashSet<int>(specialContents.Select(c => idsByContent[c]));
        MaxId = tokensById.Count == 0 ? -1 : tokensById.Keys.Max();
    }

    /// <summary>A vocabulary with no added token.</summary>
    public static AddedVocabulary Empty { get; } = new([], [], [], []);

    /// <summary>Finds the non-normalized tokens in the original text; null when there are none.</summary>
    public TokenMatcher? RawMatcher { get; }

    /// <summary>Finds the normalized tokens in the normalized text; null when there are none.</summary>
    public TokenMatcher? NormalizedMatcher { get; }

    /// <summary>Ids of the special added tokens.</summary>
    public HashSet<int> SpecialIds { get; }

    /// <summary>The largest id of an added token, or -1.</summary>
    public int MaxId { get; }

    /// <summary>Every added token by id (transformers' <c>added_tokens_decoder</c>).</summary>
    public IReadOnlyDictionary<int, AddedToken> TokensById => _tokensById;

    /// <summary>The id of an added token's content.</summary>
    public bool TryGetId(string content, out int id) => _idsByContent.TryGetValue(content, out id);

    /// <summary>
    /// The token string of an added id (<c>AddedVocabulary::simple_id_to_token</c>): the normalized form of a normalized
    /// token when normalizing changed it, else the content.
    /// </summary>
    public bool TryGetToken(int id, out string token)
    {
        if (_normalizedById.TryGetValue(id, out token!))
        {
            return true;
        }
        if (_tokensById.TryGetValue(id, out var added))
        {
            token = added.Content;
            return true;
        }
        token = null!;
        return false;
    }

    /// <summary>Whether <paramref name="token"/> is the content of a special added token (<c>is_special_token</c>).</summary>
    public bool IsSpecialToken(string token) => _specialContents.Contains(token);

    /// <summary>
    /// <c>AddedVocabulary::add_tokens</c>: adds <paramref name="tokens"/> in order. An empty content is ignored, and so
    /// is a token already added with identical options. A token whose content is already an added token or a WordPiece
    /// token keeps that id (its options are replaced); any other gets the next id: one past the largest added id when
    /// that is at or past the WordPiece vocabulary, else the WordPiece vocabulary's size. A special token stays in the
    /// special set even when later re-added as non-special, as in the crate.
    /// </summary>
    /// <exception cref="ArgumentException">Two tokens would be matched by the same pattern (the crate's matcher refuses duplicates too).</exception>
    public AddedVocabulary With(IEnumerable<AddedToken> tokens, Func<string, int?> modelTokenToId, int modelVocabSize,
        BertTextNormalizer normalizer, out int added)
    {
        var idsByContent = new Dictionary<string, int>(_idsByContent, StringComparer.Ordinal);
        var tokensById = new Dictionary<int, AddedToken>(_tokensById);
        var specialContents = new HashSet<string>(_specialContents, StringComparer.Ordinal);
        var normalizedById = new Dictionary<int, string>(_normalizedById);
        int nextId = MaxId < 0 ? modelVocabSize : MaxId >= modelVocabSize || modelVocabSize == 0 ? MaxId + 1 : modelVocabSize;
        int total = 0, ignored = 0;
        foreach (var given in tokens)
        {
            ArgumentNullException.ThrowIfNull(given, nameof(tokens));
            ArgumentNullException.ThrowIfNull(given.Content, nameof(tokens));
            total++;
            var token = given with { Normalized = given.IsNormalized };
            if (token.Content.Length == 0
                || (idsByContent.TryGetValue(token.Content, out var existing) && tokensById[existing] == token))
            {
                ignored++;
                continue;
            }
            int id = idsByContent.TryGetValue(token.Content, out var known) ? known : modelTokenToId(token.Content) ?? nextId++;
            if (token.IsNormalized)
            {
                var form = normalizer.Normalize(token.Content);
                if (!string.Equals(form, token.Content, StringComparison.Ordinal))
                {
                    normalizedById[id] = form;
                }
            }
            idsByContent[token.Content] = id;
            if (token.Special)
            {
                specialContents.Add(token.Content);
            }
            tokensById[id] = token;
        }
        added = total - ignored;
        return added == 0 ? this : new AddedVocabulary(idsByContent, tokensById, specialContents, normalizedById);
    }
}

/// <summary>A match of an added token: [Start, Stop) in the searched text (stripped white space included) and its id.</summary>
internal readonly record struct AddedTokenMatch(int Start, int Stop, int Id, int PatternLength);

/// <summary>Where the next search of a <see cref="TokenMatcher"/> starts.</summary>
internal struct MatchState
{
    /// <summary>Where the next leftmost-longest search starts (the end of the previous match, accepted or not).</summary>
    public int Position;

    /// <summary>The end of the previous accepted match, white space it took included.</summary>
    public int Consumed;
}

/// <summary>
/// Finds added tokens in a text as the crate's <c>AddedVocabulary::find_matches</c>: non-overlapping, leftmost-longest
/// (the aho-corasick <c>MatchKind::LeftmostLongest</c>: of the matches that start first, the longest), the search
/// resuming after each match even when the match is then discarded by <c>single_word</c>; <c>lstrip</c> and
/// <c>rstrip</c> widen an accepted match over the white space (<c>\s</c>) beside it.
/// </summary>
internal sealed class TokenMatcher
{
    private readonly SearchValues<char> _firstChars;
    private readonly Dictionary<char, (string Pattern, int Id, AddedToken Token)[]> _byFirstChar;

    private TokenMatcher(Dictionary<char, (string, int, AddedToken)[]> byFirstChar)
    {
        _byFirstChar = byFirstChar;
        _firstChars = SearchValues.Create(byFirstChar.Keys.ToArray());
    }

    /// <summary>A matcher of <paramref name="patterns"/>, or null when there is none.</summary>
    /// <exception cref="ArgumentException">Two tokens have the same pattern.</exception>
    public static TokenMatcher? Create(List<(string Pattern, int Id)> patterns, Dictionary<int, AddedToken> tokensById)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var byFirst = new Dictionary<char, List<(string, int, AddedToken)>>();
        foreach (var (pattern, id) in patterns)
        {
            // An empty pattern (a token that normalizes to nothing) can match nowhere.
            if (pattern.Length == 0)
            {
                continue;
            }
            if (seen.TryGetValue(pattern, out var other))
            {
                throw new ArgumentException(
                    $"Added tokens '{tokensById[other].Content}' (id {other}) and '{tokensById[id].Content}' (id {id}) are both matched as '{pattern}'; "
                    + "remove one of them, or make one of them not normalized.");
            }
            seen[pattern] = id;
            if (!byFirst.TryGetValue(pattern[0], out var list))
            {
                byFirst[pattern[0]] = list = [];
            }
            list.Add((pattern, id, tokensById[id]));
        }
        return byFirst.Count == 0
            ? null
            // Longest first, so that the first candidate matching at a position is the longest one there.
            : new TokenMatcher(byFirst.ToDictionary(p => p.Key, p => p.Value.OrderByDescending(c => c.Item1.Length).ToArray()));
    }

    /// <summary>The next accepted match in <paramref name="text"/> from <paramref name="state"/>, or false when none is left.</summary>
    public bool TryNext(ReadOnlySpan<char> text, ref MatchState state, out AddedTokenMatch match)
    {
        while (state.Position < text.Length)
        {
            int offset = text[state.Position..].IndexOfAny(_firstChars);
            if (offset < 0)
            {
                break;
            }
            int start = state.Position + offset;
            var found = FindAt(text, start);
            if (found.Pattern is null)
            {
                state.Position = start + 1;
                continue;
            }
            int stop = start + found.Pattern.Length;
            state.Position = stop;
            var token = found.Token;
            if (token.SingleWord && !((start == 0 || !EndsWithWord(text[..start])) && (stop == text.Length || !StartsWithWord(text[stop..]))))
            {
                continue;
            }
            if (token.LStrip)
            {
                // \s*$ on text[..start], then never before what the previous match already took.
                int left = start;
                while (left > 0 && IsSpace(text[left - 1]))
                {
                    left--;
                }
                start = Math.Max(left, state.Consumed);
            }
            if (token.RStrip)
            {
                while (stop < text.Length && IsSpace(text[stop]))
                {
                    stop++;
                }
            }
            if (start < state.Consumed)
            {
                // Only a token that begins with white space can start inside what an rstrip match took; the crate would
                // produce overlapping splits there, which cannot be encoded, so such a match is skipped.
                continue;
            }
            state.Consumed = stop;
            match = new AddedTokenMatch(start, stop, found.Id, found.Pattern.Length);
            return true;
        }
        match = default;
        return false;
    }

    private (string Pattern, int Id, AddedToken Token) FindAt(ReadOnlySpan<char> text, int start)
    {
        foreach (var candidate in _byFirstChar[text[start]])
        {
            if (text[start..].StartsWith(candidate.Pattern, StringComparison.Ordinal))
            {
                return candidate;
            }
        }
        return default;
    }

    /// <summary>Rust regex's Unicode <c>\s</c> (White_Space), which .NET's <c>char.IsWhiteSpace</c> equals; all of it is in the BMP.</summary>
    private static bool IsSpace(char c) => char.IsWhiteSpace(c);

    /// <summary>The regex <c>\w$</c>: the last code point of <paramref name="text"/> is a word character.</summary>
    private static bool EndsWithWord(ReadOnlySpan<char> text) =>
        Rune.DecodeLastFromUtf16(text, out var rune, out _) == OperationStatus.Done && IsWordCharacter(rune);

    /// <summary>The regex <c>^\w</c>: the first code point of <paramref name="text"/> is a word character.</summary>
    private static bool StartsWithWord(ReadOnlySpan<char> text) =>
        Rune.DecodeFromUtf16(text, out var rune, out _) == OperationStatus.Done && IsWordCharacter(rune);

    /// <summary>
    /// Rust regex's Unicode <c>\w</c>: Alphabetic (letters, letter numbers, Other_Alphabetic), marks, decimal digits,
    /// connector punctuation and the joiners U+200C/U+200D.
    /// </summary>
    internal static bool IsWordCharacter(Rune rune)
    {
        switch (Rune.GetUnicodeCategory(rune))
        {
            case UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber
                or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation:
                return true;
            default:
                int v = rune.Value;
                // Join_Control, and the symbols that are Other_Alphabetic (circled and squared Latin letters).
                return v is 0x200C or 0x200D or >= 0x24B6 and <= 0x24E9 or >= 0x1F130 and <= 0x1F149
                    or >= 0x1F150 and <= 0x1F169 or >= 0x1F170 and <= 0x1F189;
        }
    }
}
