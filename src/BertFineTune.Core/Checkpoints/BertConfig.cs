using System.Collections.ObjectModel;
using System.Globalization;
using System.Text.Json.Nodes;

namespace BertFineTune.Checkpoints;

/// <summary>
/// A BERT model's configuration (<c>config.json</c>): the sizes and options of the network, its labels and problem type.
/// Each property's initial value is transformers' <c>BertConfig</c> default, and is also the value a file that omits the
/// field gets. Fields this type does not model are kept and written back unchanged by <see cref="Save"/>.
/// </summary>
public sealed record BertConfig
{
    /// <summary>The file a model folder keeps its configuration in (transformers' <c>CONFIG_NAME</c>).</summary>
    internal const string FileName = "config.json";

    /// <summary>The activation names <see cref="HiddenAct"/> accepts.</summary>
    public static IReadOnlyList<string> SupportedActivations { get; } =
        ["gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu", "silu", "swish", "tanh"];

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

    /// <summary>
    /// What the sequence-classification and multiple-choice heads classify (<c>classifier_pooling</c>, the field
    /// ModernBERT's config uses for the same choice): <see cref="PoolingMode.Pooler"/> (the default, and the value of a file
    /// that omits the field: transformers' <c>BertFor…</c> behaviour), <see cref="PoolingMode.Cls"/>,
    /// <see cref="PoolingMode.Mean"/> or <see cref="PoolingMode.Max"/>. Written to the file only when it is not the pooler.
    /// transformers' BERT classes do not read this field: a folder saved with another pooling loads there with the pooler,
    /// which such a model does not save, so transformers initialises it anew and runs the model differently.
    /// </summary>
    public PoolingMode ClassifierPooling { get; init; } = PoolingMode.Pooler;

    /// <summary>Label names by id (<c>id2label</c>); when the file has none, transformers' default of two labels (<c>LABEL_0</c>, <c>LABEL_1</c>).</summary>
    public IReadOnlyList<string> Labels { get; init; } = DefaultLabelNames(2);

    /// <summary>Number of labels of a classification head (the length of <see cref="Labels"/>).</summary>
    public int NumLabels => Labels.Count;

    /// <summary>The loss of a sequence-classification head (<c>problem_type</c>), or null to infer it from the labels as transformers does.</summary>
    public ProblemType? ProblemType { get; init; }

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

    /// <summary>The fields of the file this record does not model, kept to be written back unchanged.</summary>
    internal JsonObject OtherFields { get; init; } = [];

    /// <summary>
    /// Reads and validates a model's configuration. <paramref name="path"/> is the model folder (its <c>config.json</c> is
    /// read) or the path of a config JSON file itself, as transformers' <c>PretrainedConfig.from_pretrained</c> accepts
    /// either (<c>configuration_utils.py</c>, <c>_get_config_dict</c>: an existing file is read as is, otherwise
    /// <c>config.json</c> inside the folder).
    /// </summary>
    /// <param name="path">A model folder, or a <c>.json</c> file.</param>
    /// <exception cref="FileNotFoundException">Neither a file at <paramref name="path"/> nor <c>config.json</c> inside a folder there.</exception>
    /// <exception cref="BertConfigException">The file is not valid JSON, a field has the wrong type, or a value BERT cannot use; the message names the file and field.</exception>
    /// <exception cref="IOException">The config path is a FIFO, device or socket rather than a regular file (reading it would block or read nothing).</exception>
    public static BertConfig Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var file = File.Exists(path) ? path : Path.Combine(path, FileName);
        if (!File.Exists(file))
        {
            throw Directory.Exists(path)
                ? new FileNotFoundException($"{path}: the model folder has no {FileName}.", file)
                : new FileNotFoundException($"{FileName} not found: {path} is neither a config file nor a model folder.", path);
        }
        FileKinds.RequireRegular(file, "a model's " + FileName);
        return BertConfigJson.Read(File.ReadAllText(file), file);
    }

    /// <summary>Parses and validates config JSON held in memory; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="BertConfigException">The JSON is malformed or a field is invalid.</exception>
    internal static BertConfig Parse(string json, string source = FileName) => BertConfigJson.Read(json, source);

    /// <summary>The label names transformers gives <paramref name="count"/> unnamed labels: <c>LABEL_0</c>, <c>LABEL_1</c>, ….</summary>
    internal static IReadOnlyList<string> DefaultLabelNames(int count) =>
        Enumerable.Range(0, count).Select(i => $"LABEL_{i}").ToList().AsReadOnly();

    /// <summary>Checks every field; <paramref name="source"/> names the config in the message.</summary>
    /// <exception cref="BertConfigException">The first invalid field, its value, and how to fix it.</exception>
    public void Validate(string source = FileName)
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
        if (ProblemType is { } problemType && !Enum.IsDefined(problemType))
        {
            throw new BertConfigException(source, "problem_type",
                $"problem_type {(int)problemType} is not a defined ProblemType; use one of {string.Join(", ", Enum.GetNames<ProblemType>())}.");
        }
        if (!Enum.IsDefined(ClassifierPooling))
        {
            throw new BertConfigException(source, "classifier_pooling",
                $"classifier_pooling {(int)ClassifierPooling} is not a defined PoolingMode; use one of {string.Join(", ", Enum.GetNames<PoolingMode>())}.");
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
    /// type does not model, unchanged; keys sorted.
    /// </summary>
    internal string ToJson() => BertConfigJson.Write(this);

    /// <summary>
    /// Writes <c>config.json</c> into <paramref name="folder"/> (created when missing), as transformers'
    /// <c>save_pretrained(folder)</c> does. The file is written under a temporary name and renamed into place, so a reader
    /// never sees half of it and an interrupted save leaves the previous file intact.
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <exception cref="ArgumentException"><paramref name="folder"/> is an existing file (give the folder, not the config file).</exception>
    public void Save(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (File.Exists(folder))
        {
            // transformers' save_pretrained refuses a file path too: it names the folder the model files go into.
            throw new ArgumentException($"{folder} is a file; BertConfig.Save takes the model folder and writes {FileName} into it.", nameof(folder));
        }
        AtomicFile.WriteText(Path.Combine(folder, FileName), ToJson() + "\n");
    }

    /// <summary>The value of a field this type does not model (null when absent), as kept for re-saving.</summary>
    public JsonNode? GetOtherField(string name) => OtherFields[name]?.DeepClone();

    private static void CheckProbability(string source, string field, double value)
    {
        if (!(value >= 0 && value < 1))
        {
            throw new BertConfigException(source, field, $"{field} must be in [0, 1), found {value.ToString(CultureInfo.InvariantCulture)}.");
        }
    }
}
