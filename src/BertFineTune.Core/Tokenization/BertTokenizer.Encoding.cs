namespace BertFineTune.Tokenization;

public sealed partial class BertTokenizer
{
    /// <summary>
    /// The tokens of one text before special tokens are added: ids, offsets into the text, word indexes, and, where an
    /// added token took white space (lstrip/rstrip), the matched text as its token string (null elsewhere).
    /// </summary>
    private sealed record TokenSequence(List<int> Ids, List<(int Start, int End)> Offsets, List<int> Words)
    {
        public int Count => Ids.Count;

        /// <summary>Token strings that differ from <see cref="IdToToken"/>; null when there are none.</summary>
        public List<string?>? Values { get; private set; }

        public void Add(int id, (int Start, int End) offset, int word, string? value = null)
        {
            if (value is not null && Values is null)
            {
                Values = new List<string?>(Ids.Capacity);
                Values.AddRange(Enumerable.Repeat<string?>(null, Ids.Count));
            }
            Ids.Add(id);
            Offsets.Add(offset);
            Words.Add(word);
            Values?.Add(value);
        }
    }

    /// <summary>A window [Start, Stop) of a token sequence.</summary>
    private readonly record struct Window(int Start, int Stop);

    /// <summary>
    /// Splits a text into tokens with offsets and word indexes (no special tokens added), as the tokenizers crate's
    /// <c>encode_single_sequence</c>: added tokens that are not normalized are found in the original text first
    /// (<c>AddedVocabulary::extract_and_normalize</c>); each stretch between them is normalized, normalized added
    /// tokens are found in it, and the rest is split into words (<c>BertPreTokenizer</c>) and WordPiece pieces. Every
    /// added token is a word of its own. With a <paramref name="stopAt"/>, stops after the word that brings the count to
    /// it or past it (tokenizers 0.23's early exit, <c>PreTokenizedString::tokenize_with_limit</c>: an added token counts
    /// but does not stop it).
    /// </summary>
    private TokenSequence Split(string text, int? stopAt = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sequence = new TokenSequence(new List<int>(text.Length / 3 + 4), new List<(int, int)>(text.Length / 3 + 4), new List<int>(text.Length / 3 + 4));
        using var buffer = new NormalizedBuffer(text.Length + 16);
        var words = new List<NormalizedWord>();
        int word = 0;
        int position = 0;
        var raw = _added.RawMatcher;
        var state = new MatchState();
        while (position < text.Length)
        {
            AddedTokenMatch match = default;
            bool found = raw is not null && raw.TryNext(text, ref state, out match);
            int segmentEnd = found ? match.Start : text.Length;
            if (segmentEnd > position && AppendSegment(text, position, segmentEnd, buffer, words, ref word, sequence, stopAt))
            {
                return sequence;
            }
            if (!found)
            {
                break;
            }
            // A non-normalized added token: its text is the original text, the white space it took included.
            sequence.Add(match.Id, (match.Start, match.Stop), word++,
                match.Stop - match.Start == match.PatternLength ? null : text[match.Start..match.Stop]);
            // No early exit here: tokenize_with_limit counts an added token's split but only stops after tokenizing a
            // word (pre_tokenizer.rs), so added tokens right after the limit are kept up to the next word.
            position = match.Stop;
        }
        return sequence;
    }

    /// <summary>Normalizes and tokenizes text[start..end), which holds no non-normalized added token; true once <paramref name="stopAt"/> tokens exist.</summary>
    private bool AppendSegment(string text, int start, int end, NormalizedBuffer buffer, List<NormalizedWord> words, ref int word,
        TokenSequence sequence, int? stopAt)
    {
        buffer.Clear();
        words.Clear();
        var normalized = _added.NormalizedMatcher;
        if (normalized is null)
        {
            // No normalized added token: normalization and pre-tokenization in one pass.
            _normalizer.AppendWords(text, start, end, buffer, words);
            return AppendWords(buffer, words, ref word, sequence, stopAt);
        }
        _normalizer.AppendNormalized(text, start, end, buffer);
        var chars = buffer.Slice(0, buffer.Length);
        var state = new MatchState();
        int position = 0;
        while (position < buffer.Length)
        {
            bool found = normalized.TryNext(chars, ref state, out var match);
            int pieceEnd = found ? match.Start : buffer.Length;
            if (pieceEnd > position)
            {
                words.Clear();
                BertTextNormalizer.AppendPreTokenizedWords(buffer, position, pieceEnd, words);
                if (AppendWords(buffer, words, ref word, sequence, stopAt))
                {
                    return true;
                }
            }
            if (!found)
            {
                break;
            }
            // A normalized added token: its string is the normalized text it matched, its offsets those of its characters.
            sequence.Add(match.Id, (buffer.OriginalStart(match.Start), buffer.OriginalEnd(match.Stop - 1)), word++,
                match.Stop - match.Start == match.PatternLength ? null : chars[match.Start..match.Stop].ToString());
            position = match.Stop;
        }
        return false;
    }

