namespace BertFineTune.Tokenization;

/// <summary>
/// The settings of a BERT tokenizer, as <c>tokenizer_config.json</c> and <c>tokenizer.json</c> hold them, with
/// transformers' defaults.
/// </summary>
public sealed record BertTokenizerOptions
{
    /// <summary>Lower-case the text (uncased models). Default true.</summary>
    public bool DoLowerCase { get; init; } = true;

    /// <summary>Remove accents; null follows <see cref="DoLowerCase"/>, as transformers does.</summary>
    public bool? StripAccents { get; init; }

    /// <summary>Split CJK ideographs into single-character words. Default true.</summary>
    public bool TokenizeChineseChars { get; init; } = true;

    /// <summary>The longest input the model accepts, special tokens included; the default <c>max_length</c> when truncating. Null when unknown.</summary>
    public int? ModelMaxLength { get; init; }

    /// <summary>The unknown-word token.</summary>
    public string UnknownToken { get; init; } = "[UNK]";

    /// <summary>The classification token that starts every input.</summary>
    public string ClsToken { get; init; } = "[CLS]";

    /// <summary>The separator after each sequence.</summary>
    public string SepToken { get; init; } = "[SEP]";

    /// <summary>The padding token.</summary>
    public string PadToken { get; init; } = "[PAD]";

    /// <summary>The mask token of masked-LM.</summary>
    public string MaskToken { get; init; } = "[MASK]";

    /// <summary>Prefix of word-continuation pieces.</summary>
    public string ContinuingSubwordPrefix { get; init; } = "##";

    /// <summary>Words with more characters (code points) than this become the unknown token.</summary>
    public int MaxInputCharsPerWord { get; init; } = 100;

    /// <summary>When decoding, remove the space before <c>. ? ! ,</c> and contractions, as transformers' WordPiece decoder does.</summary>
    public bool CleanUpTokenizationSpaces { get; init; } = true;

    /// <summary>Whether accents are stripped after resolving the null default.</summary>
    public bool EffectiveStripAccents => StripAccents ?? DoLowerCase;
}
