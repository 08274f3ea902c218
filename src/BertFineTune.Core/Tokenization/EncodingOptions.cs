namespace BertFineTune.Tokenization;

/// <summary>How a text or pair longer than <see cref="EncodingOptions.MaxLength"/> is cut, as transformers' <c>truncation</c>.</summary>
public enum TruncationStrategy
{
    /// <summary>No truncation.</summary>
    None,
    /// <summary>Remove tokens from the longer sequence first (transformers' <c>longest_first</c>, also <c>truncation=True</c>).</summary>
    LongestFirst,
    /// <summary>Truncate only the first sequence; an error when that cannot make room.</summary>
    OnlyFirst,
    /// <summary>Truncate only the second sequence (extractive QA contexts); an error when that cannot make room.</summary>
    OnlySecond,
}

/// <summary>How encodings are padded, as transformers' <c>padding</c>.</summary>
public enum PaddingStrategy
{
    /// <summary>No padding.</summary>
    None,
    /// <summary>Pad to the longest encoding of the batch (dynamic padding).</summary>
    Longest,
    /// <summary>Pad to <see cref="EncodingOptions.MaxLength"/>.</summary>
    MaxLength,
}

/// <summary>Options of one encode call; the defaults add special tokens and neither truncate nor pad.</summary>
public sealed record EncodingOptions
{
    /// <summary>Add <c>[CLS]</c> and <c>[SEP]</c> (default true).</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>The truncation strategy (default none).</summary>
    public TruncationStrategy Truncation { get; init; } = TruncationStrategy.None;

    /// <summary>Maximum length including special tokens; when null and truncating or padding to max length, the tokenizer's <see cref="BertTokenizerOptions.ModelMaxLength"/>.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Tokens shared by consecutive overflow windows (for extractive QA over long contexts).</summary>
    public int Stride { get; init; }

    /// <summary>Return every window of a truncated input, not only the first.</summary>
    public bool ReturnOverflowingTokens { get; init; }

    /// <summary>The padding strategy (default none).</summary>
    public PaddingStrategy Padding { get; init; } = PaddingStrategy.None;

    /// <summary>Round padded lengths up to a multiple of this (e.g. 8 for tensor cores).</summary>
    public int? PadToMultipleOf { get; init; }

    /// <summary>
    /// Reproduce the tokenizers crate 0.23's truncation early exit (transformers 5.x): when truncating, each text is
    /// tokenized only until the word that reaches <see cref="MaxLength"/> tokens (the first text of an
    /// <see cref="TruncationStrategy.OnlySecond"/> pair is not limited), so overflow windows stop there and the rest of a
    /// long context is dropped (huggingface/tokenizers issue #2091). It can also decide which text is the longer one for
    /// <see cref="TruncationStrategy.LongestFirst"/>: 30 and 26 tokens with MaxLength 24 both stop at 24, a tie, so the
    /// second text keeps the odd token. Off by default: every window of the whole text is
    /// returned, as tokenizers 0.22 and the documented behaviour do. Turn it on to match transformers 5.x token for token.
    /// </summary>
    public bool TokenizersEarlyExit { get; init; }

    /// <summary>Truncate with <see cref="TruncationStrategy.LongestFirst"/> to <paramref name="maxLength"/> and pad to the longest.</summary>
    public static EncodingOptions TruncateAndPad(int maxLength) =>
        new() { Truncation = TruncationStrategy.LongestFirst, MaxLength = maxLength, Padding = PaddingStrategy.Longest };
}
