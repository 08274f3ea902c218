using System.Buffers;
using System.Runtime.CompilerServices;

namespace BertFineTune.Tokenization;

/// <summary>
/// transformers' BERT normalisation and pre-tokenisation (the <c>tokenizers</c> crate's <c>BertNormalizer</c> and
/// <c>BertPreTokenizer</c>), keeping for every normalised character the span of the original text it came from, so token
/// offsets point into the original string.
/// </summary>
/// <remarks>
/// The crate's steps, in its order (tokenizers/src/normalizers/bert.rs <c>BertNormalizer::normalize</c>, then
/// pre_tokenizers/bert.rs): clean_text removes NUL, U+FFFD and <c>is_control</c> characters (Cc, Cf, Co of Unicode 8.0
/// except tab, newline, CR; unassigned code points are kept) and maps white space to a space; handle_chinese_chars puts
/// spaces around CJK ideographs; strip_accents takes the NFD (Unicode 9.0, canonical ordering included) and drops Mn
/// (Unicode 8.0); lowercase applies Rust's <c>char::to_lowercase</c>; the pre-tokeniser splits at white space and isolates
/// punctuation, judged on the normalised characters. Every per-character decision reads <see cref="BertUnicode"/>, the
/// crate's data, not .NET's. A lone surrogate (which cannot reach the crate from Python) is removed, as U+FFFD is.
/// Immutable and thread-safe.
/// </remarks>
internal sealed partial class BertTextNormalizer
{
    private readonly bool _lowercase;
    private readonly bool _stripAccents;
    private readonly bool _splitChinese;

    public BertTextNormalizer(bool lowercase, bool stripAccents, bool splitChinese)
    {
        _lowercase = lowercase;
        _stripAccents = stripAccents;
        _splitChinese = splitChinese;
    }

    /// <summary>
    /// Normalises <paramref name="text"/>[<paramref name="start"/>..<paramref name="end"/>) and appends the words it splits
    /// into to <paramref name="words"/>; the characters go to <paramref name="buffer"/>.
    /// </summary>
    public void AppendWords(string text, int start, int end, NormalizedBuffer buffer, List<NormalizedWord> words) =>
        Run(text, start, end, buffer, words);

    /// <summary>
    /// The crate's <c>BertNormalizer</c> alone on <paramref name="text"/>[<paramref name="start"/>..<paramref name="end"/>):
    /// the same characters as <see cref="AppendWords"/>, with white space kept as a space and a space on each side of a
    /// CJK ideograph (both mapped to the ideograph's span, as <c>NormalizedString::transform</c> aligns inserted
    /// characters), so that normalized added tokens can be matched before <see cref="AppendPreTokenizedWords"/> splits.
    /// </summary>
    public void AppendNormalized(string text, int start, int end, NormalizedBuffer buffer) =>
        Run(text, start, end, buffer, words: null);

    /// <summary>
    /// The crate's <c>BertPreTokenizer</c> on normalised characters <paramref name="buffer"/>[<paramref name="start"/>..<paramref name="end"/>):
    /// white space separates words and is dropped; each punctuation character is a word of its own.
    /// </summary>
    public static void AppendPreTokenizedWords(NormalizedBuffer buffer, int start, int end, List<NormalizedWord> words)
    {
        var chars = buffer.Slice(0, end);
        int wordStart = -1;
        int i = start;
        while (i < end)
        {
            int at = i;
            int codePoint = chars[i];
            if (char.IsHighSurrogate(chars[i]) && i + 1 < end && char.IsLowSurrogate(chars[i + 1]))
            {
                codePoint = char.ConvertToUtf32(chars[i], chars[i + 1]);
                i += 2;
            }
            else
            {
                i++;
            }
            var flags = codePoint < 0x80 ? AsciiFlags(codePoint) : BertUnicode.Flags(codePoint);
            if ((flags & (BertCharFlags.WhiteSpace | BertCharFlags.Punctuation)) != 0)
            {
                if (wordStart >= 0)
                {
                    words.Add(new NormalizedWord(wordStart, at));
                    wordStart = -1;
                }
                if ((flags & BertCharFlags.Punctuation) != 0)
                {
                    words.Add(new NormalizedWord(at, i));
                }
            }
            else if (wordStart < 0)
            {
                wordStart = at;
            }
        }
        if (wordStart >= 0)
        {
            words.Add(new NormalizedWord(wordStart, end));
        }
    }

