namespace BertFineTune.Tokenization;

/// <summary>
/// A token added on top of the WordPiece vocabulary, with the matching options of the tokenizers crate's
/// <c>AddedToken</c> (<c>tokenizers/src/tokenizer/added_vocabulary.rs</c>). Added tokens are found in the text before
/// WordPiece runs and are never split: an entity marker such as <c>[E1]</c> stays one token.
/// </summary>
/// <param name="Content">The token's text, as it is matched (and, for a non-normalized token, as it is decoded).</param>
/// <remarks>
/// As in the tokenizers crate: a token whose <see cref="Normalized"/> is not set is normalized unless it is
/// <see cref="Special"/> (<c>AddedToken::from(content, special)</c> gives <c>normalized = !special</c>).
/// </remarks>
public sealed record AddedToken(string Content)
{
    /// <summary>Only match where the token is a whole word: no word character (<c>\w</c>) right before or after it.</summary>
    public bool SingleWord { get; init; }

    /// <summary>Take the white space to the token's left into the token (it is then not part of any other token).</summary>
    public bool LStrip { get; init; }

    /// <summary>Take the white space to the token's right into the token.</summary>
    public bool RStrip { get; init; }

    /// <summary>
    /// Match the normalized (lower-cased, accent-stripped) form of the token in the normalized text (true), or the token
    /// as written in the original text (false). Null means <c>!</c><see cref="Special"/>, the tokenizers crate's default.
    /// </summary>
    public bool? Normalized { get; init; }

    /// <summary>A special token: skipped by <see cref="BertTokenizer.Decode"/> when <c>skipSpecialTokens</c> is true.</summary>
    public bool Special { get; init; }

    /// <summary><see cref="Normalized"/> with its default resolved.</summary>
    internal bool IsNormalized => Normalized ?? !Special;
}
