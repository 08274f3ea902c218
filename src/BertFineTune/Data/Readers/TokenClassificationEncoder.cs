using System.Text;
using BertFineTune.Tokenization;

namespace BertFineTune.Data.Readers;

/// <summary>
/// A tokenized sentence for token classification: the <see cref="EncodedExample"/> (token labels under <c>labels</c>)
/// and the alignment between its tokens and the sentence's words, to map token predictions back to words.
/// </summary>
public sealed class TokenClassificationExample
{
    internal TokenClassificationExample(EncodedExample example, TaggedSentence sentence, int?[] tokenWords, int[] firstTokens)
    {
        Example = example;
        Sentence = sentence;
        TokenWords = tokenWords;
        FirstTokenOfWord = firstTokens;
    }

    /// <summary>Token ids, segment ids and the <c>labels</c> target: the label id on each word's first sub-token, -100 elsewhere.</summary>
    public EncodedExample Example { get; }

    /// <summary>The sentence the example was built from.</summary>
    public TaggedSentence Sentence { get; }

    /// <summary>For each token, the index of the word (in <see cref="TaggedSentence.Words"/>) it comes from; null for [CLS] and [SEP].</summary>
    public IReadOnlyList<int?> TokenWords { get; }

    /// <summary>
    /// For each word, the position of its first sub-token, or -1 when the word has no token: the normaliser removed all of
    /// it (a word of control or format characters, or of lone accents) or truncation cut it off.
    /// </summary>
    public IReadOnlyList<int> FirstTokenOfWord { get; }

    /// <summary>Number of words without a token (see <see cref="FirstTokenOfWord"/>).</summary>
    public int WordsWithoutTokens => FirstTokenOfWord.Count(t => t < 0);

    /// <summary>
    /// Maps per-token predicted label ids back to one label per word: each word takes the prediction at its first
    /// sub-token; a word without a token takes <paramref name="missingLabel"/>.
    /// </summary>
    /// <param name="tokenPredictions">One predicted label id per token of <see cref="Example"/> (padding beyond it is ignored).</param>
    /// <param name="labels">The label names by id.</param>
    /// <param name="missingLabel">The label of words without a token (default <c>O</c>).</param>
    /// <exception cref="ArgumentException">Fewer predictions than tokens, or a predicted id outside <paramref name="labels"/>.</exception>
    public IReadOnlyList<string> WordLabels(IReadOnlyList<int> tokenPredictions, IReadOnlyList<string> labels, string missingLabel = "O")
    {
        ArgumentNullException.ThrowIfNull(tokenPredictions);
        ArgumentNullException.ThrowIfNull(labels);
        if (tokenPredictions.Count < Example.Length)
        {
            throw new ArgumentException(
                $"{tokenPredictions.Count} predictions for an example of {Example.Length} tokens; give one per token.", nameof(tokenPredictions));
        }
        var words = new string[FirstTokenOfWord.Count];
        for (int w = 0; w < words.Length; w++)
        {
            int token = FirstTokenOfWord[w];
            if (token < 0)
            {
                words[w] = missingLabel;
                continue;
            }
            int id = tokenPredictions[token];
            words[w] = (uint)id < (uint)labels.Count
                ? labels[id]
                : throw new ArgumentException($"Token {token} is predicted as label id {id}, outside the {labels.Count} labels.", nameof(tokenPredictions));
        }
        return words;
    }
}

/// <summary>
/// Tokenizes <see cref="TaggedSentence"/>s for token classification: the words are joined by single spaces and encoded,
/// each token is mapped to the word whose characters its offset starts in, and the label of a word goes on its first
/// sub-token (-100 on the other sub-tokens and on special tokens, so the loss ignores them).
/// </summary>
/// <remarks>
/// Offsets are used instead of the tokenizer's word ids because BERT's pre-tokenizer splits one CoNLL word into several
/// at punctuation (<c>U.S.</c> is four of its words) and counts no word for text its normaliser removes, so its word ids
/// do not number the file's words.
/// </remarks>
public static class TokenClassificationEncoder
{
    /// <summary>The label id of tokens the loss ignores.</summary>
    public const int IgnoredLabel = -100;

