using System.Text;
using MlWordPiece = Microsoft.ML.Tokenizers.WordPieceTokenizer;
using MlWordPieceOptions = Microsoft.ML.Tokenizers.WordPieceOptions;

namespace BertFineTune.Tokenization;

/// <summary>
/// A BERT WordPiece tokenizer that encodes exactly as Hugging Face's fast BERT tokenizer: the same normalisation,
/// special-token handling, truncation strategies, overflow windows, offsets into the original text, word and sequence
/// ids, padding and decoding. Microsoft.ML.Tokenizers' <c>WordPieceTokenizer</c> splits words into pieces; normalisation
/// and pre-tokenisation are this library's, because Microsoft.ML.Tokenizers 2.0's differ from transformers'.
/// </summary>
/// <remarks>Immutable: one instance may be used from any number of threads at once.</remarks>
public sealed partial class BertTokenizer
{
    private readonly MlWordPiece _wordPiece;
    private readonly BertTextNormalizer _normalizer;
    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _ids;
    private readonly int[] _pieceLength;
    private readonly int[] _continuationLength;
    private readonly (string Text, int Id)[] _specialTokens;
    private readonly HashSet<int> _specialIds;
    private readonly Func<int, string> _tokenOf;

    private BertTokenizer(IReadOnlyList<string> vocabulary, BertTokenizerOptions options, IEnumerable<string>? extraSpecialTokens)
    {
        Options = options;
        _tokenOf = IdToToken;
        _tokens = [.. vocabulary];
        _ids = new Dictionary<string, int>(_tokens.Length, StringComparer.Ordinal);
        for (int i = 0; i < _tokens.Length; i++)
        {
            // As transformers' load_vocab: a repeated line maps the token to its last id.
            _ids[_tokens[i]] = i;
        }

        UnknownTokenId = RequireToken(options.UnknownToken, nameof(options.UnknownToken));
        ClsTokenId = RequireToken(options.ClsToken, nameof(options.ClsToken));
        SepTokenId = RequireToken(options.SepToken, nameof(options.SepToken));
        PadTokenId = RequireToken(options.PadToken, nameof(options.PadToken));
        MaskTokenId = RequireToken(options.MaskToken, nameof(options.MaskToken));

        var special = new[] { options.PadToken, options.UnknownToken, options.ClsToken, options.SepToken, options.MaskToken }
            .Concat(extraSpecialTokens ?? []).Distinct(StringComparer.Ordinal)
            .Where(_ids.ContainsKey).ToList();
        // Longest first, so that of two tokens starting at one position the longer wins, as the added-vocabulary matcher does.
        _specialTokens = special.OrderByDescending(t => t.Length).Select(t => (t, _ids[t])).ToArray();
        _specialIds = [.. _specialTokens.Select(t => t.Id)];

        var prefix = options.ContinuingSubwordPrefix;
        _pieceLength = _tokens.Select(t => t.Length).ToArray();
        _continuationLength = _tokens.Select(t => t.StartsWith(prefix, StringComparison.Ordinal) ? t.Length - prefix.Length : -1).ToArray();

        _normalizer = new BertTextNormalizer(options.DoLowerCase, options.EffectiveStripAccents, options.TokenizeChineseChars);
        using var vocabStream = new MemoryStream(new UTF8Encoding(false).GetBytes(string.Join("\n", _tokens) + "\n"));
        _wordPiece = MlWordPiece.Create(vocabStream, new MlWordPieceOptions
        {
            UnknownToken = options.UnknownToken,
            ContinuingSubwordPrefix = prefix,
            // The code-point limit is applied here; Microsoft.ML.Tokenizers counts UTF-16 units, at most two per code point.
            MaxInputCharsPerWord = Math.Max(2 * options.MaxInputCharsPerWord, 2),
        });
    }

    /// <summary>The settings this tokenizer was built with.</summary>
    public BertTokenizerOptions Options { get; }

    /// <summary>Number of tokens in the vocabulary.</summary>
    public int VocabularySize => _tokens.Length;

    /// <summary>Id of the unknown token.</summary>
    public int UnknownTokenId { get; }

    /// <summary>Id of <c>[CLS]</c>.</summary>
    public int ClsTokenId { get; }

    /// <summary>Id of <c>[SEP]</c>.</summary>
    public int SepTokenId { get; }

    /// <summary>Id of <c>[PAD]</c>.</summary>
    public int PadTokenId { get; }

    /// <summary>Id of <c>[MASK]</c>.</summary>
    public int MaskTokenId { get; }

    /// <summary>Ids of every special token (skipped by <see cref="Decode"/> on request).</summary>
    public IReadOnlySet<int> SpecialTokenIds => _specialIds;

    /// <summary>This tokenizer with <see cref="BertTokenizerOptions.ModelMaxLength"/> set to <paramref name="maxLength"/>.</summary>
    public BertTokenizer WithModelMaxLength(int maxLength) =>
        Options.ModelMaxLength == maxLength
            ? this
            : new BertTokenizer(_tokens, Options with { ModelMaxLength = maxLength }, _specialTokens.Select(t => t.Text));

    /// <summary>The id of <paramref name="token"/>, or null when it is not in the vocabulary.</summary>
    public int? TokenToId(string token) => _ids.TryGetValue(token, out var id) ? id : null;

