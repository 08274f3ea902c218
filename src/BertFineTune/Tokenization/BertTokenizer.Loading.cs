using System.Text.Json;

namespace BertFineTune.Tokenization;

public sealed partial class BertTokenizer
{
    /// <summary>Vocabulary file of the classic layout.</summary>
    public const string VocabFileName = "vocab.txt";

    /// <summary>The fast-tokenizer file (transformers 5 writes only this one).</summary>
    public const string TokenizerJsonFileName = "tokenizer.json";

    /// <summary>Settings written by transformers next to either file.</summary>
    public const string TokenizerConfigFileName = "tokenizer_config.json";

    // transformers writes model_max_length 1e30 when a model sets none: treat anything this large as "unknown".
    private const double UnknownModelMaxLength = 1e12;

    /// <summary>Loads a <c>vocab.txt</c> (one token per line, id = line index) with <paramref name="options"/> (lower-casing by default).</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="ArgumentException">A special token of the options is not in the vocabulary.</exception>
    public static BertTokenizer FromVocabFile(string path, BertTokenizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Vocabulary file not found: {path}", path);
        }
        var lines = File.ReadAllText(path).Split('\n');
        // A final newline does not add an empty token; a CR before it is part of Windows line endings, not the token.
        var tokens = lines.Take(lines.Length - (lines[^1].Length == 0 ? 1 : 0)).Select(l => l.TrimEnd('\r')).ToList();
        if (tokens.Count == 0)
        {
            throw new InvalidDataException($"{path}: the vocabulary is empty.");
        }
        return new BertTokenizer(tokens, options ?? new BertTokenizerOptions(), null);
    }

    /// <summary>
    /// Loads a <c>tokenizer.json</c> with a WordPiece model. Its normaliser settings (lower-casing, accents, CJK) and
    /// special tokens are read; <paramref name="configure"/> may adjust the result.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a WordPiece tokenizer or its vocabulary has gaps.</exception>
    public static BertTokenizer FromTokenizerJson(string path, Func<BertTokenizerOptions, BertTokenizerOptions>? configure = null)
    {
        var (vocabulary, options, specials) = ReadTokenizerJson(path, new BertTokenizerOptions());
        return new BertTokenizer(vocabulary, configure?.Invoke(options) ?? options, specials);
    }

    /// <summary>
    /// Loads the tokenizer of a model folder: <c>tokenizer.json</c> when present, else <c>vocab.txt</c>, with
    /// <c>tokenizer_config.json</c>'s settings on top; <c>model_max_length</c> is capped at <c>config.json</c>'s
    /// <c>max_position_embeddings</c>. <paramref name="configure"/> may override any setting last.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder has neither tokenizer.json nor vocab.txt.</exception>
    public static BertTokenizer FromFolder(string folder, Func<BertTokenizerOptions, BertTokenizerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var json = Path.Combine(folder, TokenizerJsonFileName);
        var vocab = Path.Combine(folder, VocabFileName);
        IReadOnlyList<string> vocabulary;
        var options = new BertTokenizerOptions();
        IEnumerable<string>? specials = null;
        if (File.Exists(json))
        {
            (vocabulary, options, specials) = ReadTokenizerJson(json, options);
        }
        else if (File.Exists(vocab))
        {
            vocabulary = FromVocabFile(vocab)._tokens;
        }
        else
        {
            throw new FileNotFoundException($"{folder}: no {TokenizerJsonFileName} or {VocabFileName} to build the tokenizer from.", json);
        }

        var configPath = Path.Combine(folder, TokenizerConfigFileName);
        if (File.Exists(configPath))
        {
            options = ApplyTokenizerConfig(configPath, options);
        }
        var modelConfig = Path.Combine(folder, "config.json");
        if (File.Exists(modelConfig))
        {
            using var document = ParseJson(modelConfig);
            if (document.RootElement.TryGetProperty("max_position_embeddings", out var positions) && positions.TryGetInt32(out var max))
            {
                options = options with { ModelMaxLength = Math.Min(options.ModelMaxLength ?? max, max) };
            }
        }
        return new BertTokenizer(vocabulary, configure?.Invoke(options) ?? options, specials);
    }

    /// <summary>
    /// Writes <c>vocab.txt</c> and <c>tokenizer_config.json</c> to <paramref name="folder"/> (each atomically), which
    /// transformers' <c>AutoTokenizer.from_pretrained</c> and <see cref="FromFolder"/> both load. A <c>tokenizer.json</c>
    /// already in the folder is removed, because loaders prefer it and it would no longer describe this tokenizer.
    /// </summary>
    public void Save(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        Directory.CreateDirectory(folder);
        Checkpoints.AtomicFile.WriteText(Path.Combine(folder, VocabFileName), string.Join("\n", _tokens) + "\n");
        var config = new System.Text.Json.Nodes.JsonObject
        {
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
        Checkpoints.AtomicFile.WriteText(Path.Combine(folder, TokenizerConfigFileName),
            config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        File.Delete(Path.Combine(folder, TokenizerJsonFileName));
    }

    private static (IReadOnlyList<string> Vocabulary, BertTokenizerOptions Options, List<string> Specials) ReadTokenizerJson(
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
        var specials = new List<string>();
        if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
        {
            foreach (var token in added.EnumerateArray())
            {
                if (token.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String
                    && BoolOr(token, "special", false))
                {
                    specials.Add(content.GetString()!);
                }
            }
        }
        return (vocabulary, options, specials);
    }

    /// <summary>Applies <c>tokenizer_config.json</c>: casing, accents, CJK, model_max_length and special token names.</summary>
    private static BertTokenizerOptions ApplyTokenizerConfig(string path, BertTokenizerOptions options)
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
        return options;
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
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
