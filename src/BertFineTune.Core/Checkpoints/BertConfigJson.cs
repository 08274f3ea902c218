using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BertFineTune.Checkpoints;

/// <summary>
/// Reads and writes <see cref="BertConfig"/> as transformers' <c>config.json</c>: field names, the defaults of a field the
/// file omits (taken from <see cref="BertConfig"/>'s own initialisers, so they are written once), <c>id2label</c>/
/// <c>label2id</c>, <c>problem_type</c> spellings, and every field the record does not model kept for writing back.
/// </summary>
internal static class BertConfigJson
{
    /// <summary>The values of every field a file omits: the record's initialisers, which are transformers' <c>BertConfig</c> defaults.</summary>
    private static readonly BertConfig Defaults = new();

    /// <summary><c>problem_type</c> as transformers spells it (<c>configuration_utils.py</c>, the allowed problem types).</summary>
    private static readonly IReadOnlyDictionary<ProblemType, string> ProblemTypeNames = new Dictionary<ProblemType, string>
    {
        [ProblemType.Regression] = "regression",
        [ProblemType.SingleLabelClassification] = "single_label_classification",
        [ProblemType.MultiLabelClassification] = "multi_label_classification",
    };

    /// <summary>
    /// <c>classifier_pooling</c> spellings: ModernBERT's <c>"cls"</c> and <c>"mean"</c> (<c>configuration_modernbert.py</c>,
    /// <c>ModernBertConfig.__init__</c>), plus <c>"max"</c> and <c>"pooler"</c>, BERT's own pooled output.
    /// </summary>
    private static readonly IReadOnlyDictionary<PoolingMode, string> PoolingNames = new Dictionary<PoolingMode, string>
    {
        [PoolingMode.Pooler] = "pooler",
        [PoolingMode.Cls] = "cls",
        [PoolingMode.Mean] = "mean",
        [PoolingMode.Max] = "max",
    };

    private static readonly string[] KnownFields =
    [
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
        "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
        "initializer_range", "layer_norm_eps", "pad_token_id", "position_embedding_type", "classifier_dropout",
        "id2label", "label2id", "num_labels", "problem_type", "architectures", "model_type", "dtype", "torch_dtype",
        "tie_word_embeddings", "is_decoder", "add_cross_attention", "classifier_pooling",
    ];

    /// <summary>The <c>problem_type</c> string transformers writes for <paramref name="problemType"/>.</summary>
    public static string NameOf(ProblemType problemType) => ProblemTypeNames[problemType];

    /// <summary>The <c>classifier_pooling</c> string for <paramref name="pooling"/> (<c>pooler</c>, <c>cls</c>, <c>mean</c>, <c>max</c>).</summary>
    public static string NameOf(PoolingMode pooling) => PoolingNames[pooling];

    /// <summary>Parses config JSON and validates the result; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="BertConfigException">The JSON is malformed, a field has the wrong type, or a value is invalid.</exception>
    public static BertConfig Read(string json, string source)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonObject root;
        try
        {
            // JsonNode throws ArgumentException, on first access, for a name given twice in one object; find it first.
            using (var document = JsonDocument.Parse(json))
            {
                CheckNoDuplicateNames(document.RootElement, null, null, source);
            }
            root = JsonNode.Parse(json) as JsonObject
                ?? throw new BertConfigException(source, null, "the file must hold a JSON object.");
        }
        catch (JsonException e)
        {
            throw new BertConfigException(source, null, $"not valid JSON: {e.Message}");
        }

