using System.Text;

namespace BertFineTune.Tokenization;

/// <summary>
/// The normaliser and the pre-tokeniser as two separate steps, for text that may hold normalized added tokens: those
/// are matched in the normalized text (white space kept as spaces) between the two steps, as the tokenizers crate's
/// <c>AddedVocabulary::extract_and_normalize</c> does before <c>BertPreTokenizer</c> runs. <see cref="AppendWords"/>
/// fuses both steps and is used whenever no normalized added token exists; the two give the same words.
/// </summary>
internal sealed partial class BertTextNormalizer
{
    /// <summary>
    /// The tokenizers crate's <c>BertNormalizer</c> alone on <paramref name="text"/>[<paramref name="start"/>..<paramref name="end"/>):
    /// removed characters as in <see cref="AppendWords"/>, white space mapped to a space, a CJK ideograph surrounded by
    /// two spaces (all three mapped to the ideograph's span, as <c>NormalizedString::transform</c> aligns inserted
    /// characters), accents stripped and lower-cased as asked.
    /// </summary>
    public void AppendNormalized(string text, int start, int end, NormalizedBuffer buffer)
    {
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
                codePoint = char.IsSurrogate(c) ? 0xFFFD : c;
                i++;
            }

            if (codePoint < 0x80)
            {
                if (codePoint is '\t' or '\n' or '\r' or ' ')
                {
                    buffer.Append(' ', originalStart, i);
                }
                else if (codePoint >= 0x20 && codePoint != 0x7F)
                {
                    buffer.Append(_lowercase && codePoint is >= 'A' and <= 'Z' ? (char)(codePoint + 32) : (char)codePoint, originalStart, i);
                }
                continue;
            }
            if (codePoint == 0xFFFD || IsOther(codePoint))
            {
                continue;
            }
            if (Rune.IsWhiteSpace(new Rune(codePoint)))
            {
                buffer.Append(' ', originalStart, i);
                continue;
            }
            bool ideograph = _splitChinese && IsChinese(codePoint);
            if (ideograph)
            {
                buffer.Append(' ', originalStart, i);
            }
            AppendTransformed(codePoint, originalStart, i, buffer);
            if (ideograph)
            {
                buffer.Append(' ', originalStart, i);
            }
        }
    }

    /// <summary>
    /// The tokenizers crate's <c>BertPreTokenizer</c> on normalized characters <paramref name="buffer"/>[<paramref name="start"/>..<paramref name="end"/>):
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
            if (codePoint == ' ' || (codePoint >= 0x80 && Rune.IsValid(codePoint) && Rune.IsWhiteSpace(new Rune(codePoint))))
            {
                if (wordStart >= 0)
                {
                    words.Add(new NormalizedWord(wordStart, at));
                    wordStart = -1;
                }
            }
            else if (IsPunctuation(codePoint))
            {
                if (wordStart >= 0)
                {
                    words.Add(new NormalizedWord(wordStart, at));
                    wordStart = -1;
                }
                words.Add(new NormalizedWord(at, i));
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
}
