using System.Globalization;
using System.Reflection;
using System.Text.Json;
using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Onnx;

namespace BertFineTune.Heads;

/// <summary>
/// Writes a <see cref="BertForTask"/> as a self-contained ONNX graph built node by node from its weights: the encoder laid
/// out as torch.onnx exports transformers' <c>BertModel</c> (the layout ONNX Runtime's graph optimizer recognises), then
/// the head's nodes through <see cref="TaskHead.ExportOnnx"/>.
/// </summary>
/// <remarks>
/// The encoder, following <c>modeling_bert.py</c>: <c>Gather</c> of word, token-type and position embeddings (position ids
/// 0…seq−1 counted along the first row of input_ids, see Embeddings), two <c>Add</c>s and <c>LayerNormalization</c>; the additive mask
/// <c>(1 − mask) · float.MinValue</c> (<c>get_extended_attention_mask</c>, <c>modeling_utils.py</c>; −10000 at opset 12, see AdditiveMask) from
/// <c>Unsqueeze</c>, <c>Unsqueeze</c>, <c>Cast</c>, <c>Sub</c>, <c>Mul</c>; per layer Q/K/V as <c>MatMul</c> on weights
/// stored [in, out] plus <c>Add</c> of the bias, <c>Reshape</c> to [0, 0, heads, head_size], <c>Transpose</c> (0,2,1,3;
/// 0,2,3,1 for the key), <c>MatMul</c>, <c>Div</c> by √head_size, <c>Add</c> of the mask, <c>Softmax</c>, <c>MatMul</c>,
/// <c>Transpose</c>, <c>Reshape</c> to [0, 0, hidden], the output projection, the residual <c>Add</c> and
/// <c>LayerNormalization</c>; the feed-forward <c>MatMul</c>+<c>Add</c>, the activation of <c>hidden_act</c>,
/// <c>MatMul</c>+<c>Add</c>, residual <c>Add</c>, <c>LayerNormalization</c>; the pooler <c>Gather</c> of the first token,
/// <c>MatMul</c>+<c>Add</c>, <c>Tanh</c>. Dropout is left out (inference). Below opset 17 each <c>LayerNormalization</c> is
/// written decomposed (see <see cref="OnnxHeadGraph"/>'s LayerNorm), which ONNX Runtime's LayerNormFusion folds back.
/// </remarks>
internal static class OnnxModelExport
{
    /// <summary>Exports <paramref name="model"/> to <paramref name="path"/> (see <c>TaskModel.ExportOnnx</c>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The opset is outside what the exporter writes.</exception>
    /// <exception cref="NotSupportedException">The head does not implement <see cref="TaskHead.ExportOnnx"/>.</exception>
    public static void Export(BertForTask model, string path, OnnxExportOptions? options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        options ??= new OnnxExportOptions();
        options.Validate();
        if (Directory.Exists(path))
        {
            throw new ArgumentException($"{path} is a folder; give the path of the .onnx file to write.", nameof(path));
        }
        var onnx = Build(model, options);
        OnnxGraphWriter.Write(onnx, path);
    }

