using System.Collections.ObjectModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BertFineTune.Checkpoints;

/// <summary>
/// A BERT model's <c>config.json</c>, with transformers' defaults for every field it omits. Fields this type does not
/// model are kept and written back unchanged by <see cref="ToJson"/>.
/// </summary>
public sealed record BertConfig
{
    /// <summary>The activation names <see cref="HiddenAct"/> accepts.</summary>
    public static IReadOnlyList<string> SupportedActivations { get; } =
        ["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish", "tanh"];

    /// <summary>The problem types transformers defines for sequence classification.</summary>
    public static IReadOnlyList<string> SupportedProblemTypes { get; } =
        ["regression", "single_label_classification", "multi_label_classification"];

    private static readonly string[] KnownFields =
    [
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
        "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
        "initializer_range", "layer_norm_eps", "pad_token_id", "position_embedding_type", "classifier_dropout",
        "id2label", "label2id", "num_labels", "problem_type", "architectures", "model_type", "dtype", "torch_dtype",
        "tie_word_embeddings", "is_decoder", "add_cross_attention",
    ];

    private JsonObject _otherFields = [];

    /// <summary>Size of the WordPiece vocabulary (rows of the word embedding).</summary>
    public int VocabSize { get; init; } = 30522;

    /// <summary>Width of every hidden state.</summary>
    public int HiddenSize { get; init; } = 768;

    /// <summary>Number of transformer layers.</summary>
    public int NumHiddenLayers { get; init; } = 12;

    /// <summary>Number of attention heads per layer; must divide <see cref="HiddenSize"/>.</summary>
    public int NumAttentionHeads { get; init; } = 12;

    /// <summary>Width of the feed-forward layer.</summary>
    public int IntermediateSize { get; init; } = 3072;

    /// <summary>Feed-forward activation, one of <see cref="SupportedActivations"/>.</summary>
    public string HiddenAct { get; init; } = "gelu";

    /// <summary>Dropout after embeddings, attention output and feed-forward output.</summary>
    public double HiddenDropoutProb { get; init; } = 0.1;

    /// <summary>Dropout on attention probabilities.</summary>
    public double AttentionProbsDropoutProb { get; init; } = 0.1;

    /// <summary>Longest sequence the position embedding covers.</summary>
    public int MaxPositionEmbeddings { get; init; } = 512;

    /// <summary>Number of token types (segments).</summary>
    public int TypeVocabSize { get; init; } = 2;

    /// <summary>Standard deviation of the normal initialisation of new weights.</summary>
    public double InitializerRange { get; init; } = 0.02;

    /// <summary>Epsilon of every LayerNorm (BERT uses 1e-12, not TorchSharp's 1e-5).</summary>
    public double LayerNormEps { get; init; } = 1e-12;

    /// <summary>Id of the padding token.</summary>
    public int? PadTokenId { get; init; } = 0;

    /// <summary>Position embedding kind; only <c>absolute</c> is supported.</summary>
    public string PositionEmbeddingType { get; init; } = "absolute";

    /// <summary>Dropout before classification heads; null means <see cref="HiddenDropoutProb"/>.</summary>
    public double? ClassifierDropout { get; init; }

    /// <summary>Label names by id (<c>id2label</c>); when the file has none, transformers' default of two labels.</summary>
    public IReadOnlyList<string> Labels { get; init; } = ["LABEL_0", "LABEL_1"];

    /// <summary>Number of labels of a classification head (the length of <see cref="Labels"/>).</summary>
    public int NumLabels => Labels.Count;

    /// <summary><c>regression</c>, <c>single_label_classification</c>, <c>multi_label_classification</c> or null (inferred from the labels, as transformers does).</summary>
    public string? ProblemType { get; init; }

    /// <summary>The model classes the checkpoint was saved from, e.g. <c>BertForSequenceClassification</c>.</summary>
    public IReadOnlyList<string> Architectures { get; init; } = [];

    /// <summary>The model family; this library reads <c>bert</c>.</summary>
    public string ModelType { get; init; } = "bert";

