using System.Text.Json;
using BertFineTune.Checkpoints;
using System.Text.Json.Nodes;

namespace BertFineTune.Tokenization;

public sealed partial class BertTokenizer
{
    /// <summary>Vocabulary file of the classic layout.</summary>
    internal const string VocabFileName = "vocab.txt";

    /// <summary>The fast-tokenizer file (transformers 5 writes only this one).</summary>
    internal const string TokenizerJsonFileName = "tokenizer.json";

    /// <summary>Settings written by transformers next to either file.</summary>
    internal const string TokenizerConfigFileName = "tokenizer_config.json";

    // transformers writes model_max_length 1e30 when a model sets none: treat anything this large as "unknown".
    private const double UnknownModelMaxLength = 1e12;

    /// <summary>
    /// Loads a tokenizer from <paramref name="path"/>: a model folder (<c>tokenizer.json</c> when present, else
    /// <c>vocab.txt</c>, with <c>tokenizer_config.json</c>'s settings on top and <c>model_max_length</c> capped at
    /// <c>config.json</c>'s <c>max_position_embeddings</c>), a <c>tokenizer.json</c> file (any name ending in
    /// <c>.json</c>: its normaliser settings and added tokens are read), or a <c>vocab.txt</c> file (one token per line,
    /// id = line index, with the default settings: lower-casing and accent stripping, as <c>bert-base-uncased</c>).
    /// <paramref name="configure"/> may change any setting last, e.g. <c>o =&gt; o with { DoLowerCase = false }</c>.
    /// </summary>
    /// <param name="path">A model folder, a <c>tokenizer.json</c> or a <c>vocab.txt</c>.</param>
    /// <param name="configure">Changes the settings read from the files; null keeps them.</param>
    /// <exception cref="FileNotFoundException">The path does not exist, or a folder has neither tokenizer.json nor vocab.txt.</exception>
    /// <exception cref="InvalidDataException">A file is malformed (not a WordPiece tokenizer, gaps in the vocabulary, an empty vocabulary, a bad added token, a duplicate token in tokenizer.json); the message names the file and field. A token repeated in vocab.txt is accepted as transformers' load_vocab accepts it (the last line's id wins).</exception>
    /// <exception cref="ArgumentException">A special token of the settings is not in the vocabulary.</exception>
    public static BertTokenizer Load(string path, Func<BertTokenizerOptions, BertTokenizerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            return LoadFolder(path, configure);
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Tokenizer not found: {path}. Give a model folder, a tokenizer.json or a vocab.txt.", path);
        }
        return path.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            ? LoadTokenizerJson(path, configure)
            : LoadVocabFile(path, configure?.Invoke(new BertTokenizerOptions()));
    }

    /// <summary>A <c>vocab.txt</c> with <paramref name="options"/> (lower-casing by default).</summary>
    private static BertTokenizer LoadVocabFile(string path, BertTokenizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Vocabulary file not found: {path}", path);
        }
        FileKinds.RequireRegular(path, "a WordPiece vocabulary (vocab.txt)");
        var lines = File.ReadAllText(path).Split('\n');
        // A final newline does not add an empty token; a CR before it is part of Windows line endings, not the token.
        var tokens = lines.Take(lines.Length - (lines[^1].Length == 0 ? 1 : 0)).Select(l => l.TrimEnd('\r')).ToList();
        if (tokens.Count == 0)
        {
            throw new InvalidDataException($"{path}: the vocabulary is empty.");
        }
        var tokenizer = new BertTokenizer(tokens, options ?? new BertTokenizerOptions(), null);
        tokenizer.LoadWarnings = DuplicateTokenWarnings(path, tokens);
        return tokenizer;
    }

    /// <summary>
    /// One warning per token that is on more than one line of <paramref name="path"/>, naming the lines. transformers'
    /// <c>load_vocab</c> (<c>vocab[token] = index</c>) and the tokenizers crate's <c>WordPiece::read_file</c>
    /// (<c>vocab.insert(line, index)</c>) both accept the file and give the token its last line's id, so the earlier
    /// ids are never produced; so does this tokenizer, and says so.
    /// </summary>
    internal static IReadOnlyList<string> DuplicateTokenWarnings(string path, IReadOnlyList<string> tokens)
    {
        var lines = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Count; i++)
        {
            if (!lines.TryGetValue(tokens[i], out var list))
            {
                lines[tokens[i]] = list = [];
            }
            list.Add(i + 1);
        }
        return lines.Where(e => e.Value.Count > 1)
            .OrderBy(e => e.Value[0])
            .Select(e =>
            {
                var earlier = e.Value.SkipLast(1).ToList();
                string s = earlier.Count > 1 ? "s" : "";
                return $"{path}: the token '{e.Key}' is on lines {string.Join(" and ", e.Value)}; as transformers' load_vocab and the "
                    + $"tokenizers crate's WordPiece do, it gets the last line's id {e.Value[^1] - 1}, and id{s} "
                    + $"{string.Join(", ", earlier.Select(l => l - 1))} (line{s} {string.Join(", ", earlier)}) will never be produced. "
                    + "Remove a repeated line only if the model was trained without it: removing a line shifts every later id.";
            })
            .ToList();
    }

    /// <summary>
    /// A <c>tokenizer.json</c> with a WordPiece model. Its normaliser settings (lower-casing, accents, CJK) and its
    /// <c>added_tokens</c> are read, the added tokens with every option (<see cref="AddedToken"/>) and with their ids
    /// assigned again as the tokenizers crate's deserialiser does (<c>add_tokens</c> in file order).
    /// </summary>
    private static BertTokenizer LoadTokenizerJson(string path, Func<BertTokenizerOptions, BertTokenizerOptions>? configure)
    {
        var (vocabulary, options, added) = ReadTokenizerJson(path, new BertTokenizerOptions());
        return new BertTokenizer(vocabulary, configure?.Invoke(options) ?? options, added);
    }

    /// <summary>
    /// The tokenizer of a model folder. The added tokens are those of <c>tokenizer_config.json</c>'s
    /// <c>added_tokens_decoder</c> when it has one, else those of <c>tokenizer.json</c>'s <c>added_tokens</c>, as
    /// transformers' <c>from_pretrained</c> chooses.
    /// </summary>
    private static BertTokenizer LoadFolder(string folder, Func<BertTokenizerOptions, BertTokenizerOptions>? configure)
    {
        var json = Path.Combine(folder, TokenizerJsonFileName);
        var vocab = Path.Combine(folder, VocabFileName);
        IReadOnlyList<string> vocabulary;
        var options = new BertTokenizerOptions();
        IReadOnlyList<AddedToken>? added = null;
        IReadOnlyList<string> warnings = [];
        if (File.Exists(json))
        {
            (vocabulary, options, added) = ReadTokenizerJson(json, options);
        }
        else if (File.Exists(vocab))
        {
            var fromFile = LoadVocabFile(vocab);
            vocabulary = fromFile._tokens;
            warnings = fromFile.LoadWarnings;
        }
        else
        {
            throw new FileNotFoundException($"{folder}: no {TokenizerJsonFileName} or {VocabFileName} to build the tokenizer from.", json);
        }

        var configPath = Path.Combine(folder, TokenizerConfigFileName);
        if (File.Exists(configPath))
        {
            (options, var decoder) = ApplyTokenizerConfig(configPath, options);
            // transformers reads tokenizer.json's added_tokens only when tokenizer_config.json has no added_tokens_decoder.
            added = decoder ?? added;
        }
        if (File.Exists(Path.Combine(folder, BertConfig.FileName)))
        {
            int max = BertConfig.Load(folder).MaxPositionEmbeddings;
            options = options with { ModelMaxLength = Math.Min(options.ModelMaxLength ?? max, max) };
        }
        return new BertTokenizer(vocabulary, configure?.Invoke(options) ?? options, added) { LoadWarnings = warnings };
    }

    /// <summary>
    /// Writes the tokenizer to <paramref name="folder"/> (each file atomically): <c>tokenizer.json</c> as the tokenizers
    /// crate serialises a BERT tokenizer (the layout transformers 5's <c>save_pretrained</c> writes), with every added
    /// token in <c>added_tokens</c>; <c>tokenizer_config.json</c> with the settings and the same added tokens in
    /// <c>added_tokens_decoder</c> (as transformers writes it next to a <c>vocab.txt</c>); and <c>vocab.txt</c>, the
    /// WordPiece vocabulary alone. <see cref="Load"/> and transformers' <c>AutoTokenizer.from_pretrained</c> both
    /// load the folder back with the same ids.
    /// </summary>
    public void Save(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        Directory.CreateDirectory(folder);
        // Characters written as they are (not \uXXXX), as Python's json.dumps(ensure_ascii=False) writes them.
        var indented = new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        Checkpoints.AtomicFile.WriteText(Path.Combine(folder, VocabFileName), string.Join("\n", _tokens) + "\n");
        Checkpoints.AtomicFile.WriteText(Path.Combine(folder, TokenizerJsonFileName), TokenizerJson().ToJsonString(indented) + "\n");
        var decoder = new JsonObject();
        foreach (var (id, token) in _added.TokensById.OrderBy(t => t.Key))
        {
            decoder[id.ToString(System.Globalization.CultureInfo.InvariantCulture)] = AddedTokenJson(token, null);
        }
        var config = new JsonObject
        {
            ["added_tokens_decoder"] = decoder,
            ["tokenizer_class"] = "BertTokenizer",
            ["do_lower_case"] = Options.DoLowerCase,
            ["strip_accents"] = Options.StripAccents,
            ["tokenize_chinese_chars"] = Options.TokenizeChineseChars,
            ["unk_token"] = Options.UnknownToken,
            ["cls_token"] = Options.ClsToken,
            ["sep_token"] = Options.SepToken,
            ["pad_token"] = Options.PadToken,
            ["mask_token"] = Options.MaskToken,
            ["clean_up_tokenization_spaces"] = Options.CleanUpTokenizationSpaces,
        };
        if (Options.ModelMaxLength is { } max)
        {
            config["model_max_length"] = max;
        }
        Checkpoints.AtomicFile.WriteText(Path.Combine(folder, TokenizerConfigFileName), config.ToJsonString(indented) + "\n");
    }

    /// <summary>This tokenizer as the tokenizers crate serialises a BERT tokenizer (field order of <c>serialization.rs</c>).</summary>
    private JsonObject TokenizerJson()
    {
        var added = new JsonArray();
        foreach (var (id, token) in _added.TokensById.OrderBy(t => t.Key))
        {
            added.Add(AddedTokenJson(token, id));
        }
        var vocab = new JsonObject();
        for (int i = 0; i < _tokens.Length; i++)
        {
            vocab[_tokens[i]] = i;
        }
        JsonObject Special(string token, int id) => new()
        {
            ["SpecialToken"] = new JsonObject { ["id"] = token, ["type_id"] = id },
        };
        JsonObject Sequence(string name, int typeId) => new()
        {
            ["Sequence"] = new JsonObject { ["id"] = name, ["type_id"] = typeId },
        };
        return new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = new JsonObject
            {
                ["type"] = "BertNormalizer",
                ["clean_text"] = true,
                ["handle_chinese_chars"] = Options.TokenizeChineseChars,
                ["strip_accents"] = Options.StripAccents,
                ["lowercase"] = Options.DoLowerCase,
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(Special(Options.ClsToken, 0), Sequence("A", 0), Special(Options.SepToken, 0)),
                ["pair"] = new JsonArray(Special(Options.ClsToken, 0), Sequence("A", 0), Special(Options.SepToken, 0),
                    Sequence("B", 1), Special(Options.SepToken, 1)),
                ["special_tokens"] = new JsonObject
                {
                    [Options.ClsToken] = new JsonObject { ["id"] = Options.ClsToken, ["ids"] = new JsonArray(ClsTokenId), ["tokens"] = new JsonArray(Options.ClsToken) },
                    [Options.SepToken] = new JsonObject { ["id"] = Options.SepToken, ["ids"] = new JsonArray(SepTokenId), ["tokens"] = new JsonArray(Options.SepToken) },
                },
            },
            ["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = Options.ContinuingSubwordPrefix, ["cleanup"] = Options.CleanUpTokenizationSpaces },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece",
                ["unk_token"] = Options.UnknownToken,
                ["continuing_subword_prefix"] = Options.ContinuingSubwordPrefix,
                ["max_input_chars_per_word"] = Options.MaxInputCharsPerWord,
                ["vocab"] = vocab,
            },
        };
    }

    /// <summary>An added token as tokenizer.json (with <paramref name="id"/>) or added_tokens_decoder (without) holds it.</summary>
    private static JsonObject AddedTokenJson(AddedToken token, int? id)
    {
        var json = new JsonObject();
        if (id is { } value)
        {
            json["id"] = value;
        }
        json["content"] = token.Content;
        json["single_word"] = token.SingleWord;
        json["lstrip"] = token.LStrip;
        json["rstrip"] = token.RStrip;
        json["normalized"] = token.IsNormalized;
        json["special"] = token.Special;
        return json;
    }

    private static (IReadOnlyList<string> Vocabulary, BertTokenizerOptions Options, List<AddedToken> Added) ReadTokenizerJson(
        string path, BertTokenizerOptions options)
    {
        using var document = ParseJson(path);
        var root = document.RootElement;
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object
            || !model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{path}: no model.vocab object; this file is not a WordPiece tokenizer.");
        }
        if (model.TryGetProperty("type", out var type) && type.GetString() != "WordPiece")
        {
            throw new InvalidDataException($"{path}: model type '{type.GetString()}' is not supported; BERT uses WordPiece.");
        }
        var byId = new SortedDictionary<int, string>();
        foreach (var entry in vocab.EnumerateObject())
        {
            if (!entry.Value.TryGetInt32(out var id) || id < 0)
            {
                throw new InvalidDataException($"{path}: model.vocab['{entry.Name}'] is not a non-negative integer id.");
            }
            if (!byId.TryAdd(id, entry.Name))
            {
                throw new InvalidDataException($"{path}: id {id} is given to both '{byId[id]}' and '{entry.Name}'.");
            }
        }
        var vocabulary = new List<string>(byId.Count);
        foreach (var (id, token) in byId)
        {
            if (id != vocabulary.Count)
            {
                throw new InvalidDataException($"{path}: the vocabulary has no token with id {vocabulary.Count}; ids must run from 0 without gaps.");
            }
            vocabulary.Add(token);
        }

        options = options with
        {
            UnknownToken = StringOr(model, "unk_token", options.UnknownToken),
            ContinuingSubwordPrefix = StringOr(model, "continuing_subword_prefix", options.ContinuingSubwordPrefix),
            MaxInputCharsPerWord = model.TryGetProperty("max_input_chars_per_word", out var maxChars) && maxChars.TryGetInt32(out var m)
                ? m : options.MaxInputCharsPerWord,
        };
        if (root.TryGetProperty("normalizer", out var normalizer) && normalizer.ValueKind == JsonValueKind.Object)
        {
            options = options with
            {
                DoLowerCase = BoolOr(normalizer, "lowercase", options.DoLowerCase),
                StripAccents = normalizer.TryGetProperty("strip_accents", out var strip) && strip.ValueKind is JsonValueKind.True or JsonValueKind.False
                    ? strip.GetBoolean() : options.StripAccents,
                TokenizeChineseChars = BoolOr(normalizer, "handle_chinese_chars", options.TokenizeChineseChars),
            };
        }
        if (root.TryGetProperty("decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
        {
            options = options with { CleanUpTokenizationSpaces = BoolOr(decoder, "cleanup", options.CleanUpTokenizationSpaces) };
        }
        var addedTokens = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind != JsonValueKind.Null)
        {
            if (added.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException($"{path}: added_tokens must be an array of tokens.");
            }
            int index = 0;
            foreach (var token in added.EnumerateArray())
            {
                // The ids in the file are not used: the crate's deserialiser adds the tokens in file order and assigns ids
                // again (a token of the WordPiece vocabulary keeps its id, a new one gets the next id past it).
                addedTokens.Add(ReadAddedToken(token, path, $"added_tokens[{index++}]"));
            }
        }
        return (vocabulary, options, addedTokens);
    }

    /// <summary>
    /// One added token as tokenizer.json's <c>added_tokens</c> or tokenizer_config.json's <c>added_tokens_decoder</c>
    /// writes it: <c>content</c>, and the booleans <c>single_word</c>, <c>lstrip</c>, <c>rstrip</c>, <c>normalized</c>,
    /// <c>special</c>. A missing boolean takes the tokenizers crate's <c>AddedToken::from</c> default (false;
    /// <c>normalized</c> = not <c>special</c>).
    /// </summary>
    private static AddedToken ReadAddedToken(JsonElement element, string path, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{path}: {where} must be an object with a \"content\" string.");
        }
        if (!element.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
        {
            throw new InvalidDataException($"{path}: {where} has no \"content\" string.");
        }
        bool? Flag(string name) =>
            !element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
            : value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean()
            : throw new InvalidDataException($"{path}: {where}.{name} must be true or false, got {value.GetRawText()}.");
        return new AddedToken(content.GetString()!)
        {
            SingleWord = Flag("single_word") ?? false,
            LStrip = Flag("lstrip") ?? false,
            RStrip = Flag("rstrip") ?? false,
            Normalized = Flag("normalized"),
            Special = Flag("special") ?? false,
        };
    }

    /// <summary>
    /// tokenizer_config.json's <c>added_tokens_decoder</c> (<c>{"id": token}</c>), in id order as transformers adds them
    /// (<c>TokenizersBackend.__init__</c> sorts by id); null when the file has none.
    /// </summary>
    private static List<AddedToken>? ReadAddedTokensDecoder(JsonElement root, string path)
    {
        if (!root.TryGetProperty("added_tokens_decoder", out var decoder) || decoder.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (decoder.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{path}: added_tokens_decoder must be an object of id to token.");
        }
        var byId = new SortedDictionary<int, AddedToken>();
        foreach (var entry in decoder.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
            {
                throw new InvalidDataException($"{path}: added_tokens_decoder key '{entry.Name}' is not a token id.");
            }
            byId[id] = ReadAddedToken(entry.Value, path, $"added_tokens_decoder[\"{entry.Name}\"]");
        }
        return [.. byId.Values];
    }

    /// <summary>
    /// Applies <c>tokenizer_config.json</c>: casing, accents, CJK, model_max_length and special token names; also
    /// returns its added_tokens_decoder (null when absent).
    /// </summary>
    private static (BertTokenizerOptions Options, List<AddedToken>? Added) ApplyTokenizerConfig(string path, BertTokenizerOptions options)
    {
        using var document = ParseJson(path);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{path}: the file must hold a JSON object.");
        }
        options = options with
        {
            DoLowerCase = BoolOr(root, "do_lower_case", options.DoLowerCase),
            TokenizeChineseChars = BoolOr(root, "tokenize_chinese_chars", options.TokenizeChineseChars),
            UnknownToken = SpecialTokenOr(root, "unk_token", options.UnknownToken),
            ClsToken = SpecialTokenOr(root, "cls_token", options.ClsToken),
            SepToken = SpecialTokenOr(root, "sep_token", options.SepToken),
            PadToken = SpecialTokenOr(root, "pad_token", options.PadToken),
            MaskToken = SpecialTokenOr(root, "mask_token", options.MaskToken),
        };
        if (root.TryGetProperty("strip_accents", out var strip))
        {
            options = options with
            {
                StripAccents = strip.ValueKind switch
                {
                    JsonValueKind.True or JsonValueKind.False => strip.GetBoolean(),
                    JsonValueKind.Null => null,
                    _ => throw new InvalidDataException($"{path}: strip_accents must be true, false or null."),
                },
            };
        }
        if (root.TryGetProperty("model_max_length", out var maxLength) && maxLength.ValueKind == JsonValueKind.Number)
        {
            var value = maxLength.GetDouble();
            options = options with { ModelMaxLength = value is > 0 and < UnknownModelMaxLength ? (int)Math.Min(value, int.MaxValue) : null };
        }
        if (root.TryGetProperty("clean_up_tokenization_spaces", out var cleanUp) && cleanUp.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            options = options with { CleanUpTokenizationSpaces = cleanUp.GetBoolean() };
        }
        return (options, ReadAddedTokensDecoder(root, path));
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            FileKinds.RequireRegular(path, "a tokenizer JSON file");
            return JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e);
        }
    }

    private static string StringOr(JsonElement element, string name, string fallback) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : fallback;

    private static bool BoolOr(JsonElement element, string name, bool fallback) =>
        element.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : fallback;

    /// <summary>A special token given as a string or, in older files, as an object with "content".</summary>
    private static string SpecialTokenOr(JsonElement root, string name, string fallback)
    {
        if (!root.TryGetProperty(name, out var value))
        {
            return fallback;
        }
        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Object when value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String => content.GetString()!,
            _ => fallback,
        };
    }
}