    /// <summary>
    /// Encodes <paramref name="sentences"/>, truncated to <paramref name="maxLength"/> tokens (words cut off have no token;
    /// see <see cref="TokenClassificationExample.FirstTokenOfWord"/>).
    /// </summary>
    /// <param name="sentences">Sentences with IOB2 tags (as <see cref="ConllReader"/> returns them).</param>
    /// <param name="tokenizer">The tokenizer.</param>
    /// <param name="labels">The label names; a tag's id is its index here.</param>
    /// <param name="maxLength">Maximum tokens per example, [CLS] and [SEP] included (default 512).</param>
    /// <param name="badRows">What to do with a sentence whose tag is not in <paramref name="labels"/>, or none of whose words yields a token.</param>
    /// <exception cref="BadRowException">A bad sentence under <see cref="BadRowPolicy.Throw"/>: the message names the file, line and reason.</exception>
    public static ReadResult<TokenClassificationExample> Encode(IReadOnlyList<TaggedSentence> sentences, BertTokenizer tokenizer,
        IReadOnlyList<string> labels, int maxLength = 512, BadRowPolicy badRows = BadRowPolicy.Throw)
    {
        ArgumentNullException.ThrowIfNull(sentences);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 3);
        var labelIds = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < labels.Count; i++)
        {
            if (!labelIds.TryAdd(labels[i], i))
            {
                throw new ArgumentException($"Label '{labels[i]}' is listed twice.", nameof(labels));
            }
        }

        var texts = new string[sentences.Count];
        var starts = new int[sentences.Count][];
        for (int s = 0; s < sentences.Count; s++)
        {
            var sentence = sentences[s] ?? throw new ArgumentException($"Sentence {s} is null.", nameof(sentences));
            if (sentence.Words.Count != sentence.Tags.Count)
            {
                throw new ArgumentException(
                    $"{sentence.Source}:{sentence.Line}: {sentence.Words.Count} words but {sentence.Tags.Count} tags.", nameof(sentences));
            }
            (texts[s], starts[s]) = Join(sentence.Words);
        }
        var options = new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = maxLength };
        IReadOnlyList<Tokenization.EncodedText> encodings = texts.Length == 0 ? [] : tokenizer.EncodeBatch(texts, null, options).Encodings;

        var skipped = new List<BadRow>();
        var result = new List<TokenClassificationExample>(sentences.Count);
        for (int s = 0; s < sentences.Count; s++)
        {
            var sentence = sentences[s];
            var sink = new BadRowSink(sentence.Source, badRows);
            var example = Align(sentence, starts[s], encodings[s], labelIds, sink);
            skipped.AddRange(sink.Rows);
            if (example is not null)
            {
                result.Add(example);
            }
        }
        return new ReadResult<TokenClassificationExample>(result, skipped);
    }

    /// <summary>Joins words with single spaces; returns the text and each word's start.</summary>
    private static (string Text, int[] Starts) Join(IReadOnlyList<string> words)
    {
        var builder = new StringBuilder();
        var starts = new int[words.Count];
        for (int w = 0; w < words.Count; w++)
        {
            if (w > 0)
            {
                builder.Append(' ');
            }
            starts[w] = builder.Length;
            builder.Append(words[w]);
        }
        return (builder.ToString(), starts);
    }

    private static TokenClassificationExample? Align(TaggedSentence sentence, int[] starts, Tokenization.EncodedText encoding,
        Dictionary<string, int> labelIds, BadRowSink sink)
    {
        var tagIds = new int[sentence.Tags.Count];
        for (int w = 0; w < tagIds.Length; w++)
        {
            if (!labelIds.TryGetValue(sentence.Tags[w], out tagIds[w]))
            {
                sink.Report(sentence.Line, $"word {w} ('{sentence.Words[w]}') has tag '{sentence.Tags[w]}', which is not in the label list");
                return null;
            }
        }

        int count = encoding.Length;
        var tokenWords = new int?[count];
        var tokenLabels = new long[count];
        var firstTokens = new int[sentence.Words.Count];
        Array.Fill(firstTokens, -1);
        for (int t = 0; t < count; t++)
        {
            tokenLabels[t] = IgnoredLabel;
            if (encoding.SequenceIds[t] != 0)
            {
                continue;
            }
            int word = WordAt(starts, sentence.Words, encoding.Offsets[t].Start);
            tokenWords[t] = word;
            if (firstTokens[word] < 0)
            {
                firstTokens[word] = t;
                tokenLabels[t] = tagIds[word];
            }
        }
        if (sentence.Words.Count > 0 && firstTokens.All(t => t < 0))
        {
            sink.Report(sentence.Line,
                $"the sentence has no tokens: the tokenizer's normaliser removes all of its {sentence.Words.Count} word(s)");
            return null;
        }
        var example = EncodedExample.WithLabel(encoding, TargetValue.TokenLabels(tokenLabels));
        return new TokenClassificationExample(example, sentence, tokenWords, firstTokens);
    }

    /// <summary>The word whose characters [start, start + length) hold <paramref name="position"/>.</summary>
    private static int WordAt(int[] starts, IReadOnlyList<string> words, int position)
    {
        int index = Array.BinarySearch(starts, position);
        if (index < 0)
        {
            index = ~index - 1;
        }
        // Starts strictly increase (a space follows every word, empty ones too), so the match is unique.
        if (index < 0 || position >= starts[index] + words[index].Length)
        {
            throw new InvalidOperationException($"Token offset {position} falls between words; the tokenizer's offsets are inconsistent.");
        }
        return index;
    }
}