    /// <summary>The normalized form of <paramref name="content"/>, as <c>AddedVocabulary::add_tokens</c> computes it for a normalized added token.</summary>
    public string Normalize(string content)
    {
        using var buffer = new NormalizedBuffer(content.Length + 16);
        AppendNormalized(content, 0, content.Length, buffer);
        return buffer.Slice(0, buffer.Length).ToString();
    }

    /// <summary>
    /// One pass of the normaliser over the text: with <paramref name="words"/>, fused with the pre-tokeniser (white space
    /// ends words and is dropped); without, the normalised text alone (white space kept as spaces).
    /// </summary>
    private void Run(string text, int start, int end, NormalizedBuffer buffer, List<NormalizedWord>? words)
    {
        var pass = new Pass(this, buffer, words);
        int i = start;
        while (i < end)
        {
            int originalStart = i;
            int codePoint;
            char c = text[i];
            if (c < 0x80)
            {
                i++;
                // ASCII fast path: no decomposition, simple lower-casing. A kept ASCII character is a starter and ends
                // any combining run; a removed control is gone before NFD and does not.
                if (c is '\t' or '\n' or '\r' or ' ')
                {
                    if (pass.HasRun)
                    {
                        pass.FlushRun();
                    }
                    pass.Space(originalStart, i);
                }
                else if (c >= 0x20 && c != 0x7F)
                {
                    if (pass.HasRun)
                    {
                        pass.FlushRun();
                    }
                    char ascii = _lowercase && c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;
                    pass.AppendFinal(ascii, IsAsciiPunctuation(ascii), originalStart, i);
                }
                continue;
            }
            if (char.IsHighSurrogate(c) && i + 1 < end && char.IsLowSurrogate(text[i + 1]))
            {
                codePoint = char.ConvertToUtf32(c, text[i + 1]);
                i += 2;
            }
            else
            {
                // A lone surrogate is treated as transformers treats U+FFFD: removed.
                codePoint = char.IsSurrogate(c) ? 0xFFFD : c;
                i++;
            }

            var flags = BertUnicode.Flags(codePoint);
            if ((flags & BertCharFlags.Removed) != 0)
            {
                // Removed before NFD: it does not even end a combining run.
                continue;
            }
            if ((flags & BertCharFlags.WhiteSpace) != 0)
            {
                pass.FlushRun();
                pass.Space(originalStart, i);
                continue;
            }
            // handle_chinese_chars puts a space on each side of the ideograph, so it is a word of its own.
            bool ownWord = _splitChinese && (flags & BertCharFlags.Chinese) != 0;
            if (ownWord)
            {
                pass.FlushRun();
                pass.Space(originalStart, i);
            }
            if (_stripAccents)
            {
                pass.Decompose(codePoint, flags, originalStart, i);
            }
            else
            {
                pass.Transform(codePoint, flags, originalStart, i);
            }
            if (ownWord)
            {
                pass.Space(originalStart, i);
            }
        }
        pass.FlushRun();
        pass.EndWord();
    }

    private static bool IsAsciiPunctuation(int c) =>
        c is >= '!' and <= '/' or >= ':' and <= '@' or >= '[' and <= '`' or >= '{' and <= '~';

    /// <summary>Flags of an ASCII character after normalisation: a space, punctuation, or neither.</summary>
    private static BertCharFlags AsciiFlags(int c) =>
        c == ' ' ? BertCharFlags.WhiteSpace : IsAsciiPunctuation(c) ? BertCharFlags.Punctuation : BertCharFlags.None;