    /// <summary>The ONNX model of <paramref name="model"/>, not yet written.</summary>
    internal static global::Onnx.ModelProto Build(BertForTask model, OnnxExportOptions options)
    {
        var head = model.Head;
        var config = model.Config;
        var writer = new OnnxGraphWriter(options.Opset, options.Quantization);
        var graph = new OnnxHeadGraph(writer, model);
        bool choices = head is MultipleChoiceHead;
        string[] dims = choices ? ["batch_size", "num_choices", "sequence_length"] : ["batch_size", "sequence_length"];
        string ids = writer.Input("input_ids", dims), mask = writer.Input("attention_mask", dims), types = writer.Input("token_type_ids", dims);
        graph.InputIds = ids;
        if (choices)
        {
            // modeling_bert.py BertForMultipleChoice: input_ids.view(-1, input_ids.size(-1)), and the same for the mask and types.
            var flat = writer.Node("Concat", [writer.Int64s(-1), writer.ShapeOf(ids, 2)], ("axis", 0L));
            ids = writer.Node("Reshape", [ids, flat]);
            mask = writer.Node("Reshape", [mask, flat]);
            types = writer.Node("Reshape", [types, flat]);
        }

        var hidden = Embeddings(graph, config, ids, types);
        var additiveMask = AdditiveMask(writer, mask);
        for (int layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            hidden = Layer(graph, config, layer, hidden, additiveMask);
        }
        graph.LastHiddenState = hidden;
        graph.AttentionMask = mask;
        if (model.Encoder.HasPooler)
        {
            // BertPooler: tanh(dense(hidden_states[:, 0])).
            var first = writer.Node("Gather", [hidden, writer.Int64Scalar(0)], ("axis", 1L));
            graph.PoolerOutput = writer.Node("Tanh", [graph.Linear("bert.pooler.dense", first)]);
        }

        if (!head.ExportOnnx(graph))
        {
            throw new NotSupportedException(
                $"The head {head.GetType().FullName} ({head.ArchitectureName}) cannot be exported to ONNX: it does not implement TaskHead.ExportOnnx. "
                + "Override ExportOnnx(OnnxHeadGraph) in the head to append its nodes and declare its outputs (see docs/custom-heads.md), and return true.");
        }
        if (writer.Graph.Output.Count == 0)
        {
            throw new InvalidOperationException(
                $"The head {head.GetType().FullName} exported no graph output; its ExportOnnx must call OnnxHeadGraph.Output for each output (e.g. \"logits\").");
        }
        return writer.ToModel(Metadata(model), Version);
    }

    /// <summary>The library's version (the assembly's informational version without the source revision).</summary>
    internal static string Version
    {
        get
        {
            var assembly = typeof(OnnxModelExport).Assembly;
            var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
            return informational?.Split('+')[0] ?? assembly.GetName().Version?.ToString() ?? "0.0.0";
        }
    }

    /// <summary>
    /// <c>bertfinetune_version</c>, <c>architecture</c> and, for heads with labels (the built-in classifiers, and custom
    /// heads, whose config.json carries <c>id2label</c>), <c>id2label</c> as the JSON object transformers writes.
    /// </summary>
    private static IEnumerable<KeyValuePair<string, string>> Metadata(BertForTask model)
    {
        yield return KeyValuePair.Create("bertfinetune_version", Version);
        yield return KeyValuePair.Create("architecture", model.Head.ArchitectureName);
        IReadOnlyList<string>? labels = model.Head switch
        {
            SequenceClassificationHead h => h.Labels,
            TokenClassificationHead h => h.Labels,
            FeatureExtractionHead or SentenceEmbeddingHead or QuestionAnsweringHead or MultipleChoiceHead or MaskedLanguageModelHead or PreTrainingHead => null,
            _ => model.Config.Labels,
        };
        if (labels is not null)
        {
            var id2label = labels.Select((label, id) => (id, label)).ToDictionary(p => p.id.ToString(CultureInfo.InvariantCulture), p => p.label);
            yield return KeyValuePair.Create("id2label", JsonSerializer.Serialize(id2label));
        }
    }

    /// <summary>BertEmbeddings: word + token type, + position, LayerNorm (the order of transformers' additions).</summary>
    private static string Embeddings(OnnxHeadGraph graph, BertConfig config, string ids, string types)
    {
        var writer = graph.Writer;
        // Position ids 0…seq−1 as [1, seq]: the first row of input_ids (Gather of row 0, Unsqueeze), zeroed, plus one,
        // summed along the sequence (CumSum), minus one. transformers slices its position_ids buffer (a constant range) to
        // the sequence length instead, but ONNX shape inference cannot size a Slice whose end is computed (nor a Slice of
        // a symbolic dimension), the embeddings' sum then loses its batch_size/sequence_length dimensions, and ORT's
        // SkipLayerNormalization fusion (skip_layer_norm_fusion.cc, CheckFirstAdd) needs both inputs of each residual Add
        // to carry the same symbolic dimensions.
        var firstRow = writer.Unsqueeze(writer.Node("Gather", [ids, writer.Int64Scalar(0)], ("axis", 0L)), 0);
        var ones = writer.Node("Add", [writer.Node("Mul", [firstRow, writer.Int64Scalar(0)]), writer.Int64Scalar(1)]);
        var positions = writer.Node("Sub", [writer.Node("CumSum", [ones, writer.Int64Scalar(1)]), writer.Int64Scalar(1)]);
        var words = writer.Node("Gather", [graph.Named("bert.embeddings.word_embeddings.weight"), ids]);
        var tokenTypes = writer.Node("Gather", [graph.Named("bert.embeddings.token_type_embeddings.weight"), types]);
        var sum = writer.Node("Add", [words, tokenTypes]);
        sum = writer.Node("Add", [sum, writer.Node("Gather", [graph.Named("bert.embeddings.position_embeddings.weight"), positions])]);
        return graph.LayerNorm("bert.embeddings.LayerNorm", sum, config.LayerNormEps);
    }

