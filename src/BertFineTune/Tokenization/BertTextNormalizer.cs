using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace BertFineTune.Tokenization;

/// <summary>
/// transformers' BERT normalisation and pre-tokenisation (the <c>tokenizers</c> crate's <c>BertNormalizer</c> and
/// <c>BertPreTokenizer</c>), keeping for every normalised character the span of the original text it came from, so token
/// offsets point into the original string.
/// </summary>
/// <remarks>
/// The normaliser removes NUL, U+FFFD, lone surrogates and every character of category Cc, Cf, Cn, Co or Cs except tab,
/// newline and carriage return; maps white space to a space; surrounds CJK ideographs with spaces; strips accents (NFD,
/// then drops non-spacing marks) when asked; and lower-cases per character as Rust's <c>char::to_lowercase</c> does.
/// Immutable and thread-safe.
/// </remarks>
internal sealed partial class BertTextNormalizer
{
    private static readonly ConcurrentDictionary<int, string> Decompositions = new();

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
    public void AppendWords(string text, int start, int end, NormalizedBuffer buffer, List<NormalizedWord> words)
    {
        int wordStart = -1;
        int i = start;
        while (i < end)
        {
            int originalStart = i;
            int codePoint;
            char c = text[i];
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

            if (codePoint < 0x80)
            {
                // ASCII fast path: no accents, simple lower-casing.
                if (codePoint is '\t' or '\n' or '\r' or ' ')
                {
                    EndWord(ref wordStart, buffer, words);
                    continue;
                }
                if (codePoint < 0x20 || codePoint == 0x7F)
                {
                    continue;
                }
                char ascii = _lowercase && codePoint is >= 'A' and <= 'Z' ? (char)(codePoint + 32) : (char)codePoint;
                if (IsAsciiPunctuation(ascii))
                {
                    EndWord(ref wordStart, buffer, words);
                    int at = buffer.Length;
                    buffer.Append(ascii, originalStart, i);
                    words.Add(new NormalizedWord(at, buffer.Length));
                    continue;
                }
                if (wordStart < 0)
                {
                    wordStart = buffer.Length;
                }
                buffer.Append(ascii, originalStart, i);
                continue;
            }

            if (codePoint == 0xFFFD || IsOther(codePoint))
            {
                continue;
            }
            if (Rune.IsWhiteSpace(new Rune(codePoint)))
            {
                EndWord(ref wordStart, buffer, words);
                continue;
            }
            if (_splitChinese && IsChinese(codePoint))
            {
                // An ideograph is a word of its own.
                EndWord(ref wordStart, buffer, words);
                int at = buffer.Length;
                AppendTransformed(codePoint, originalStart, i, buffer);
                if (buffer.Length > at)
                {
                    words.Add(new NormalizedWord(at, buffer.Length));
                }
                continue;
            }

            int before = buffer.Length;
            bool punctuation = IsPunctuation(codePoint);
            if (punctuation)
            {
                EndWord(ref wordStart, buffer, words);
            }
            else if (wordStart < 0)
            {
                wordStart = before;
            }
            AppendTransformed(codePoint, originalStart, i, buffer);
            if (punctuation)
            {
                if (buffer.Length > before)
                {
                    words.Add(new NormalizedWord(before, buffer.Length));
                }
            }
            else if (wordStart == buffer.Length)
            {
                // Everything so far in this word was removed (a lone accent): no word yet.
                wordStart = -1;
            }
        }
        EndWord(ref wordStart, buffer, words);
    }

    private static void EndWord(ref int wordStart, NormalizedBuffer buffer, List<NormalizedWord> words)
    {
        if (wordStart >= 0 && buffer.Length > wordStart)
        {
            words.Add(new NormalizedWord(wordStart, buffer.Length));
        }
        wordStart = -1;
    }

    /// <summary>Appends the accent-stripped, lower-cased form of one code point, every character mapped to its source span.</summary>
    private void AppendTransformed(int codePoint, int originalStart, int originalEnd, NormalizedBuffer buffer)
    {
        if (_stripAccents)
        {
            var decomposed = Decompositions.GetOrAdd(codePoint,
                static cp => char.ConvertFromUtf32(cp).Normalize(NormalizationForm.FormD));
            for (int k = 0; k < decomposed.Length;)
            {
                var rune = Rune.GetRuneAt(decomposed, k);
                k += rune.Utf16SequenceLength;
                if (Rune.GetUnicodeCategory(rune) == UnicodeCategory.NonSpacingMark)
                {
                    continue;
                }
                AppendLowercased(rune.Value, originalStart, originalEnd, buffer);
            }
        }
        else
        {
            AppendLowercased(codePoint, originalStart, originalEnd, buffer);
        }
    }

    private void AppendLowercased(int codePoint, int originalStart, int originalEnd, NormalizedBuffer buffer)
    {
        if (_lowercase)
        {
            if (codePoint == 0x130)
            {
                // Rust's char::to_lowercase gives 'i' + COMBINING DOT ABOVE; .NET's invariant casing leaves U+0130 alone.
                buffer.Append('i', originalStart, originalEnd);
                buffer.Append('\u0307', originalStart, originalEnd);
                return;
            }
            codePoint = Rune.ToLowerInvariant(new Rune(codePoint)).Value;
        }
        if (codePoint < 0x10000)
        {
            buffer.Append((char)codePoint, originalStart, originalEnd);
        }
        else
        {
            var rune = new Rune(codePoint);
            Span<char> pair = stackalloc char[2];
            rune.EncodeToUtf16(pair);
            buffer.Append(pair[0], originalStart, originalEnd);
            buffer.Append(pair[1], originalStart, originalEnd);
        }
    }

    /// <summary>Categories Cc, Cf, Cn, Co, Cs: removed, as the tokenizers crate's <c>is_control</c> (tab, newline and CR are handled before).</summary>
    private static bool IsOther(int codePoint) =>
        Rune.GetUnicodeCategory(new Rune(codePoint)) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse or UnicodeCategory.Surrogate;

    private static bool IsAsciiPunctuation(char c) =>
        c is >= '!' and <= '/' or >= ':' and <= '@' or >= '[' and <= '`' or >= '{' and <= '~';

    /// <summary>ASCII punctuation or any Unicode punctuation category (P*).</summary>
    internal static bool IsPunctuation(int codePoint) =>
        codePoint < 0x80
            ? IsAsciiPunctuation((char)codePoint)
            : Rune.GetUnicodeCategory(new Rune(codePoint)) is UnicodeCategory.ConnectorPunctuation
                or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation
                or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
                or UnicodeCategory.OtherPunctuation;

    /// <summary>The CJK Unified Ideograph blocks BERT splits into single-character words.</summary>
    internal static bool IsChinese(int cp) =>
        cp is >= 0x4E00 and <= 0x9FFF or >= 0x3400 and <= 0x4DBF or >= 0x20000 and <= 0x2A6DF or >= 0x2A700 and <= 0x2B73F
            or >= 0x2B740 and <= 0x2B81F or >= 0x2B820 and <= 0x2CEAF or >= 0xF900 and <= 0xFAFF or >= 0x2F800 and <= 0x2FA1F;
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