    private bool AppendWords(NormalizedBuffer buffer, List<NormalizedWord> words, ref int word, TokenSequence sequence, int? stopAt)
    {
        foreach (var w in words)
        {
            AppendWordPieces(buffer, w, word++, sequence);
            if (sequence.Count >= stopAt)
            {
                return true;
            }
        }
        return false;
    }

    private void AppendWordPieces(NormalizedBuffer buffer, NormalizedWord word, int wordIndex, TokenSequence sequence)
    {
        var chars = buffer.Slice(word.Start, word.End);
        int codePoints = chars.Length;
        foreach (var c in chars)
        {
            if (char.IsLowSurrogate(c))
            {
                codePoints--;
            }
        }
        if (codePoints <= Options.MaxInputCharsPerWord)
        {
            // Greedy longest-match-first gives a word found whole in the vocabulary as that one token: most words are,
            // and a dictionary lookup is cheaper than a WordPiece pass.
            if (_ids.TryGetValue(chars.ToString(), out var whole) && !_added.SpecialIds.Contains(whole))
            {
                sequence.Add(whole, (buffer.OriginalStart(word.Start), buffer.OriginalEnd(word.End - 1)), wordIndex);
                return;
            }
            var ids = _wordPiece.EncodeToIds(chars, considerPreTokenization: false, considerNormalization: false);
            if (ids.Count > 0 && !(ids.Count == 1 && ids[0] == UnknownTokenId))
            {
                int position = word.Start;
                for (int k = 0; k < ids.Count; k++)
                {
                    int length = k == 0 ? _pieceLength[ids[k]] : _continuationLength[ids[k]];
                    if (length <= 0 || position + length > word.End)
                    {
                        throw new InvalidOperationException(
                            $"WordPiece returned '{_tokens[ids[k]]}', which does not fit the word '{chars.ToString()}'.");
                    }
                    sequence.Add(ids[k], (buffer.OriginalStart(position), buffer.OriginalEnd(position + length - 1)), wordIndex);
                    position += length;
                }
                return;
            }
        }
        sequence.Add(UnknownTokenId, (buffer.OriginalStart(word.Start), buffer.OriginalEnd(word.End - 1)), wordIndex);
    }

    /// <summary>Tokenizes, truncates into windows and adds special tokens; no padding.</summary>
    private List<EncodedText> EncodeSample(string text, string? pair, EncodingOptions options, int sampleIndex)
    {
        ArgumentNullException.ThrowIfNull(text);
        int? stopAt = options.TokenizersEarlyExit && options.Truncation != TruncationStrategy.None
            ? options.MaxLength ?? Options.ModelMaxLength
            : null;
        // tokenizer/mod.rs do_tokenize: the early exit limits every text except the first one under only_second.
        var first = Split(text, options.Truncation == TruncationStrategy.OnlySecond ? null : stopAt);
        var second = pair is null ? null : Split(pair, stopAt);
        var (firstWindows, secondWindows) = Truncate(first, second, options);
        if (firstWindows.Count == 1 && (secondWindows is null || secondWindows.Count == 1))
        {
            return [Assemble(first, firstWindows[0], second, secondWindows?[0], options.AddSpecialTokens, sampleIndex)];
        }

        // The order of transformers' EncodedText.merge_with: the main window, then each overflow of the first text with
        // every window of the second, then the first text's main window with the second's overflows.
        var combinations = new List<(Window First, Window? Second)>();
        var secondMain = secondWindows?[0];
        combinations.Add((firstWindows[0], secondMain));
        foreach (var f in firstWindows.Skip(1))
        {
            combinations.Add((f, secondMain));
            foreach (var s in secondWindows?.Skip(1) ?? [])
            {
                combinations.Add((f, s));
            }
        }
        foreach (var s in secondWindows?.Skip(1) ?? [])
        {
            combinations.Add((firstWindows[0], s));
        }
        if (!options.ReturnOverflowingTokens)
        {
            combinations.RemoveRange(1, combinations.Count - 1);
        }
        return combinations.Select(c => Assemble(first, c.First, second, c.Second, options.AddSpecialTokens, sampleIndex)).ToList();
    }