    /// <summary>The dtype the weights were saved in (<c>dtype</c>, or the older <c>torch_dtype</c>), e.g. <c>float32</c>.</summary>
    public string? DType { get; init; }

    /// <summary>Whether the masked-LM decoder shares the word-embedding matrix.</summary>
    public bool TieWordEmbeddings { get; init; } = true;

    /// <summary>Whether the model is a decoder (unsupported: BERT encoders only).</summary>
    public bool IsDecoder { get; init; }

    /// <summary>Whether layers have cross-attention (unsupported).</summary>
    public bool AddCrossAttention { get; init; }

    /// <summary>Width of one attention head.</summary>
    public int HeadSize => HiddenSize / NumAttentionHeads;

    /// <summary>The label id of each label name.</summary>
    public IReadOnlyDictionary<string, int> LabelToId =>
        new ReadOnlyDictionary<string, int>(Labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i));

    /// <summary>Reads and validates a <c>config.json</c> file.</summary>
    /// <exception cref="BertConfigException">A field is missing its expected type or has a value BERT cannot use.</exception>
    public static BertConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"config.json not found: {path}", path);
        }
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses and validates config JSON; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="BertConfigException">The JSON is malformed or a field is invalid.</exception>
    public static BertConfig Parse(string json, string source = "config.json")
    {
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
            VocabSize = reader.Int("vocab_size") ?? 30522,
            HiddenSize = reader.Int("hidden_size") ?? 768,
            NumHiddenLayers = reader.Int("num_hidden_layers") ?? 12,
            NumAttentionHeads = reader.Int("num_attention_heads") ?? 12,
            IntermediateSize = reader.Int("intermediate_size") ?? 3072,
            HiddenAct = reader.String("hidden_act") ?? "gelu",
            HiddenDropoutProb = reader.Double("hidden_dropout_prob") ?? 0.1,
            AttentionProbsDropoutProb = reader.Double("attention_probs_dropout_prob") ?? 0.1,
            MaxPositionEmbeddings = reader.Int("max_position_embeddings") ?? 512,
            TypeVocabSize = reader.Int("type_vocab_size") ?? 2,
            InitializerRange = reader.Double("initializer_range") ?? 0.02,
            LayerNormEps = reader.Double("layer_norm_eps") ?? 1e-12,
            PadTokenId = root.ContainsKey("pad_token_id") ? reader.Int("pad_token_id") : 0,
            PositionEmbeddingType = reader.String("position_embedding_type") ?? "absolute",
            ClassifierDropout = reader.Double("classifier_dropout"),
            Labels = reader.Labels(),
            ProblemType = reader.String("problem_type"),
            Architectures = reader.StringList("architectures"),
            ModelType = reader.String("model_type") ?? "bert",
            DType = reader.String("dtype") ?? reader.String("torch_dtype"),
            TieWordEmbeddings = reader.Bool("tie_word_embeddings") ?? true,
            IsDecoder = reader.Bool("is_decoder") ?? false,
            AddCrossAttention = reader.Bool("add_cross_attention") ?? false,
            _otherFields = ExtractOtherFields(root),
        };
        config.Validate(source);
        return config;
    }

    /// <summary>Checks every field; <paramref name="source"/> names the config in the message.</summary>
    /// <exception cref="BertConfigException">The first invalid field, its value, and how to fix it.</exception>
    public void Validate(string source = "config.json")
    {
        void Positive(string field, long value)
        {
            if (value <= 0)
            {
                throw new BertConfigException(source, field, $"{field} must be a positive integer, found {value}.");
            }
        }

        if (ModelType != "bert")
        {
            throw new BertConfigException(source, "model_type",
                $"model_type '{ModelType}' is not supported; this library loads BERT checkpoints (model_type 'bert').");
        }
        Positive("vocab_size", VocabSize);
        Positive("hidden_size", HiddenSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("intermediate_size", IntermediateSize);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        Positive("type_vocab_size", TypeVocabSize);
        if (HiddenSize % NumAttentionHeads != 0)
        {
            throw new BertConfigException(source, "hidden_size",
                $"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}; choose a head count that divides it.");
        }
        if (!SupportedActivations.Contains(HiddenAct))
        {
            throw new BertConfigException(source, "hidden_act",
                $"hidden_act '{HiddenAct}' is not supported; use one of {string.Join(", ", SupportedActivations)}.");
        }
        if (PositionEmbeddingType != "absolute")
        {
            throw new BertConfigException(source, "position_embedding_type",
                $"position_embedding_type '{PositionEmbeddingType}' is not supported; only 'absolute' is.");
        }
        CheckProbability(source, "hidden_dropout_prob", HiddenDropoutProb);
        CheckProbability(source, "attention_probs_dropout_prob", AttentionProbsDropoutProb);
        if (ClassifierDropout is { } classifierDropout)
        {
            CheckProbability(source, "classifier_dropout", classifierDropout);
        }
        if (!(LayerNormEps > 0) || double.IsInfinity(LayerNormEps))
        {
            throw new BertConfigException(source, "layer_norm_eps", $"layer_norm_eps must be a positive number, found {LayerNormEps.ToString(CultureInfo.InvariantCulture)}.");
        }
        if (!(InitializerRange >= 0) || double.IsInfinity(InitializerRange))
        {
            throw new BertConfigException(source, "initializer_range", $"initializer_range must be a non-negative number, found {InitializerRange.ToString(CultureInfo.InvariantCulture)}.");
        }
        if (PadTokenId is { } pad && (pad < 0 || pad >= VocabSize))
        {
            throw new BertConfigException(source, "pad_token_id", $"pad_token_id {pad} is outside the vocabulary [0, {VocabSize}).");
        }
        if (ProblemType is not null && !SupportedProblemTypes.Contains(ProblemType))
        {
            throw new BertConfigException(source, "problem_type",
                $"problem_type '{ProblemType}' is not one of {string.Join(", ", SupportedProblemTypes)}.");
        }
        if (Labels.Count == 0)
        {
            throw new BertConfigException(source, "id2label", "id2label must name at least one label.");
        }
        var duplicate = Labels.GroupBy(l => l, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new BertConfigException(source, "id2label", $"label '{duplicate.Key}' is given to more than one id.");
        }
        if (DType is not null && DType is not ("float32" or "float16" or "bfloat16" or "float64"))
        {
            throw new BertConfigException(source, "dtype",
                $"dtype '{DType}' is not supported; use float32, float16, bfloat16 or float64.");
        }
        if (IsDecoder || AddCrossAttention)
        {
            var field = IsDecoder ? "is_decoder" : "add_cross_attention";
            throw new BertConfigException(source, field,
                $"{field} is true, but BERT decoders and cross-attention are not supported; set is_decoder and add_cross_attention to false.");
        }
    }

    /// <summary>
    /// The config as transformers writes it: every modelled field, <c>id2label</c>/<c>label2id</c>, and every field this
    /// type does not model, unchanged.
    /// </summary>
    public string ToJson()
    {
        var root = (JsonObject)_otherFields.DeepClone();
        root["architectures"] = new JsonArray(Architectures.Select(a => (JsonNode?)JsonValue.Create(a)).ToArray());
        root["attention_probs_dropout_prob"] = AttentionProbsDropoutProb;
        root["classifier_dropout"] = ClassifierDropout is { } c ? JsonValue.Create(c) : null;
        if (DType is not null)
        {
            root["dtype"] = DType;
        }
        root["hidden_act"] = HiddenAct;
        root["hidden_dropout_prob"] = HiddenDropoutProb;
        root["hidden_size"] = HiddenSize;
        var id2label = new JsonObject();
        var label2id = new JsonObject();
        for (int i = 0; i < Labels.Count; i++)
        {
            id2label[i.ToString(CultureInfo.InvariantCulture)] = Labels[i];
            label2id[Labels[i]] = i;
        }
        root["id2label"] = id2label;
        root["initializer_range"] = InitializerRange;
        root["intermediate_size"] = IntermediateSize;
        root["is_decoder"] = IsDecoder;
        root["add_cross_attention"] = AddCrossAttention;
        root["label2id"] = label2id;
        root["layer_norm_eps"] = LayerNormEps;
        root["max_position_embeddings"] = MaxPositionEmbeddings;
        root["model_type"] = ModelType;
        root["num_attention_heads"] = NumAttentionHeads;
        root["num_hidden_layers"] = NumHiddenLayers;
        root["pad_token_id"] = PadTokenId;
        root["position_embedding_type"] = PositionEmbeddingType;
        if (ProblemType is not null)
        {
            root["problem_type"] = ProblemType;
        }
        root["tie_word_embeddings"] = TieWordEmbeddings;
        root["type_vocab_size"] = TypeVocabSize;
        root["vocab_size"] = VocabSize;
        var sorted = new JsonObject();
        foreach (var (key, value) in root.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            sorted[key] = value?.DeepClone();
        }
        return sorted.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> atomically.</summary>
    public void Save(string path) => AtomicFile.WriteText(path, ToJson() + "\n");

    /// <summary>The value of a field this type does not model (null when absent), as kept for re-saving.</summary>
    public JsonNode? GetOtherField(string name) => _otherFields[name]?.DeepClone();

    private static void CheckProbability(string source, string field, double value)
    {
        if (!(value >= 0 && value < 1))
        {
            throw new BertConfigException(source, field, $"{field} must be in [0, 1), found {value.ToString(CultureInfo.InvariantCulture)}.");
        }
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
        public int? Int(string field)
        {
            var node = root[field];
            if (node is null)
            {
                return null;
            }
            if (node is JsonValue value && value.TryGetValue<JsonElement>(out var element) && element.ValueKind == JsonValueKind.Number
                && element.TryGetInt32(out var result))
            {
                return result;
            }
            throw new BertConfigException(source, field, $"{field} must be an integer, found {node.ToJsonString()}.");
        }

        public double? Double(string field)
        {
            var node = root[field];
            if (node is null)
            {
                return null;
            }
            if (node is JsonValue value && value.TryGetValue<JsonElement>(out var element) && element.ValueKind == JsonValueKind.Number)
            {
                return element.GetDouble();
            }
            throw new BertConfigException(source, field, $"{field} must be a number, found {node.ToJsonString()}.");
        }

        public bool? Bool(string field)
        {
            var node = root[field];
            if (node is null)
            {
                return null;
            }
            if (node is JsonValue value && value.TryGetValue<JsonElement>(out var element)
                && element.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                return element.GetBoolean();
            }
            throw new BertConfigException(source, field, $"{field} must be true or false, found {node.ToJsonString()}.");
        }

        public string? String(string field)
        {
            var node = root[field];
            if (node is null)
            {
                return null;
            }
            if (node is JsonValue value && value.TryGetValue<JsonElement>(out var element) && element.ValueKind == JsonValueKind.String)
            {
                return element.GetString();
            }
            throw new BertConfigException(source, field, $"{field} must be a string, found {node.ToJsonString()}.");
        }

        public IReadOnlyList<string> StringList(string field)
        {
            var node = root[field];
            if (node is null)
            {
                return [];
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

        /// <summary>id2label (keys "0".."n-1"), checked against label2id and num_labels; default two labels as transformers.</summary>
        public IReadOnlyList<string> Labels()
        {
            var numLabels = Int("num_labels");
            var id2labelNode = root["id2label"];
            if (id2labelNode is null)
            {
                int count = numLabels ?? 2;
                if (count <= 0)
                {
                    throw new BertConfigException(source, "num_labels", $"num_labels must be a positive integer, found {count}.");
                }
                return Enumerable.Range(0, count).Select(i => $"LABEL_{i}").ToList().AsReadOnly();
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

/// <summary>A <c>config.json</c> field has a value BERT cannot use.</summary>
public sealed class BertConfigException : FormatException
{
    /// <summary>Creates the exception for <paramref name="field"/> of <paramref name="source"/>.</summary>
    public BertConfigException(string source, string? field, string message)
        : base($"{source}: {message}")
    {
        FilePath = source;
        Field = field;
    }

    /// <summary>The config file (or description) that was read.</summary>
    public string FilePath { get; }

    /// <summary>The offending field, or null when the whole file is unreadable.</summary>
    public string? Field { get; }
}
