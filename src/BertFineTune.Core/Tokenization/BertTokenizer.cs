using System.Text;
using MlWordPiece = Microsoft.ML.Tokenizers.WordPieceTokenizer;
using MlWordPieceOptions = Microsoft.ML.Tokenizers.WordPieceOptions;

namespace BertFineTune.Tokenization;

/// <summary>
/// A BERT WordPiece tokenizer that encodes exactly as Hugging Face's fast BERT tokenizer: the same normalisation,
/// special-token handling, truncation strategies, overflow windows, offsets into the original text, word and sequence
/// ids, padding and decoding. Microsoft.ML.Tokenizers' <c>WordPieceTokenizer</c> splits words into pieces; normalisation
/// and pre-tokenisation are this library's, because Microsoft.ML.Tokenizers 2.0's differ from transformers'. Added tokens
/// (<see cref="AddedToken"/>: the named special tokens, a tokenizer file's <c>added_tokens</c>, <see cref="AddTokens(IEnumerable{string}, bool)"/>)
/// are matched before WordPiece runs, as the tokenizers crate's <c>AddedVocabulary</c> does.
/// </summary>
/// <remarks>Immutable: one instance may be used from any number of threads at once; <c>AddTokens</c> returns a new one.</remarks>
public sealed partial class BertTokenizer
{
    private readonly MlWordPiece _wordPiece;
    private readonly BertTextNormalizer _normalizer;
    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _ids;

    /// <summary>What loading found and accepted as transformers does, to be shown to the user (a token on two lines of vocab.txt).</summary>
    internal IReadOnlyList<string> LoadWarnings { get; private set; } = [];
    private readonly int[] _pieceLength;
    private readonly int[] _continuationLength;
    private readonly AddedVocabulary _added;
    private readonly Func<int, string> _tokenOf;

    private BertTokenizer(IReadOnlyList<string> vocabulary, BertTokenizerOptions options, IEnumerable<AddedToken>? addedTokens)
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

        var prefix = options.ContinuingSubwordPrefix;
        _pieceLength = _tokens.Select(t => t.Length).ToArray();
        _continuationLength = _tokens.Select(t => t.StartsWith(prefix, StringComparison.Ordinal) ? t.Length - prefix.Length : -1).ToArray();

        _normalizer = new BertTextNormalizer(options.DoLowerCase, options.EffectiveStripAccents, options.TokenizeChineseChars);
        // The unknown token must be a WordPiece token: the WordPiece model emits it.
        if (!_ids.ContainsKey(options.UnknownToken))
        {
            throw MissingSpecialToken(nameof(options.UnknownToken), options.UnknownToken);
        }
        // Microsoft.ML.Tokenizers' WordPiece refuses a repeated line; give it, in place of each line a later one
        // repeats, a token no input can produce (the normalizer removes U+0000), so ids stay line numbers and the last
        // line's id wins as in load_vocab and the tokenizers crate's WordPiece read_file.
        var wordPieceLines = _tokens.Select((t, i) => _ids[t] == i ? t : $"\0shadowed\0{i}");
        using var vocabStream = new MemoryStream(new UTF8Encoding(false).GetBytes(string.Join("\n", wordPieceLines) + "\n"));
        _wordPiece = MlWordPiece.Create(vocabStream, new MlWordPieceOptions
        {
            UnknownToken = options.UnknownToken,
            ContinuingSubwordPrefix = prefix,
            // The code-point limit is applied here; Microsoft.ML.Tokenizers counts UTF-16 units, at most two per code point.
            MaxInputCharsPerWord = Math.Max(2 * options.MaxInputCharsPerWord, 2),
        });