    /// <summary>transformers' (tokenizers crate) truncation, returning each sequence's windows, main window first.</summary>
    private (List<Window> First, List<Window>? Second) Truncate(TokenSequence first, TokenSequence? second, EncodingOptions options)
    {
        var whole = (new List<Window> { new(0, first.Count) }, second is null ? null : new List<Window> { new(0, second.Count) });
        if (options.Truncation == TruncationStrategy.None)
        {
            return whole;
        }
        int maxLength = options.MaxLength ?? Options.ModelMaxLength
            ?? throw new ArgumentException(
                "Truncation was requested without MaxLength, and the tokenizer has no ModelMaxLength; set EncodingOptions.MaxLength.",
                nameof(options));
        int added = options.AddSpecialTokens ? (second is null ? 2 : 3) : 0;
        if (maxLength < added)
        {
            throw new ArgumentException(
                $"MaxLength {maxLength} leaves no room for the {added} special tokens of this input; use at least {added}.", nameof(options));
        }
        if (options.Stride < 0)
        {
            throw new ArgumentException($"Stride must not be negative, got {options.Stride}.", nameof(options));
        }
        int singleAdded = options.AddSpecialTokens ? 2 : 0;
        if (maxLength - singleAdded < options.Stride)
        {
            throw new ArgumentException(
                $"Stride {options.Stride} is greater than the effective max length {maxLength - singleAdded} "
                + $"(= MaxLength {maxLength} - {singleAdded} special tokens); choose a smaller stride.", nameof(options));
        }
        int budget = maxLength - added;
        if (budget == 0)
        {
            // utils/truncation.rs truncate_encodings: a max_length of 0 (after the special tokens) empties every sequence,
            // its tokens going to the overflow, before and whatever the strategy (only_first/only_second do not raise).
            return (Windows(first.Count, 0, options.Stride), second is null ? null : Windows(second.Count, 0, options.Stride));
        }
        int total = first.Count + (second?.Count ?? 0);
        if (total <= budget)
        {
            return whole;
        }
        int toRemove = total - budget;
        switch (options.Truncation)
        {
            case TruncationStrategy.LongestFirst when second is not null:
            {
                int n1 = first.Count, n2 = second.Count;
                bool swap = n1 > n2;
                if (swap)
                {
                    (n1, n2) = (n2, n1);
                }
                n2 = n1 > budget ? n1 : Math.Max(n1, budget - n1);
                if (n1 + n2 > budget)
                {
                    n1 = budget / 2;
                    n2 = n1 + budget % 2;
                }
                if (swap)
                {
                    (n1, n2) = (n2, n1);
                }
                return (Windows(first.Count, n1, options.Stride), Windows(second.Count, n2, options.Stride));
            }
            case TruncationStrategy.LongestFirst:
                return (Windows(first.Count, first.Count - toRemove, options.Stride), null);
            case TruncationStrategy.OnlyFirst:
                if (first.Count <= toRemove)
                {
                    throw TooShort("first", first.Count, toRemove, maxLength);
                }
                return (Windows(first.Count, first.Count - toRemove, options.Stride), whole.Item2);
            case TruncationStrategy.OnlySecond:
                if (second is null)
                {
                    throw new ArgumentException(
                        "Truncation OnlySecond needs a text pair, but only one text was given; pass a pair, or use LongestFirst or OnlyFirst for a single text.",
                        nameof(options));
                }
                if (second.Count <= toRemove)
                {
                    throw TooShort("second", second.Count, toRemove, maxLength);
                }
                return (whole.Item1, Windows(second.Count, second.Count - toRemove, options.Stride));
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Truncation, "Unknown truncation strategy.");
        }
    }

    private static ArgumentException TooShort(string which, int length, int toRemove, int maxLength) =>
        new($"Cannot truncate to MaxLength {maxLength}: {toRemove} tokens must go, but the {which} sequence has only {length}. "
            + "Use LongestFirst, truncate the other sequence, or raise MaxLength.");

    /// <summary>The tokenizers crate's <c>EncodedText::truncate</c> (right side): windows of <paramref name="maxLength"/> tokens overlapping by <paramref name="stride"/>.</summary>
    private static List<Window> Windows(int length, int maxLength, int stride)
    {
        if (maxLength >= length)
        {
            return [new Window(0, length)];
        }
        if (maxLength == 0)
        {
            return [new Window(0, 0), new Window(0, length)];
        }
        if (stride >= maxLength)
        {
            throw new ArgumentException(
                $"Stride {stride} must be smaller than the {maxLength} tokens left for this sequence after truncation "
                + "(MaxLength minus the special tokens and the other sequence); choose a smaller stride or a larger MaxLength.");
        }
        var windows = new List<Window>();
        int step = maxLength - stride;
        for (int start = 0; ; start += step)
        {
            int stop = Math.Min(start + maxLength, length);
            windows.Add(new Window(start, stop));
            if (stop == length)
            {
                return windows;
            }
        }
    }

    /// <summary>[CLS] first [SEP] (second [SEP]) with type, sequence and word ids, as BERT's template post-processor.</summary>
    private EncodedText Assemble(TokenSequence first, Window firstWindow, TokenSequence? second, Window? secondWindow,
        bool addSpecialTokens, int sampleIndex)
    {
        int count = firstWindow.Stop - firstWindow.Start + (secondWindow is { } sw ? sw.Stop - sw.Start : 0)
            + (addSpecialTokens ? (second is null ? 2 : 3) : 0);
        var builder = new EncodingBuilder(count);
        if (addSpecialTokens)
        {
            builder.AddSpecial(ClsTokenId, 0);
        }
        builder.AddSequence(first, firstWindow, 0);
        if (addSpecialTokens)
        {
            builder.AddSpecial(SepTokenId, 0);
        }
        if (second is not null && secondWindow is { } window)
        {
            builder.AddSequence(second, window, 1);
            if (addSpecialTokens)
            {
                builder.AddSpecial(SepTokenId, 1);
            }
        }
        return builder.Build(sampleIndex, _tokenOf);
    }

    /// <summary>Pads every encoding to a common length per the options (right side, with [PAD], type id 0, mask 0).</summary>
    private List<EncodedText> Pad(List<EncodedText> encodings, EncodingOptions options)
    {
        if (options.Padding == PaddingStrategy.None || encodings.Count == 0)
        {
            return encodings;
        }
        int target = options.Padding == PaddingStrategy.Longest
            ? encodings.Max(e => e.Length)
            : options.MaxLength ?? Options.ModelMaxLength
                ?? throw new ArgumentException(
                    "Padding to MaxLength was requested without MaxLength, and the tokenizer has no ModelMaxLength; set EncodingOptions.MaxLength.",
                    nameof(options));
        if (options.PadToMultipleOf is { } multiple)
        {
            if (multiple <= 0)
            {
                throw new ArgumentException($"PadToMultipleOf must be positive, got {multiple}.", nameof(options));
            }
            target = (target + multiple - 1) / multiple * multiple;
        }
        return encodings.Select(e => e.Length >= target ? e : PadTo(e, target)).ToList();
    }

    private EncodedText PadTo(EncodedText encoding, int length)
    {
        var builder = new EncodingBuilder(length);
        builder.AddExisting(encoding);
        while (builder.Count < length)
        {
            builder.AddPadding(PadTokenId);
        }
        return builder.Build(encoding.SampleIndex, _tokenOf);
    }

    /// <summary>Fills the parallel arrays of an <see cref="EncodedText"/> of a length known up front.</summary>
    private sealed class EncodingBuilder(int length)
    {
        private readonly int[] _ids = new int[length];
        private readonly int[] _types = new int[length];
        private readonly (int, int)[] _offsets = new (int, int)[length];
        private readonly int?[] _words = new int?[length];
        private readonly int?[] _sequences = new int?[length];
        private readonly int[] _special = new int[length];
        private readonly int[] _attention = new int[length];
        private string?[]? _values;

        public int Count { get; private set; }

        public void AddSpecial(int id, int typeId) => Add(id, typeId, (0, 0), null, null, 1, 1);

        public void AddPadding(int id) => Add(id, 0, (0, 0), null, null, 1, 0);

        public void AddSequence(TokenSequence sequence, Window window, int sequenceId)
        {
            for (int i = window.Start; i < window.Stop; i++)
            {
                SetValue(sequence.Values?[i]);
                Add(sequence.Ids[i], sequenceId, sequence.Offsets[i], sequence.Words[i], sequenceId, 0, 1);
            }
        }

        public void AddExisting(EncodedText encoding)
        {
            for (int i = 0; i < encoding.Length; i++)
            {
                SetValue(encoding.Value(i));
                Add(encoding.Ids[i], encoding.TypeIds[i], encoding.Offsets[i], encoding.WordIds[i], encoding.SequenceIds[i],
                    encoding.SpecialTokensMask[i], encoding.AttentionMask[i]);
            }
        }

        /// <summary>Sets the token string of the next position, when it differs from the id's.</summary>
        private void SetValue(string? value)
        {
            if (value is not null)
            {
                (_values ??= new string?[_ids.Length])[Count] = value;
            }
        }

        private void Add(int id, int type, (int, int) offset, int? word, int? sequence, int special, int attention)
        {
            int at = Count++;
            _ids[at] = id;
            _types[at] = type;
            _offsets[at] = offset;
            _words[at] = word;
            _sequences[at] = sequence;
            _special[at] = special;
            _attention[at] = attention;
        }

        public EncodedText Build(int sampleIndex, Func<int, string> tokenOf) =>
            Count == _ids.Length
                ? new(_ids, _types, _offsets, _words, _sequences, _special, _attention, sampleIndex, tokenOf, _values)
                : throw new InvalidOperationException($"EncodedText filled {Count} of {_ids.Length} positions.");
    }
}