    /// <summary>
    /// [batch, seq] int64 → [batch, 1, 1, seq] float: 0 where attended, where padded float32's lowest value
    /// (<c>torch.finfo(dtype).min</c>, as transformers' <c>get_extended_attention_mask</c>) or, at opset 12, −10000.
    /// </summary>
    /// <remarks>
    /// ONNX Runtime's BERT attention fusion (attention_fusion_helper.h, <c>MatchInputMaskSubgraph</c>) matches exactly
    /// Unsqueeze(axes=1) → Unsqueeze(axes=2) → Cast → Sub(1, x) → Mul(x, −10000) → Add → Softmax, with Unsqueeze at versions 1
    /// and 11 only (so opset 12 at the latest) and the Mul's constant exactly −10000. Softmax of a row whose padded logits are
    /// shifted by −10000 equals the one shifted by float.MinValue whenever a token is kept and the scores are ordinary:
    /// exp(−10000 + s − max) underflows to 0 in float32 for |s − max| ≪ 10000, as exp(float.MinValue) does. Only a row with
    /// no kept token differs: float.MinValue swamps the scores (uniform weights), −10000 leaves them (softmax of the scores).
    /// </remarks>
    private static string AdditiveMask(OnnxGraphWriter writer, string mask)
    {
        var expanded = writer.Unsqueeze(writer.Unsqueeze(mask, 1), 2);
        var keep = writer.Node("Cast", [expanded], ("to", (long)global::Onnx.TensorProto.Types.DataType.Float));
        var masked = writer.Opset < 13 ? -10000f : float.MinValue;
        return writer.Node("Mul", [writer.Node("Sub", [writer.Scalar(1f), keep]), writer.Scalar(masked)]);
    }

    private static string Layer(OnnxHeadGraph graph, BertConfig config, int layer, string input, string mask)
    {
        var writer = graph.Writer;
        var p = $"bert.encoder.layer.{layer}.";
        var split = writer.Int64s(0, 0, config.NumAttentionHeads, config.HeadSize);
        string Heads(string projection, long[] perm) =>
            writer.Node("Transpose", [writer.Node("Reshape", [graph.Linear(p + "attention.self." + projection, input), split])], ("perm", perm));
        var query = Heads("query", [0, 2, 1, 3]);
        var key = Heads("key", [0, 2, 3, 1]);
        var value = Heads("value", [0, 2, 1, 3]);
        var scores = writer.Node("Div", [writer.Node("MatMul", [query, key]), writer.Scalar(MathF.Sqrt(config.HeadSize))]);
        var probabilities = writer.Node("Softmax", [writer.Node("Add", [scores, mask])], ("axis", 3L));
        var context = writer.Node("Transpose", [writer.Node("MatMul", [probabilities, value])], ("perm", new long[] { 0, 2, 1, 3 }));
        var merged = writer.Node("Reshape", [context, writer.Int64s(0, 0, config.HiddenSize)]);
        var attention = graph.LayerNorm(p + "attention.output.LayerNorm",
            writer.Node("Add", [graph.Linear(p + "attention.output.dense", merged), input]), config.LayerNormEps);
        var intermediate = graph.Activation(config.HiddenAct, graph.Linear(p + "intermediate.dense", attention));
        return graph.LayerNorm(p + "output.LayerNorm", writer.Node("Add", [graph.Linear(p + "output.dense", intermediate), attention]), config.LayerNormEps);
    }
}
