using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace BertFineTune.Checkpoints.Onnx;

/// <summary>A BERT model read from an ONNX file: its configuration and its weights under Hugging Face keys.</summary>
internal sealed class OnnxBertModel : IDisposable
{
    public OnnxBertModel(BertConfig config, IReadOnlyDictionary<string, Tensor> stateDict, OnnxImportReport report)
    {
        Config = config;
        StateDict = stateDict;
        Report = report;
    }

    /// <summary>The configuration (with <c>architectures</c>).</summary>
    public BertConfig Config { get; }

    /// <summary>The weights, float32, under the keys transformers saves for the architecture (<c>bert.</c> prefix for task models).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict { get; }

    /// <summary>What was imported and what was not.</summary>
    public OnnxImportReport Report { get; }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var tensor in StateDict.Values)
        {
            tensor.Dispose();
        }
    }
}

/// <summary>
/// Reads a BERT model from an ONNX file: refuses fused and quantized graphs, maps the weights
/// (<see cref="OnnxWeightMapping"/>), reads the configuration off the graph (<see cref="OnnxConfigInference"/>) or takes
/// the caller's <c>config.json</c> after checking that the graph agrees with it, checks every weight's shape against the
/// architecture (<see cref="BertParameters"/>) and lists the parameters the file lacks.
/// </summary>
internal static class OnnxBertReader
{
    /// <summary>Reads <paramref name="onnxFile"/>, with <paramref name="configFile"/> (a <c>config.json</c>) when given.</summary>
    /// <exception cref="FileNotFoundException">A file does not exist.</exception>
    /// <exception cref="OnnxImportException">The file cannot be imported; the message says why and what to do.</exception>
    /// <exception cref="BertConfigException">The config file is invalid.</exception>
    public static OnnxBertModel Read(string onnxFile, string? configFile = null)
    {
        ArgumentNullException.ThrowIfNull(onnxFile);
        var given = configFile is null ? null : BertConfig.Load(configFile);
        var graph = OnnxGraph.Load(onnxFile);
        OnnxGraphChecks.RefuseFusedOrQuantized(graph);
        var (weights, unmapped) = OnnxWeightMapping.Map(graph);
        var facts = OnnxConfigInference.Infer(graph, weights);
        OnnxWeightMapping.RefuseUnmapped(graph, unmapped);
        var notes = new List<string>();

        // The decoder of a masked-LM head is tied to the word embeddings unless the file holds a different matrix.
        bool? tied = null;
        if (weights.TryGetValue("cls.predictions.decoder.weight", out var decoder))
        {
            using var words = ToTensor(graph, weights["embeddings.word_embeddings.weight"]);
            using var decoderValues = ToTensor(graph, decoder);
            tied = decoderValues.shape.SequenceEqual(words.shape) && decoderValues.eq(words).all().item<bool>();
            if (tied.Value)
            {
                weights.Remove("cls.predictions.decoder.weight");
                notes.Add($"initializer '{decoder.Initializer}' is the masked-LM decoder, a copy of the word embeddings: tied (tie_word_embeddings = true)");
            }
        }

        var config = given is null ? ConfigFromGraph(graph, facts, tied, notes) : CheckAgainstGraph(graph, given, configFile!, facts, tied, notes);
        try
        {
            config.Validate($"{onnxFile} (configuration read from the graph)");
        }
        catch (BertConfigException e)
        {
            throw new OnnxImportException(onnxFile, null, $"the configuration read from the graph is invalid: {e.Message} Pass a config.json.");
        }
        var architecture = config.Architectures[0];
        var expected = BertParameters.Of(architecture, config);
        foreach (var (key, weight) in weights)
        {
            if (!expected.TryGetValue(key, out var shape))
            {
                throw new OnnxImportException(graph.FilePath, $"initializer '{weight.Initializer}'",
                    $"maps to '{key}' ({weight.Rule}), which {architecture} has no parameter for. "
                    + (given is null ? "Pass a config.json that names the model's architecture." : $"The architecture of {configFile} does not match the graph; fix its architectures."));
            }
            if (!shape.SequenceEqual(weight.Shape))
            {
                throw new OnnxImportException(graph.FilePath, $"initializer '{weight.Initializer}'",
                    $"maps to '{key}' ({weight.Rule}) with shape [{string.Join(", ", weight.Shape)}], but {architecture} with this configuration needs "
                    + $"[{string.Join(", ", shape)}]. " + (given is null ? "The graph's layers differ in size; export the model again." : $"Check {configFile} against the model."));
            }
        }
        var missing = expected.Keys.Where(k => !weights.ContainsKey(k)).Select(k => SavedKey(architecture, k)).Order(StringComparer.Ordinal).ToList();
        foreach (var ignored in graph.Initializers.Where(p => !OnnxGraphChecks.IsWeightCandidate(p.Value) && OnnxWeightMapping.KeyOf(p.Key) is null
            && p.Key.EndsWith("position_ids", StringComparison.Ordinal)))
        {
            notes.Add($"initializer '{ignored.Key}' is the position-id buffer, not a parameter: skipped");
        }

        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (key, weight) in weights.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                state[SavedKey(architecture, key)] = ToTensor(graph, weight);
            }
        }
        catch
        {
            foreach (var tensor in state.Values)
            {
                tensor.Dispose();
            }
            throw;
        }
        var report = new OnnxImportReport(config, state.Keys.Order(StringComparer.Ordinal).ToList().AsReadOnly(), missing.AsReadOnly(), notes.AsReadOnly());
        return new OnnxBertModel(config, state, report);
    }

    private static string SavedKey(string architecture, string key) =>
        BertParameters.PrefixesEncoder(architecture) && (key.StartsWith("embeddings.", StringComparison.Ordinal)
            || key.StartsWith("encoder.", StringComparison.Ordinal) || key.StartsWith("pooler.", StringComparison.Ordinal))
            ? "bert." + key
            : key;

    /// <summary>The weight as a float32 tensor in PyTorch's layout.</summary>
    private static Tensor ToTensor(OnnxGraph graph, OnnxWeight weight)
    {
        var values = graph.ReadFloats(weight.Tensor, $"initializer '{weight.Initializer}'");
        var read = tensor(values, weight.Tensor.Dims.ToArray(), ScalarType.Float32);
        if (!weight.Transposed)
        {
            return read;
        }
        using (read)
        {
            return read.t().contiguous();
        }
    }

    /// <summary>The configuration from the graph alone; every field BERT needs must be found, none is guessed.</summary>
    private static BertConfig ConfigFromGraph(OnnxGraph graph, GraphFacts facts, bool? tied, List<string> notes)
    {
        T Required<T>(T? value, string field, string how) where T : struct =>
            value ?? throw new OnnxImportException(graph.FilePath, null,
                $"the graph does not show {field} ({how}); pass a config.json that gives it.");
        string RequiredText(string? value, string field, string how) =>
            value ?? throw new OnnxImportException(graph.FilePath, null,
                $"the graph does not show {field} ({how}); pass a config.json that gives it.");

        int heads = Required(facts.NumAttentionHeads, "num_attention_heads",
            "no Reshape of a query/key/value projection into [.., heads, head_size] and no attention-score scale was found");
        float eps = Required(facts.LayerNormEps, "layer_norm_eps", "no LayerNorm epsilon was found");
        var act = RequiredText(facts.HiddenAct, "hidden_act", "the feed-forward activation matches no known pattern");
        var architecture = RequiredText(facts.Architecture, "the architecture",
            "the classifier's logits output has no rank to tell sequence from token classification");
        var config = new BertConfig
        {
            VocabSize = facts.VocabSize,
            HiddenSize = facts.HiddenSize,
            NumHiddenLayers = facts.NumHiddenLayers,
            NumAttentionHeads = heads,
            IntermediateSize = Required(facts.IntermediateSize, "intermediate_size", "no encoder.layer.0.intermediate.dense weight"),
            MaxPositionEmbeddings = Required(facts.MaxPositionEmbeddings, "max_position_embeddings", "no position embeddings"),
            TypeVocabSize = Required(facts.TypeVocabSize, "type_vocab_size", "no token type embeddings"),
            LayerNormEps = double.Parse(OnnxConfigInference.Format(eps), CultureInfo.InvariantCulture),
            HiddenAct = act,
            Architectures = [architecture],
            Labels = facts.NumLabels is { } labels ? BertConfig.DefaultLabelNames(labels) : new BertConfig().Labels,
            TieWordEmbeddings = tied ?? true,
            DType = "float32",
        };
        notes.Add($"architecture {architecture}: {facts.ArchitectureEvidence}");
        notes.Add($"vocab_size {config.VocabSize}, hidden_size {config.HiddenSize}, max_position_embeddings {config.MaxPositionEmbeddings}, "
            + $"type_vocab_size {config.TypeVocabSize}, intermediate_size {config.IntermediateSize}: from the weights' shapes; "
            + $"num_hidden_layers {config.NumHiddenLayers}: from the layer indices");
        notes.Add($"num_attention_heads {heads}: {facts.HeadsEvidence}");
        notes.Add($"layer_norm_eps {OnnxConfigInference.Format(eps)}: from the LayerNorm epsilon; hidden_act {act}: from the feed-forward pattern");
        if (facts.NumLabels is { } n)
        {
            notes.Add($"{n} labels named LABEL_0…LABEL_{n - 1} (an ONNX file carries no label names; pass a config.json to name them)");
        }
        if (tied == false)
        {
            notes.Add("the masked-LM decoder differs from the word embeddings: tie_word_embeddings = false");
        }
        return config;
    }

    /// <summary>The caller's configuration, after checking every field the graph shows; a disagreement names both values.</summary>
    private static BertConfig CheckAgainstGraph(OnnxGraph graph, BertConfig given, string configFile, GraphFacts facts, bool? tied, List<string> notes)
    {
        void Same(string field, object? fromGraph, object fromConfig, bool equal)
        {
            if (fromGraph is not null && !equal)
            {
                throw new OnnxImportException(configFile, field,
                    $"{fromConfig} in the config, but the graph {graph.FilePath} has {fromGraph}; fix the config (or give the config of this model).");
            }
        }
        Same("vocab_size", facts.VocabSize, given.VocabSize, facts.VocabSize == given.VocabSize);
        Same("hidden_size", facts.HiddenSize, given.HiddenSize, facts.HiddenSize == given.HiddenSize);
        Same("num_hidden_layers", facts.NumHiddenLayers, given.NumHiddenLayers, facts.NumHiddenLayers == given.NumHiddenLayers);
        Same("intermediate_size", facts.IntermediateSize, given.IntermediateSize, facts.IntermediateSize == given.IntermediateSize);
        Same("max_position_embeddings", facts.MaxPositionEmbeddings, given.MaxPositionEmbeddings, facts.MaxPositionEmbeddings == given.MaxPositionEmbeddings);
        Same("type_vocab_size", facts.TypeVocabSize, given.TypeVocabSize, facts.TypeVocabSize == given.TypeVocabSize);
        Same("num_attention_heads", facts.NumAttentionHeads, given.NumAttentionHeads, facts.NumAttentionHeads == given.NumAttentionHeads);
        // The graph holds the epsilon as float32: compare at that precision.
        Same("layer_norm_eps", facts.LayerNormEps is { } eps ? OnnxConfigInference.Format(eps) : null,
            given.LayerNormEps.ToString("R", CultureInfo.InvariantCulture), facts.LayerNormEps == (float)given.LayerNormEps);
        Same("hidden_act", facts.HiddenAct, given.HiddenAct, facts.HiddenAct is null || ActivationFamily(facts.HiddenAct) == ActivationFamily(given.HiddenAct));
        Same("tie_word_embeddings", tied is false ? "a masked-LM decoder that differs from the word embeddings" : null,
            given.TieWordEmbeddings, tied is not false || !given.TieWordEmbeddings);
        var architecture = given.Architectures.Count > 0 ? given.Architectures[0] : facts.Architecture ?? "BertModel";
        // A config may name a head the export lacks (it is then listed as missing); a head it does not name is an error.
        Same("architectures", facts.Architecture, architecture, facts.Architecture is null or "BertModel" || facts.Architecture == architecture);
        if (!BertParameters.Architectures.Contains(architecture))
        {
            throw new OnnxImportException(configFile, "architectures",
                $"'{architecture}' has no built-in head; use one of {string.Join(", ", BertParameters.Architectures)}.");
        }
        notes.Add($"configuration from {configFile}; the graph agrees with it");
        return given with { Architectures = [architecture], TieWordEmbeddings = tied ?? given.TieWordEmbeddings, DType = "float32" };
    }

    /// <summary>
    /// Activations that compute the same curve: the tanh approximations of GELU (<c>gelu_new</c>, <c>gelu_pytorch_tanh</c>,
    /// <c>gelu_fast</c>) and <c>silu</c>/<c>swish</c> (<c>activations.py</c>, ACT2CLS).
    /// </summary>
    private static string ActivationFamily(string name) => name switch
    {
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => "gelu_tanh",
        "swish" => "silu",
        _ => name,
    };
}