        var reader = new FieldReader(root, source);
        var config = new BertConfig
        {
            VocabSize = reader.Int("vocab_size") ?? Defaults.VocabSize,
            HiddenSize = reader.Int("hidden_size") ?? Defaults.HiddenSize,
            NumHiddenLayers = reader.Int("num_hidden_layers") ?? Defaults.NumHiddenLayers,
            NumAttentionHeads = reader.Int("num_attention_heads") ?? Defaults.NumAttentionHeads,
            IntermediateSize = reader.Int("intermediate_size") ?? Defaults.IntermediateSize,
            HiddenAct = reader.String("hidden_act") ?? Defaults.HiddenAct,
            HiddenDropoutProb = reader.Double("hidden_dropout_prob") ?? Defaults.HiddenDropoutProb,
            AttentionProbsDropoutProb = reader.Double("attention_probs_dropout_prob") ?? Defaults.AttentionProbsDropoutProb,
            MaxPositionEmbeddings = reader.Int("max_position_embeddings") ?? Defaults.MaxPositionEmbeddings,
            TypeVocabSize = reader.Int("type_vocab_size") ?? Defaults.TypeVocabSize,
            InitializerRange = reader.Double("initializer_range") ?? Defaults.InitializerRange,
            LayerNormEps = reader.Double("layer_norm_eps") ?? Defaults.LayerNormEps,
            // An explicit null means "no padding token", which differs from an absent field (the default id).
            PadTokenId = root.ContainsKey("pad_token_id") ? reader.Int("pad_token_id") : Defaults.PadTokenId,
            PositionEmbeddingType = reader.String("position_embedding_type") ?? Defaults.PositionEmbeddingType,
            ClassifierDropout = reader.Double("classifier_dropout") ?? Defaults.ClassifierDropout,
            ClassifierPooling = reader.ClassifierPooling() ?? Defaults.ClassifierPooling,
            Labels = reader.Labels(),
            ProblemType = reader.ProblemType() ?? Defaults.ProblemType,
            Architectures = reader.StringList("architectures") ?? Defaults.Architectures,
            ModelType = reader.String("model_type") ?? Defaults.ModelType,
            DType = reader.String("dtype") ?? reader.String("torch_dtype") ?? Defaults.DType,
            TieWordEmbeddings = reader.Bool("tie_word_embeddings") ?? Defaults.TieWordEmbeddings,
            IsDecoder = reader.Bool("is_decoder") ?? Defaults.IsDecoder,
            AddCrossAttention = reader.Bool("add_cross_attention") ?? Defaults.AddCrossAttention,
            OtherFields = ExtractOtherFields(root),
        };
        config.Validate(source);
        return config;
    }

    /// <summary>
    /// The config as transformers writes it: every modelled field, <c>id2label</c>/<c>label2id</c>, and every field the
    /// record does not model, unchanged; keys sorted as <c>PretrainedConfig.to_json_string</c> sorts them.
    /// </summary>
    public static string Write(BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var root = (JsonObject)config.OtherFields.DeepClone();
        root["architectures"] = new JsonArray(config.Architectures.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray());
        root["attention_probs_dropout_prob"] = config.AttentionProbsDropoutProb;
        root["classifier_dropout"] = config.ClassifierDropout is { } c ? JsonValue.Create(c) : null;
        // Absent means the pooler, so a config that keeps transformers' behaviour is written as transformers writes it.
        if (config.ClassifierPooling != PoolingMode.Pooler)
        {
            root["classifier_pooling"] = NameOf(config.ClassifierPooling);
        }
        if (config.DType is not null)
        {
            root["dtype"] = config.DType;
        }
        root["hidden_act"] = config.HiddenAct;
        root["hidden_dropout_prob"] = config.HiddenDropoutProb;
        root["hidden_size"] = config.HiddenSize;
        var id2label = new JsonObject();
        var label2id = new JsonObject();
        for (int i = 0; i < config.Labels.Count; i++)
        {
            id2label[i.ToString(CultureInfo.InvariantCulture)] = config.Labels[i];
            label2id[config.Labels[i]] = i;
        }
        root["id2label"] = id2label;
        root["initializer_range"] = config.InitializerRange;
        root["intermediate_size"] = config.IntermediateSize;
        root["is_decoder"] = config.IsDecoder;
        root["add_cross_attention"] = config.AddCrossAttention;
        root["label2id"] = label2id;
        root["layer_norm_eps"] = config.LayerNormEps;
        root["max_position_embeddings"] = config.MaxPositionEmbeddings;
        root["model_type"] = config.ModelType;
        root["num_attention_heads"] = config.NumAttentionHeads;
        root["num_hidden_layers"] = config.NumHiddenLayers;
        root["pad_token_id"] = config.PadTokenId;
        root["position_embedding_type"] = config.PositionEmbeddingType;
        if (config.ProblemType is { } problemType)
        {
            root["problem_type"] = NameOf(problemType);
        }
        root["tie_word_embeddings"] = config.TieWordEmbeddings;
        root["type_vocab_size"] = config.TypeVocabSize;
        root["vocab_size"] = config.VocabSize;
        var sorted = new JsonObject();
        foreach (var (key, value) in root.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            sorted[key] = value?.DeepClone();
        }
        return sorted.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static void CheckNoDuplicateNames(JsonElement element, string? field, string? path, string source)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in element.EnumerateObject())
            {
                var propertyPath = path is null ? property.Name : $"{path}.{property.Name}";
                if (!names.Add(property.Name))
                {
                    throw new BertConfigException(source, field ?? property.Name,
                        $"'{propertyPath}' is given more than once; keep one of its values.");
                }
                CheckNoDuplicateNames(property.Value, field ?? property.Name, propertyPath, source);
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            int index = 0;
            foreach (var item in element.EnumerateArray())
            {
                CheckNoDuplicateNames(item, field, $"{path}[{index++}]", source);
            }
        }
    }

    private static JsonObject ExtractOtherFields(JsonObject root)
    {
        var other = new JsonObject();
        foreach (var (key, value) in root)
        {
            if (!KnownFields.Contains(key))
            {
                other[key] = value?.DeepClone();
            }
        }
        return other;
    }

    /// <summary>Typed access to config fields with messages that name the field and the value found.</summary>
    private sealed class FieldReader(JsonObject root, string source)
    {
        public int? Int(string field) =>
            Value(field, "an integer", e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out _))?.GetInt32();

        public double? Double(string field) => Value(field, "a number", e => e.ValueKind == JsonValueKind.Number)?.GetDouble();

        public bool? Bool(string field) =>
            Value(field, "true or false", e => e.ValueKind is JsonValueKind.True or JsonValueKind.False)?.GetBoolean();

        public string? String(string field) => Value(field, "a string", e => e.ValueKind == JsonValueKind.String)?.GetString();

        public IReadOnlyList<string>? StringList(string field)
        {
            var node = root[field];
            if (node is null)
            {
                return null;
            }
            if (node is not JsonArray array)
            {
                throw new BertConfigException(source, field, $"{field} must be an array of strings, found {node.ToJsonString()}.");
            }
            return array.Select(item => item is JsonValue v && v.TryGetValue<string>(out var s)
                    ? s
                    : throw new BertConfigException(source, field, $"{field} must hold only strings, found {item?.ToJsonString() ?? "null"}."))
                .ToList().AsReadOnly();
        }

        /// <summary>The field's value when <paramref name="accepts"/> it, null when the field is absent (or JSON null).</summary>
        /// <exception cref="BertConfigException">The value is not <paramref name="expected"/>.</exception>
        private JsonElement? Value(string field, string expected, Func<JsonElement, bool> accepts)
        {
            var node = root[field];
            if (node is null)
            {
                return null;
            }
            if (node is JsonValue value && value.TryGetValue<JsonElement>(out var element) && accepts(element))
            {
                return element;
            }
            throw new BertConfigException(source, field, $"{field} must be {expected}, found {node.ToJsonString()}.");
        }

        /// <summary><c>problem_type</c>, one of transformers' three spellings, or null when absent.</summary>
        public ProblemType? ProblemType() => Spelled("problem_type", ProblemTypeNames, "");

        /// <summary><c>classifier_pooling</c>, one of <see cref="PoolingNames"/>' spellings, or null when absent.</summary>
        public PoolingMode? ClassifierPooling() => Spelled("classifier_pooling", PoolingNames, "; absent means pooler");

        /// <summary>The value whose spelling <paramref name="field"/> holds, or null when the field is absent.</summary>
        /// <exception cref="BertConfigException">The field holds another string (the message lists the spellings, then <paramref name="note"/>).</exception>
        private T? Spelled<T>(string field, IReadOnlyDictionary<T, string> spellings, string note) where T : struct
        {
            var name = String(field);
            if (name is null)
            {
                return null;
            }
            foreach (var (value, spelling) in spellings)
            {
                if (spelling == name)
                {
                    return value;
                }
            }
            throw new BertConfigException(source, field, $"{field} '{name}' is not one of {string.Join(", ", spellings.Values)}{note}.");
        }

        /// <summary>id2label (keys "0".."n-1"), checked against label2id and num_labels; the default label names when absent, as transformers.</summary>
        public IReadOnlyList<string> Labels()
        {
            var numLabels = Int("num_labels");
            var id2labelNode = root["id2label"];
            if (id2labelNode is null)
            {
                if (numLabels is null)
                {
                    return Defaults.Labels;
                }
                if (numLabels <= 0)
                {
                    throw new BertConfigException(source, "num_labels", $"num_labels must be a positive integer, found {numLabels}.");
                }
                return BertConfig.DefaultLabelNames(numLabels.Value);
            }
            if (id2labelNode is not JsonObject id2label)
            {
                throw new BertConfigException(source, "id2label", $"id2label must be an object mapping ids to names, found {id2labelNode.ToJsonString()}.");
            }
            var labels = new string?[id2label.Count];
            foreach (var (key, value) in id2label)
            {
                if (!int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id < 0 || id >= labels.Length)
                {
                    throw new BertConfigException(source, "id2label",
                        $"id2label key '{key}' is not an id in [0, {labels.Length}); ids must be 0 to the label count minus one.");
                }
                if (labels[id] is not null)
                {
                    throw new BertConfigException(source, "id2label",
                        $"id2label key '{key}' names id {id} a second time; ids must be 0 to the label count minus one, each once.");
                }
                if (value is not JsonValue v || !v.TryGetValue<string>(out var name))
                {
                    throw new BertConfigException(source, "id2label", $"id2label[{key}] must be a string, found {value?.ToJsonString() ?? "null"}.");
                }
                labels[id] = name;
            }
            if (numLabels is { } n && n != labels.Length)
            {
                throw new BertConfigException(source, "num_labels", $"num_labels {n} disagrees with id2label, which names {labels.Length} labels.");
            }
            if (root["label2id"] is JsonObject label2id)
            {
                foreach (var (name, idNode) in label2id)
                {
                    if (idNode is not JsonValue idValue || !idValue.TryGetValue<int>(out var id) || id < 0 || id >= labels.Length || labels[id] != name)
                    {
                        throw new BertConfigException(source, "label2id",
                            $"label2id['{name}'] = {idNode?.ToJsonString() ?? "null"} disagrees with id2label; make the two maps inverse.");
                    }
                }
            }
            return labels.Select(l => l!).ToList().AsReadOnly();
        }
    }
}
