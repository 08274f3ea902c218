using BertFineTune.Tokenization;

namespace BertFineTune.Data.Readers;

/// <summary>A text (or text pair) with its label, as a reader found it, before tokenization.</summary>
/// <param name="Text">The text (the first sentence of a pair).</param>
/// <param name="TextPair">The second text of a pair, or null.</param>
/// <param name="Label">The target (class id, number or multi-label vector), or null when the source has no labels.</param>
/// <param name="Line">The 1-based line the example starts on in its source (for tracing predictions back).</param>
public sealed record TextExample(string Text, string? TextPair, TargetValue? Label, int Line);

/// <summary>Tokenizes <see cref="TextExample"/>s into <see cref="EncodedExample"/>s for sequence classification or regression.</summary>
public static class TextExampleEncoder
{
    /// <summary>
    /// Encodes every example (in parallel) with its pair, and puts its label under <c>labels</c> (no target when the label
    /// is null). The default options truncate the longest text first to the tokenizer's model maximum (512 when it has
    /// none); padding is left to the batch collator.
    /// </summary>
    /// <exception cref="ArgumentException">The options pad or return overflow windows (one example must give one encoding).</exception>
    public static IReadOnlyList<EncodedExample> Encode(IReadOnlyList<TextExample> examples, BertTokenizer tokenizer, EncodingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(tokenizer);
        options ??= new EncodingOptions
        {
            Truncation = TruncationStrategy.LongestFirst,
            MaxLength = tokenizer.Options.ModelMaxLength ?? 512,
        };
        if (options.Padding != PaddingStrategy.None)
        {
            throw new ArgumentException(
                $"Padding {options.Padding} was asked for, but examples are padded per batch by the collator; use PaddingStrategy.None.",
                nameof(options));
        }
        if (options.ReturnOverflowingTokens)
        {
            throw new ArgumentException(
                "ReturnOverflowingTokens would give several encodings per example; classification examples take one. Turn it off.",
                nameof(options));
        }
        if (examples.Count == 0)
        {
            return [];
        }
        var batch = tokenizer.EncodeBatch(examples.Select(e => e.Text).ToList(), examples.Select(e => e.TextPair).ToList(), options);
        var result = new EncodedExample[examples.Count];
        for (int i = 0; i < examples.Count; i++)
        {
            var encoding = batch.Encodings[i];
            result[i] = examples[i].Label is { } label
                ? EncodedExample.WithLabel(encoding, label)
                : EncodedExample.FromEncoding(encoding);
        }
        return result;
    }
}