    /// <summary>One call's state: the open word, and (when stripping accents) NFD's pending run of non-starters.</summary>
    private ref struct Pass(BertTextNormalizer owner, NormalizedBuffer buffer, List<NormalizedWord>? words)
    {
        private int _wordStart = -1;

        // NFD's canonical ordering sorts each run of non-starters by combining class. The crate then aligns its output
        // by position, not by character (NormalizedString::transform_range): each run entry that is the first character
        // of its source's decomposition takes the span of the next source character in text order, the others take the
        // span of the last one taken. _spans holds the spans of the run's sources, in text order.
        private List<(int CodePoint, int Class, bool First)>? _run;
        private List<(int Start, int End)>? _spans;
        private (int Start, int End) _lastSpan;

        public bool HasRun { readonly get; private set; }

        /// <summary>The NFD of one code point (after clean_text), its starters emitted, its non-starters queued.</summary>
        public void Decompose(int codePoint, BertCharFlags flags, int originalStart, int originalEnd)
        {
            Span<int> decomposed = stackalloc int[4];
            int length = 1;
            decomposed[0] = codePoint;
            if ((flags & BertCharFlags.Decomposes) != 0)
            {
                length = BertUnicode.Decompose(codePoint, decomposed);
            }
            for (int k = 0; k < length; k++)
            {
                int d = decomposed[k];
                var dFlags = d == codePoint ? flags : BertUnicode.Flags(d);
                if ((dFlags & BertCharFlags.NonStarter) == 0)
                {
                    FlushRun();
                    if (k == 0)
                    {
                        _lastSpan = (originalStart, originalEnd);
                    }
                    Filter(d, dFlags, _lastSpan.Start, _lastSpan.End);
                    continue;
                }
                _run ??= [];
                _spans ??= [];
                if (_run.Count == 0)
                {
                    _spans.Clear();
                }
                _run.Add((d, BertUnicode.CombiningClass(d), k == 0));
                HasRun = true;
                if (k == 0)
                {
                    _spans.Add((originalStart, originalEnd));
                }
            }
        }

        /// <summary>Sorts the pending run by combining class (stable) and emits it with the crate's positional spans.</summary>
        public void FlushRun()
        {
            if (!HasRun)
            {
                return;
            }
            HasRun = false;
            var run = _run!;
            // Insertion sort: stable, and runs are short.
            for (int a = 1; a < run.Count; a++)
            {
                var entry = run[a];
                int b = a - 1;
                while (b >= 0 && run[b].Class > entry.Class)
                {
                    run[b + 1] = run[b];
                    b--;
                }
                run[b + 1] = entry;
            }
            int next = 0;
            foreach (var (codePoint, _, first) in run)
            {
                if (first)
                {
                    _lastSpan = _spans![next++];
                }
                Filter(codePoint, BertUnicode.Flags(codePoint), _lastSpan.Start, _lastSpan.End);
            }
            run.Clear();
        }

        /// <summary>strip_accents' filter of one NFD character: non-spacing marks (Unicode 8.0) are dropped.</summary>
        private void Filter(int codePoint, BertCharFlags flags, int originalStart, int originalEnd)
        {
            if ((flags & BertCharFlags.NonspacingMark) == 0)
            {
                Transform(codePoint, flags, originalStart, originalEnd);
            }
        }

        /// <summary>Lower-cases one character (when asked) and hands the result to the pre-tokeniser.</summary>
        public void Transform(int codePoint, BertCharFlags flags, int originalStart, int originalEnd)
        {
            if (owner._lowercase && (flags & BertCharFlags.Lowercases) != 0)
            {
                foreach (int lower in BertUnicode.Lowercase(codePoint))
                {
                    PreTokenize(lower, lower < 0x80 ? AsciiFlags(lower) : BertUnicode.Flags(lower), originalStart, originalEnd);
                }
                return;
            }
            PreTokenize(codePoint, flags, originalStart, originalEnd);
        }

        /// <summary>BertPreTokenizer on one normalised character: white space ends the word, punctuation is a word of its own.</summary>
        private void PreTokenize(int codePoint, BertCharFlags flags, int originalStart, int originalEnd)
        {
            if ((flags & BertCharFlags.WhiteSpace) != 0)
            {
                Space(originalStart, originalEnd);
                return;
            }
            bool punctuation = (flags & BertCharFlags.Punctuation) != 0;
            if (codePoint < 0x10000)
            {
                AppendFinal((char)codePoint, punctuation, originalStart, originalEnd);
                return;
            }
            if (punctuation)
            {
                EndWord();
            }
            else if (_wordStart < 0)
            {
                _wordStart = buffer.Length;
            }
            int at = buffer.Length;
            int offset = codePoint - 0x10000;
            buffer.Append((char)(0xD800 + (offset >> 10)), originalStart, originalEnd);
            buffer.Append((char)(0xDC00 + (offset & 0x3FF)), originalStart, originalEnd);
            if (punctuation)
            {
                words?.Add(new NormalizedWord(at, buffer.Length));
            }
        }

        /// <summary>Appends one normalised BMP character: to the open word, or as a word of its own when it is punctuation.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void AppendFinal(char c, bool punctuation, int originalStart, int originalEnd)
        {
            if (punctuation)
            {
                EndWord();
                int at = buffer.Length;
                buffer.Append(c, originalStart, originalEnd);
                words?.Add(new NormalizedWord(at, buffer.Length));
                return;
            }
            if (_wordStart < 0)
            {
                _wordStart = buffer.Length;
            }
            buffer.Append(c, originalStart, originalEnd);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void EndWord()
        {
            if (_wordStart >= 0 && buffer.Length > _wordStart)
            {
                words?.Add(new NormalizedWord(_wordStart, buffer.Length));
            }
            _wordStart = -1;
        }

        /// <summary>
        /// A space of the normalised text (clean_text's white space, or one handle_chinese_chars inserts): the end of a
        /// word when pre-tokenising, a space character when only normalising.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Space(int originalStart, int originalEnd)
        {
            EndWord();
            if (words is null)
            {
                buffer.Append(' ', originalStart, originalEnd);
            }
        }
    }
}

/// <summary>A word's span [Start, End) in a <see cref="NormalizedBuffer"/>.</summary>
internal readonly record struct NormalizedWord(int Start, int End);

/// <summary>Normalised characters with, for each, the [start, end) span of the original text it came from.</summary>
internal sealed class NormalizedBuffer : IDisposable
{
    private char[] _chars;
    private int[] _starts;
    private int[] _ends;