        // The file's added tokens first (tokenizer.json's added_tokens or tokenizer_config.json's added_tokens_decoder),
        // then the named special tokens, as special and not normalized: transformers' TokenizersBackend.__init__ adds the
        // named special tokens that are not added yet the same way, so "[MASK]" in a text is always one token.
        var given = (addedTokens ?? []).ToList();
        var named = NamedSpecialTokens(options);
        foreach (var (option, token) in named)
        {
            if (!_ids.ContainsKey(token) && !given.Any(t => t.Content == token))
            {
                throw MissingSpecialToken(option, token);
            }
        }
        _added = AddedVocabulary.Empty.With(
            given.Concat(named.Select(n => new AddedToken(n.Token) { Special = true, Normalized = false })),
            BaseTokenToId, _tokens.Length, _normalizer, out _);
        SetSpecialTokenIds(out var unk, out var cls, out var sep, out var pad, out var mask);
        (UnknownTokenId, ClsTokenId, SepTokenId, PadTokenId, MaskTokenId) = (unk, cls, sep, pad, mask);
    }

    /// <summary>A tokenizer sharing <paramref name="source"/>'s WordPiece vocabulary, with other options or added tokens.</summary>
    private BertTokenizer(BertTokenizer source, BertTokenizerOptions options, AddedVocabulary added)
    {
        Options = options;
        _tokenOf = IdToToken;
        _tokens = source._tokens;
        _ids = source._ids;
        LoadWarnings = source.LoadWarnings;
        _pieceLength = source._pieceLength;
        _continuationLength = source._continuationLength;
        _normalizer = source._normalizer;
        _wordPiece = source._wordPiece;
        _added = added;
        SetSpecialTokenIds(out var unk, out var cls, out var sep, out var pad, out var mask);
        (UnknownTokenId, ClsTokenId, SepTokenId, PadTokenId, MaskTokenId) = (unk, cls, sep, pad, mask);
    }

    private static (string Option, string Token)[] NamedSpecialTokens(BertTokenizerOptions options) =>
    [
        (nameof(options.PadToken), options.PadToken), (nameof(options.UnknownToken), options.UnknownToken),
        (nameof(options.ClsToken), options.ClsToken), (nameof(options.SepToken), options.SepToken),
        (nameof(options.MaskToken), options.MaskToken),
    ];

    private void SetSpecialTokenIds(out int unk, out int cls, out int sep, out int pad, out int mask)
    {
        int Require(string option, string token) => TokenToId(token) ?? throw MissingSpecialToken(option, token);
        unk = Require(nameof(Options.UnknownToken), Options.UnknownToken);
        cls = Require(nameof(Options.ClsToken), Options.ClsToken);
        sep = Require(nameof(Options.SepToken), Options.SepToken);
        pad = Require(nameof(Options.PadToken), Options.PadToken);
        mask = Require(nameof(Options.MaskToken), Options.MaskToken);
    }

    private static ArgumentException MissingSpecialToken(string option, string token) =>
        new($"The vocabulary has no {option} '{token}'; set {option} to a token it has.", option);

    private int? BaseTokenToId(string token) => _ids.TryGetValue(token, out var id) ? id : null;

    /// <summary>The settings this tokenizer was built with.</summary>
    public BertTokenizerOptions Options { get; }

    /// <summary>
    /// Number of token ids: the WordPiece vocabulary plus the added tokens past it (transformers' <c>len(tokenizer)</c>,
    /// the size to give <c>BertForTask.ResizeTokenEmbeddings</c>).
    /// </summary>
    public int VocabularySize => Math.Max(_tokens.Length, _added.MaxId + 1);

    /// <summary>
    /// Every added token by id (transformers' <c>added_tokens_decoder</c>): the named special tokens (<c>[PAD]</c>,
    /// <c>[UNK]</c>, <c>[CLS]</c>, <c>[SEP]</c>, <c>[MASK]</c>) and those of the tokenizer file or of <see cref="AddTokens(IEnumerable{AddedToken}, bool)"/>.
    /// </summary>
    public IReadOnlyDictionary<int, AddedToken> AddedTokensDecoder => _added.TokensById;

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

    /// <summary>Ids of every special added token, the named ones included (skipped by <see cref="Decode"/> on request).</summary>
    public IReadOnlySet<int> SpecialTokenIds => _added.SpecialIds;

    /// <summary>This tokenizer with <see cref="BertTokenizerOptions.ModelMaxLength"/> set to <paramref name="maxLength"/>.</summary>
    public BertTokenizer WithModelMaxLength(int maxLength) =>
        Options.ModelMaxLength == maxLength ? this : new BertTokenizer(this, Options with { ModelMaxLength = maxLength }, _added);

    /// <summary>
    /// A new tokenizer with <paramref name="tokens"/> added (transformers' <c>add_tokens(new_tokens, special_tokens)</c>);
    /// this one is unchanged. A string becomes an <see cref="AddedToken"/> that is normalized, or, with
    /// <paramref name="specialTokens"/>, special and not normalized (the tokenizers crate's <c>add_tokens</c> and
    /// <c>add_special_tokens</c>). Ids are assigned as <c>AddedVocabulary::add_tokens</c> does: a token already in the
    /// vocabulary keeps its id, a new one gets the next id past the vocabulary. Resize the model's word embeddings to
    /// the new <see cref="VocabularySize"/> before training (<c>BertForTask.ResizeTokenEmbeddings</c>, or
    /// <c>BertModelBuilder.WithAddedTokens</c>, which does both).
    /// </summary>
    /// <exception cref="ArgumentException">A token is null, or two normalized tokens have the same normalized form.</exception>
    public BertTokenizer AddTokens(IEnumerable<string> tokens, bool specialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return AddTokens(tokens.Select(t => new AddedToken(t ?? throw new ArgumentException("A token is null.", nameof(tokens)))), specialTokens);
    }

    /// <summary>
    /// A new tokenizer with <paramref name="tokens"/> added, with their matching options; with
    /// <paramref name="specialTokens"/> each is made special (transformers' <c>add_special_tokens</c>). See
    /// <see cref="AddTokens(IEnumerable{string}, bool)"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A token is null, or two normalized tokens have the same normalized form.</exception>
    public BertTokenizer AddTokens(IEnumerable<AddedToken> tokens, bool specialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        var list = tokens.Select(t => t is null ? throw new ArgumentException("A token is null.", nameof(tokens)) : specialTokens ? t with { Special = true } : t).ToList();
        var added = _added.With(list, BaseTokenToId, _tokens.Length, _normalizer, out int count);
        return count == 0 ? this : new BertTokenizer(this, Options, added);
    }

    /// <summary>The id of <paramref name="token"/> (an added token's content, or a WordPiece token), or null when it has none.</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return _added.TryGetId(token, out var added) ? added : BaseTokenToId(token);
    }

    /// <summary>
    /// The token string of <paramref name="id"/>: an added token's content (its normalized form for a normalized token,
    /// as the tokenizers crate's <c>id_to_token</c>), else the WordPiece token.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">No token has this id.</exception>
    public string IdToToken(int id) =>
        _added.TryGetToken(id, out var added) ? added
        : (uint)id < (uint)_tokens.Length ? _tokens[id]
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is outside the vocabulary of {VocabularySize} tokens.");

    /// <summary>The tokens of <paramref name="text"/>, without special tokens added around it (transformers' <c>tokenize</c>).</summary>
    public IReadOnlyList<string> Tokenize(string text)
    {
        var sequence = Split(text);
        return sequence.Ids.Select((id, i) => sequence.Values?[i] ?? IdToToken(id)).ToList();
    }

    /// <summary>Encodes a text, or a text pair, into its first (or only) window.</summary>
    /// <exception cref="ArgumentException">The options cannot be satisfied (where transformers raises too).</exception>
    public EncodedText Encode(string text, string? pair = null, EncodingOptions? options = null) =>
        EncodeWindows(text, pair, (options ?? new EncodingOptions()) with { ReturnOverflowingTokens = false })[0];

    /// <summary>
    /// Encodes a text or pair into every window that truncation with <see cref="EncodingOptions.Stride"/> produces when
    /// <see cref="EncodingOptions.ReturnOverflowingTokens"/> is set (the first window only otherwise); windows are padded together.
    /// </summary>
    public IReadOnlyList<EncodedText> EncodeWindows(string text, string? pair = null, EncodingOptions? options = null)
    {
        options ??= new EncodingOptions();
        ValidatePadToMultipleOf(options);
        var windows = EncodeSample(text, pair, options, 0);
        return Pad(windows, options);
    }

    /// <summary>
    /// Encodes many texts (or pairs) in parallel on all cores, then pads them together. With overflow windows, each
    /// encoding's <see cref="EncodedText.SampleIndex"/> names its input.
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
        var perSample = new IReadOnlyList<EncodedText>[texts.Count];
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
    /// and (by default) the space before <c>. ? ! ,</c> removed. With <paramref name="skipSpecialTokens"/>, tokens whose
    /// string is a special added token's content are left out (the tokenizers crate's <c>decode</c>); added tokens
    /// decode to their content (or normalized form) like any other piece.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id has no token.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var builder = new StringBuilder();
        var prefix = Options.ContinuingSubwordPrefix;
        bool first = true;
        foreach (var id in ids)
        {
            var token = IdToToken(id);
            if (skipSpecialTokens && _added.IsSpecialToken(token))
            {
                continue;
            }
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
}
