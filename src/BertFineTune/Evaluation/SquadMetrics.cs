using System.Globalization;
using System.Text;

namespace BertFineTune.Evaluation;

/// <summary>SQuAD scores over a set of questions, in percent (0–100) as the official scripts print them.</summary>
/// <param name="ExactMatch">Mean exact match × 100.</param>
/// <param name="F1">Mean token-overlap F1 × 100.</param>
/// <param name="Total">Number of questions scored.</param>
/// <param name="HasAnswerTotal">Questions with at least one non-empty gold answer.</param>
/// <param name="NoAnswerTotal">Questions without one (unanswerable; only an empty prediction scores on them).</param>
public sealed record SquadScores(double ExactMatch, double F1, int Total, int HasAnswerTotal, int NoAnswerTotal);

/// <summary>
/// Exact match and F1 of extractive question answering, as SQuAD v2.0's official evaluation script: answers are
/// normalised (lower-cased, ASCII punctuation removed, the articles a/an/the removed, white space collapsed), F1 counts
/// the normalised tokens shared by prediction and gold answer, and a question takes its best score over its gold answers.
/// Gold answers that normalise to nothing are dropped; a question left with none is unanswerable and its only gold answer
/// is the empty string, so an empty prediction scores 1 on it and any other prediction 0.
/// </summary>
public static class SquadMetrics
{
    private const string AsciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    /// <summary>The official <c>normalize_answer</c>: lower case, remove punctuation, remove articles, collapse white space.</summary>
    public static string NormalizeAnswer(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lower = text.ToLowerInvariant();
        var withoutPunctuation = new StringBuilder(lower.Length);
        foreach (var c in lower)
        {
            if (!AsciiPunctuation.Contains(c, StringComparison.Ordinal))
            {
                withoutPunctuation.Append(c);
            }
        }
        var withoutArticles = RemoveArticles(withoutPunctuation.ToString());
        return string.Join(' ', SplitOnWhiteSpace(withoutArticles));
    }

    /// <summary>1 when the normalised prediction equals some normalised gold answer, else 0 (see the class remarks for unanswerable questions).</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static double ExactMatch(string prediction, IReadOnlyList<string> goldAnswers)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        var normalized = NormalizeAnswer(prediction);
        return EffectiveGold(goldAnswers).Max(g => NormalizeAnswer(g) == normalized ? 1.0 : 0.0);
    }

    /// <summary>The best token-overlap F1 of the prediction against any gold answer (see the class remarks for unanswerable questions).</summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static double F1(string prediction, IReadOnlyList<string> goldAnswers)
    {
        ArgumentNullException.ThrowIfNull(prediction);
        var predicted = Tokens(prediction);
        return EffectiveGold(goldAnswers).Max(g => F1(Tokens(g), predicted));
    }

    /// <summary>Scores each question's prediction against its gold answers and averages, in percent.</summary>
    /// <param name="predictions">The predicted answer text per question ("" for "no answer").</param>
    /// <param name="goldAnswers">The gold answer texts per question (empty for an unanswerable question).</param>
    /// <exception cref="ArgumentException">The lists differ in length or are empty.</exception>
    public static SquadScores Score(IReadOnlyList<string> predictions, IReadOnlyList<IReadOnlyList<string>> goldAnswers)
    {
        ArgumentNullException.ThrowIfNull(predictions);
        ArgumentNullException.ThrowIfNull(goldAnswers);
        if (predictions.Count != goldAnswers.Count)
        {
            throw new ArgumentException($"{predictions.Count} predictions for {goldAnswers.Count} questions; give one per question.", nameof(predictions));
        }
        if (predictions.Count == 0)
        {
            throw new ArgumentException("No questions to score.", nameof(predictions));
        }
        double exact = 0, f1 = 0;
        int hasAnswer = 0;
        for (int i = 0; i < predictions.Count; i++)
        {
            exact += ExactMatch(predictions[i], goldAnswers[i]);
            f1 += F1(predictions[i], goldAnswers[i]);
            if (goldAnswers[i].Any(g => NormalizeAnswer(g).Length > 0))
            {
                hasAnswer++;
            }
        }
        int total = predictions.Count;
        return new SquadScores(100 * exact / total, 100 * f1 / total, total, hasAnswer, total - hasAnswer);
    }

    /// <summary>The official <c>get_raw_scores</c> filter: gold answers that normalise to nothing are dropped; none left means [""].</summary>
    private static IReadOnlyList<string> EffectiveGold(IReadOnlyList<string> goldAnswers)
    {
        ArgumentNullException.ThrowIfNull(goldAnswers);
        var kept = goldAnswers.Where(g => g is not null && NormalizeAnswer(g).Length > 0).ToArray();
        return kept.Length == 0 ? [""] : kept;
    }

    /// <summary>The official <c>compute_f1</c> on normalised tokens.</summary>
    private static double F1(string[] gold, string[] predicted)
    {
        if (gold.Length == 0 || predicted.Length == 0)
        {
            // Both empty: 1 (a correct "no answer"); one empty: 0.
            return gold.Length == predicted.Length ? 1 : 0;
        }
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in gold)
        {
            counts[token] = counts.GetValueOrDefault(token) + 1;
        }
        int same = 0;
        foreach (var token in predicted)
        {
            if (counts.GetValueOrDefault(token) > 0)
            {
                counts[token]--;
                same++;
            }
        }
        if (same == 0)
        {
            return 0;
        }
        double precision = (double)same / predicted.Length;
        double recall = (double)same / gold.Length;
        return 2 * precision * recall / (precision + recall);
    }

    private static string[] Tokens(string text) =>
        text.Length == 0 ? [] : NormalizeAnswer(text).Split(' ', StringSplitOptions.RemoveEmptyEntries);

    /// <summary>
    /// Replaces each whole word "a", "an" or "the" with a space, as <c>re.sub(r'\b(a|an|the)\b', ' ', text)</c>: a word is
    /// a maximal run of Python word characters (letters, numbers, underscore).
    /// </summary>
    private static string RemoveArticles(string text)
    {
        var result = new StringBuilder(text.Length);
        int i = 0;
        while (i < text.Length)
        {
            if (!IsWordCharacter(text, i, out int width))
            {
                result.Append(text, i, width);
                i += width;
                continue;
            }
            int start = i;
            while (i < text.Length && IsWordCharacter(text, i, out width))
            {
                i += width;
            }
            var word = text.AsSpan(start, i - start);
            if (word is "a" or "an" or "the")
            {
                result.Append(' ');
            }
            else
            {
                result.Append(word);
            }
        }
        return result.ToString();
    }

    private static bool IsWordCharacter(string text, int index, out int width)
    {
        if (Rune.DecodeFromUtf16(text.AsSpan(index), out var rune, out width) != System.Buffers.OperationStatus.Done)
        {
            width = 1;
            return false;
        }
        if (rune.Value == '_')
        {
            return true;
        }
        return Rune.GetUnicodeCategory(rune) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter
            or UnicodeCategory.TitlecaseLetter or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
            or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber;
    }

    /// <summary>Python's <c>str.split()</c>: splits on runs of white space (including U+001C–U+001F, which Python counts as white space).</summary>
    private static IEnumerable<string> SplitOnWhiteSpace(string text)
    {
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && IsPythonWhiteSpace(text[i]))
            {
                i++;
            }
            int start = i;
            while (i < text.Length && !IsPythonWhiteSpace(text[i]))
            {
                i++;
            }
            if (i > start)
            {
                yield return text[start..i];
            }
        }
    }

    private static bool IsPythonWhiteSpace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';
}