    public NormalizedBuffer(int capacity)
    {
        capacity = Math.Max(capacity, 16);
        _chars = ArrayPool<char>.Shared.Rent(capacity);
        _starts = ArrayPool<int>.Shared.Rent(capacity);
        _ends = ArrayPool<int>.Shared.Rent(capacity);
    }

    public int Length { get; private set; }

    public ReadOnlySpan<char> Slice(int start, int end) => _chars.AsSpan(start, end - start);

    /// <summary>Start in the original text of the normalised character at <paramref name="index"/>.</summary>
    public int OriginalStart(int index) => _starts[index];

    /// <summary>End in the original text of the normalised character at <paramref name="index"/>.</summary>
    public int OriginalEnd(int index) => _ends[index];

    public void Append(char c, int originalStart, int originalEnd)
    {
        if (Length == _chars.Length)
        {
            Grow();
        }
        _chars[Length] = c;
        _starts[Length] = originalStart;
        _ends[Length] = originalEnd;
        Length++;
    }

    public void Clear() => Length = 0;

    private void Grow()
    {
        int size = _chars.Length * 2;
        Replace(ref _chars, size);
        Replace(ref _starts, size);
        Replace(ref _ends, size);
    }

    private void Replace<T>(ref T[] array, int size)
    {
        var larger = ArrayPool<T>.Shared.Rent(size);
        array.AsSpan(0, Length).CopyTo(larger);
        ArrayPool<T>.Shared.Return(array);
        array = larger;
    }

    public void Dispose()
    {
        ArrayPool<char>.Shared.Return(_chars);
        ArrayPool<int>.Shared.Return(_starts);
        ArrayPool<int>.Shared.Return(_ends);
        _chars = [];
        _starts = [];
        _ends = [];
    }
}
