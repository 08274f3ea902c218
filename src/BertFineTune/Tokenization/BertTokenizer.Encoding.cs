namespace BertFineTune.Tokenization;

public sealed partial class BertTokenizer
{
    /// <summary>The tokens of one text before special tokens are added: ids, offsets into the text, word indexes.</summary>
    private sealed record TokenSequence(List<int> Ids, List<(int Start, int End)> Offsets, List<int> Words)
    {
        public int Count => Ids.Count;
    }

    /// <summary>A window [Start, Stop) of a token sequence.</summary>
    private readonly record struct Window(int Start, int Stop);

    /// <summary>
    /// Splits a text into WordPiece tokens with offsets and word indexes (no special tokens added); with a
    /// <paramref name="stopAt"/>, stops after the word that brings the count to it (tokenizers 0.23's early exit).
    /// </summary>
    private TokenSequence Split(string text, int? stopAt = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sequence = new TokenSequence(new List<int>(text.Length / 3 + 4), new List<(int, int)>(text.Length / 3 + 4), new List<int>(text.Length / 3 + 4));
        using var buffer = new NormalizedBuffer(text.Length + 16);
        var words = new List<NormalizedWord>();
        int word = 0;
        int position = 0;
        // Next occurrence of each special token at or after `position`; refreshed only when passed, so the search is linear.
        var next = new int[_specialTokens.Length];
        for (int k = 0; k < next.Length; k++)
        {
            next[k] = text.IndexOf(_specialTokens[k].Text, StringComparison.Ordinal);
        }
        while (position < text.Length)
        {
            // Special tokens written in the text ("[MASK]") are matched in the original text, before normalisation.
            var (at, special) = FindSpecialToken(text, position, next);
            int segmentEnd = at < 0 ? text.Length : at;
            if (segmentEnd > position)
            {
                buffer.Clear();
                words.Clear();
                _normalizer.AppendWords(text, position, segmentEnd, buffer, words);
                foreach (var w in words)
                {
                    AppendWordPieces(buffer, w, word++, sequence);
                    if (sequence.Count >= stopAt)
                    {
                        return sequence;
                    }
                }
            }
            if (at < 0)
            {
                break;
            }
            sequence.Ids.Add(special.Id);
            sequence.Offsets.Add((at, at + special.Text.Length));
            sequence.Words.Add(word++);
            position = at + special.Text.Length;
            if (sequence.Count >= stopAt)
            {
                break;
            }
        }
        return sequence;
    }

    private (int At, (string Text, int Id) Token) FindSpecialToken(string text, int from, int[] next)
    {
        int best = -1;
        (string, int) found = default;
        for (int k = 0; k < _specialTokens.Length; k++)
        {
            if (next[k] >= 0 && next[k] < from)
            {
                next[k] = text.IndexOf(_specialTokens[k].Text, from, StringComparison.Ordinal);
            }
            // _specialTokens is longest first, so a strictly earlier match is needed to replace the current one.
            if (next[k] >= 0 && (best < 0 || next[k] < best))
            {
                best = next[k];
                found = _specialTokens[k];
            }
        }
        return (best, found);
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
            if (_ids.TryGetValue(chars.ToString(), out var whole) && !_specialIds.Contains(whole))
            {
                sequence.Ids.Add(whole);
                sequence.Offsets.Add((buffer.OriginalStart(word.Start), buffer.OriginalEnd(word.End - 1)));
                sequence.Words.Add(wordIndex);
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
                    sequence.Ids.Add(ids[k]);
                    sequence.Offsets.Add((buffer.OriginalStart(position), buffer.OriginalEnd(position + length - 1)));
                    sequence.Words.Add(wordIndex);
                    position += length;
                }
                return;
            }
        }
        sequence.Ids.Add(UnknownTokenId);
        sequence.Offsets.Add((buffer.OriginalStart(word.Start), buffer.OriginalEnd(word.End - 1)));
        sequence.Words.Add(wordIndex);
    }

    /// <summary>Tokenizes, truncates into windows and adds special tokens; no padding.</summary>
    private List<Encoding> EncodeSample(string text, string? pair, EncodingOptions options, int sampleIndex)
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

        // The order of transformers' Encoding.merge_with: the main window, then each overflow of the first text with
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

    /// <summary>The tokenizers crate's <c>Encoding::truncate</c> (right side): windows of <paramref name="maxLength"/> tokens overlapping by <paramref name="stride"/>.</summary>
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
    private Encoding Assemble(TokenSequence first, Window firstWindow, TokenSequence? second, Window? secondWindow,
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
    private List<Encoding> Pad(List<Encoding> encodings, EncodingOptions options)
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

    private Encoding PadTo(Encoding encoding, int length)
    {
        var builder = new EncodingBuilder(length);
        builder.AddExisting(encoding);
        while (builder.Count < length)
        {
            builder.AddPadding(PadTokenId);
        }
        return builder.Build(encoding.SampleIndex, _tokenOf);
    }

    /// <summary>Fills the parallel arrays of an <see cref="Encoding"/> of a length known up front.</summary>
    private sealed class EncodingBuilder(int length)
    {
        private readonly int[] _ids = new int[length];
        private readonly int[] _types = new int[length];
        private readonly (int, int)[] _offsets = new (int, int)[length];
        private readonly int?[] _words = new int?[length];
        private readonly int?[] _sequences = new int?[length];
        private readonly int[] _special = new int[length];
        private readonly int[] _attention = new int[length];

        public int Count { get; private set; }

        public void AddSpecial(int id, int typeId) => Add(id, typeId, (0, 0), null, null, 1, 1);

        public void AddPadding(int id) => Add(id, 0, (0, 0), null, null, 1, 0);

        public void AddSequence(TokenSequence sequence, Window window, int sequenceId)
        {
            for (int i = window.Start; i < window.Stop; i++)
            {
                Add(sequence.Ids[i], sequenceId, sequence.Offsets[i], sequence.Words[i], sequenceId, 0, 1);
            }
        }

        public void AddExisting(Encoding encoding)
        {
            for (int i = 0; i < encoding.Length; i++)
            {
                Add(encoding.Ids[i], encoding.TypeIds[i], encoding.Offsets[i], encoding.WordIds[i], encoding.SequenceIds[i],
                    encoding.SpecialTokensMask[i], encoding.AttentionMask[i]);
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

        public Encoding Build(int sampleIndex, Func<int, string> tokenOf) =>
            Count == _ids.Length
                ? new(_ids, _types, _offsets, _words, _sequences, _special, _attention, sampleIndex, tokenOf)
                : throw new InvalidOperationException($"Encoding filled {Count} of {_ids.Length} positions.");
    }
}