    /// <summary>The token string of <paramref name="id"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is outside the vocabulary.</exception>
    public string IdToToken(int id) =>
        (uint)id < (uint)_tokens.Length
            ? _tokens[id]
            : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the vocabulary of {_tokens.Length} tokens.");

    /// <summary>The WordPiece tokens of <paramref name="text"/>, without special tokens.</summary>
    public IReadOnlyList<string> Tokenize(string text) => Split(text).Ids.Select(IdToToken).ToList();

    /// <summary>Encodes a text, or a text pair, into its first (or only) window.</summary>
    /// <exception cref="ArgumentException">The options cannot be satisfied (where transformers raises too).</exception>
    public Encoding Encode(string text, string? pair = null, EncodingOptions? options = null) =>
        EncodeWindows(text, pair, (options ?? new EncodingOptions()) with { ReturnOverflowingTokens = false })[0];

    /// <summary>
    /// Encodes a text or pair into every window that truncation with <see cref="EncodingOptions.Stride"/> produces when
    /// <see cref="EncodingOptions.ReturnOverflowingTokens"/> is set (the first window only otherwise); windows are padded together.
    /// </summary>
    public IReadOnlyList<Encoding> EncodeWindows(string text, string? pair = null, EncodingOptions? options = null)
    {
        options ??= new EncodingOptions();
        ValidatePadToMultipleOf(options);
        var windows = EncodeSample(text, pair, options, 0);
        return Pad(windows, options);
    }

    /// <summary>
    /// Encodes many texts (or pairs) in parallel on all cores, then pads them together. With overflow windows, each
    /// encoding's <see cref="Encoding.SampleIndex"/> names its input.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="pairs"/> is given with another length than <paramref name="texts"/>.</exception>
    public BatchEncoding EncodeBatch(IReadOnlyList<string> texts, IReadOnlyList<string?>? pairs = null, EncodingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (pairs is not null && pairs.Count != texts.Count)
        {
            throw new ArgumentException($"pairs has {pairs.Count} entries but texts has {texts.Count}.", nameof(pairs));
        }
        options ??= new EncodingOptions();
        ValidatePadToMultipleOf(options);
        var perSample = new IReadOnlyList<Encoding>[texts.Count];
        // Small batches are faster on one thread than the cost of handing work to others.
        if (texts.Count >= 32 && Environment.ProcessorCount > 1)
        {
            Parallel.For(0, texts.Count, i => perSample[i] = EncodeSample(texts[i], pairs?[i], options, i));
        }
        else
        {
            for (int i = 0; i < texts.Count; i++)
            {
                perSample[i] = EncodeSample(texts[i], pairs?[i], options, i);
            }
        }
        return new BatchEncoding(Pad(perSample.SelectMany(s => s).ToList(), options));
    }

    /// <summary>
    /// Turns ids back into text as transformers does: pieces joined, <c>##</c> continuations glued to the previous piece,
    /// and (by default) the space before <c>. ? ! ,</c> removed.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var builder = new StringBuilder();
        var prefix = Options.ContinuingSubwordPrefix;
        bool first = true;
        foreach (var id in ids)
        {
            if (skipSpecialTokens && _specialIds.Contains(id))
            {
                continue;
            }
            var token = IdToToken(id);
            if (!first)
            {
                token = token.StartsWith(prefix, StringComparison.Ordinal) ? token[prefix.Length..] : " " + token;
            }
            first = false;
            builder.Append(Options.CleanUpTokenizationSpaces ? CleanUp(token) : token);
        }
        return builder.ToString();
    }

    /// <summary>transformers' WordPiece decoder clean-up, applied to each piece with its leading space.</summary>
    internal static string CleanUp(string piece) =>
        piece.Replace(" .", ".", StringComparison.Ordinal).Replace(" ?", "?", StringComparison.Ordinal)
            .Replace(" !", "!", StringComparison.Ordinal).Replace(" ,", ",", StringComparison.Ordinal)
            .Replace(" ' ", "'", StringComparison.Ordinal).Replace(" n't", "n't", StringComparison.Ordinal)
            .Replace(" 'm", "'m", StringComparison.Ordinal).Replace(" do not", " don't", StringComparison.Ordinal)
            .Replace(" 's", "'s", StringComparison.Ordinal).Replace(" 've", "'ve", StringComparison.Ordinal)
            .Replace(" 're", "'re", StringComparison.Ordinal);

    /// <summary>
    /// transformers refuses truncation and padding together when the truncation length is not a multiple of
    /// <see cref="EncodingOptions.PadToMultipleOf"/> (padding would then exceed the length asked for).
    /// </summary>
    private void ValidatePadToMultipleOf(EncodingOptions options)
    {
        if (options.Truncation != TruncationStrategy.None && options.Padding != PaddingStrategy.None
            && options.PadToMultipleOf is { } multiple and > 0
            && (options.MaxLength ?? Options.ModelMaxLength) is { } maxLength && maxLength % multiple != 0)
        {
            throw new ArgumentException(
                $"Truncation and padding are both on, but the truncation length {maxLength} is not a multiple of PadToMultipleOf {multiple}; "
                + "make MaxLength a multiple of it, or turn one of them off.", nameof(options));
        }
    }

    private int RequireToken(string token, string option) =>
        _ids.TryGetValue(token, out var id)
            ? id
            : throw new ArgumentException($"The vocabulary has no {option} '{token}'; set {option} to a token it has.", option);
}
