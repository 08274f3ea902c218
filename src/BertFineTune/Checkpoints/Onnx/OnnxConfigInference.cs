using System.Globalization;
using System.Text.RegularExpressions;
using Onnx;

namespace BertFineTune.Checkpoints.Onnx;

/// <summary>What the graph says about the configuration; null where it says nothing.</summary>
internal sealed record GraphFacts
{
    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumHiddenLayers { get; init; }
    public int? MaxPositionEmbeddings { get; init; }
    public int? TypeVocabSize { get; init; }
    public int? IntermediateSize { get; init; }
    public int? NumAttentionHeads { get; init; }
    public string? HeadsEvidence { get; init; }
    public float? LayerNormEps { get; init; }
    public string? HiddenAct { get; init; }
    public required string? Architecture { get; init; }
    public string? ArchitectureEvidence { get; init; }
    public int? NumLabels { get; init; }
}

/// <summary>
/// Reads a BERT configuration off an ONNX graph: sizes from the weights' shapes, the number of layers from the layer
/// indices, the number of attention heads from the graph (the Reshape of the query/key/value projection to
/// [.., heads, head_size], else the attention-score scale 1/√head_size), <c>layer_norm_eps</c> from the LayerNorm epsilon
/// (the constant added to the variance of a decomposed LayerNorm, or <c>LayerNormalization</c>'s <c>epsilon</c>), the
/// activation from the feed-forward pattern, and the architecture from the head weights and the graph outputs.
/// </summary>
internal static partial class OnnxConfigInference
{
    [GeneratedRegex(@"^encoder\.layer\.(\d+)\.", RegexOptions.CultureInvariant)]
    private static partial Regex LayerKey();

    /// <summary>The facts <paramref name="graph"/> holds, given its mapped <paramref name="weights"/>.</summary>
    /// <exception cref="OnnxImportException">The graph is not BERT (no word embeddings or no layers) or is inconsistent.</exception>
    public static GraphFacts Infer(OnnxGraph graph, IReadOnlyDictionary<string, OnnxWeight> weights)
    {
        if (!weights.TryGetValue("embeddings.word_embeddings.weight", out var words) || words.Shape.Length != 2)
        {
            throw new OnnxImportException(graph.FilePath, null,
                "this is not a BERT model: no initializer 'embeddings.word_embeddings.weight' (or 'bert.embeddings.word_embeddings.weight'). "
                + "Only BERT models exported from transformers by torch.onnx or optimum are imported.");
        }
        var layers = weights.Keys.Select(k => LayerKey().Match(k)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)).Distinct().ToList();
        if (layers.Count == 0)
        {
            throw new OnnxImportException(graph.FilePath, null,
                "this is not a BERT model: it has word embeddings but no encoder layers ('encoder.layer.N.…' weights). Only BERT models exported "
                + "from transformers by torch.onnx or optimum are imported.");
        }
        int hidden = (int)words.Shape[1];
        var (heads, headsEvidence) = AttentionHeads(graph, hidden);
        var (architecture, architectureEvidence, labels) = Architecture(graph, weights);
        return new GraphFacts
        {
            VocabSize = (int)words.Shape[0],
            HiddenSize = hidden,
            NumHiddenLayers = layers.Max() + 1,
            MaxPositionEmbeddings = weights.TryGetValue("embeddings.position_embeddings.weight", out var p) ? (int)p.Shape[0] : null,
            TypeVocabSize = weights.TryGetValue("embeddings.token_type_embeddings.weight", out var t) ? (int)t.Shape[0] : null,
            IntermediateSize = weights.TryGetValue("encoder.layer.0.intermediate.dense.weight", out var i) ? (int)i.Shape[0] : null,
            NumAttentionHeads = heads,
            HeadsEvidence = headsEvidence,
            LayerNormEps = LayerNormEpsilon(graph),
            HiddenAct = Activation(graph),
            Architecture = architecture,
            ArchitectureEvidence = architectureEvidence,
            NumLabels = labels,
        };
    }

    /// <summary>
    /// The head count: from the Reshape that splits a layer-0 query/key/value projection into [.., heads, head_size]
    /// (transformers' <c>view(batch, -1, num_heads, head_dim)</c>, its target a constant or a Concat ending in two
    /// constants), else from the constant that divides (or multiplies) the attention scores (√head_size, or its inverse).
    /// </summary>
    private static (int? Heads, string? Evidence) AttentionHeads(OnnxGraph graph, int hidden)
    {
        foreach (var projection in new[] { "query", "key", "value" })
        {
            var bias = graph.Initializers.Keys.FirstOrDefault(n => OnnxWeightMapping.KeyOf(n) == $"encoder.layer.0.attention.self.{projection}.bias");
            if (bias is null)
            {
                continue;
            }
            foreach (var add in graph.Consumers(bias).Where(n => n.OpType is "Add" or "Gemm"))
            {
                foreach (var reshape in graph.Consumers(add.Output[0]).Where(n => n.OpType == "Reshape" && n.Input.Count == 2))
                {
                    if (TrailingPair(graph, reshape.Input[1]) is not { } pair)
                    {
                        continue;
                    }
                    var (a, b) = pair;
                    long heads = a > 0 ? a : b > 0 && hidden % b == 0 ? hidden / b : -1;
                    if (heads > 0 && hidden % heads == 0 && (b <= 0 || heads * b == hidden))
                    {
                        return ((int)heads, $"{graph.Describe(reshape)} splits the {projection} projection into {heads} heads of {hidden / heads}");
                    }
                }
            }
        }
        foreach (var softmax in graph.Nodes.Where(n => n.OpType == "Softmax"))
        {
            if (ScoreScale(graph, softmax.Input[0]) is not { } scale)
            {
                continue;
            }
            var (headSize, node) = scale;
            if (headSize > 0 && hidden % headSize == 0)
            {
                return (hidden / headSize, $"{graph.Describe(node)} scales the attention scores by 1/√{headSize}");
            }
        }
        return (null, null);
    }

    /// <summary>The last two entries of a Reshape target: a constant, or a Concat whose last two inputs are constants.</summary>
    private static (long, long)? TrailingPair(OnnxGraph graph, string shape)
    {
        if (graph.ConstantInts(shape) is { Length: >= 4 } values)
        {
            return (values[^2], values[^1]);
        }
        if (graph.Producer(shape) is { OpType: "Concat" } concat && concat.Input.Count >= 4
            && graph.ConstantInts(concat.Input[^2]) is [var a] && graph.ConstantInts(concat.Input[^1]) is [var b])
        {
            return (a, b);
        }
        return null;
    }

    /// <summary>
    /// The head size behind the scores a Softmax reads: past the additive mask (Add), a Div by √d or a Mul by 1/√d of a
    /// MatMul's output, or a MatMul of query and key each multiplied by d^(-1/4) (the scaled-dot-product export).
    /// </summary>
    private static (int HeadSize, NodeProto Node)? ScoreScale(OnnxGraph graph, string value)
    {
        for (int depth = 0; depth < 4 && graph.Producer(value) is { } node; depth++)
        {
            switch (node.OpType)
            {
                case "Add" or "Where":
                    // Past the attention mask: follow the input that is not a constant and comes from the scores.
                    value = node.Input.FirstOrDefault(i => graph.Producer(i) is { OpType: "Div" or "Mul" or "MatMul" }) ?? "";
                    continue;
                case "Div" when graph.ConstantScalar(node.Input[1]) is { } divisor && graph.Producer(node.Input[0]) is { OpType: "MatMul" }:
                    return HeadSize(divisor * divisor, node);
                case "Mul" when node.Input.Select(graph.ConstantScalar).FirstOrDefault(c => c is not null) is { } factor
                    && node.Input.Any(i => graph.Producer(i) is { OpType: "MatMul" }):
                    return HeadSize(1 / (factor * factor), node);
                case "MatMul" when node.Input.Select(graph.Producer).ToList() is [{ OpType: "Mul" } q, { OpType: "Mul" } k]
                    && q.Input.Select(graph.ConstantScalar).FirstOrDefault(c => c is not null) is { } qs
                    && k.Input.Select(graph.ConstantScalar).FirstOrDefault(c => c is not null) is { } ks && Math.Abs(qs - ks) < 1e-6:
                    return HeadSize(1 / (qs * qs * qs * qs), q);
                default:
                    return null;
            }
        }
        return null;
    }

    private static (int, NodeProto)? HeadSize(double squared, NodeProto node)
    {
        int rounded = (int)Math.Round(squared);
        // The constant is float32: √d is exact to about 1e-7 relative, so d must come out whole to that precision.
        return rounded > 0 && Math.Abs(squared - rounded) <= 1e-4 * rounded ? (rounded, node) : null;
    }

    /// <summary>
    /// The LayerNorm epsilon: every decomposed LayerNorm (<c>Sqrt(Add(ReduceMean(…), ε))</c>, torch.onnx before opset 17)
    /// and every <c>LayerNormalization</c> (opset 17; <c>epsilon</c> defaults to 1e-5 per the ONNX operator spec) must agree.
    /// </summary>
    private static float? LayerNormEpsilon(OnnxGraph graph)
    {
        var found = new List<(float Eps, NodeProto Node)>();
        foreach (var node in graph.Nodes)
        {
            if (node.OpType == "LayerNormalization")
            {
                found.Add((OnnxGraph.FloatAttribute(node, "epsilon") ?? 1e-5f, node));
            }
            else if (node.OpType == "Sqrt" && graph.Producer(node.Input[0]) is { OpType: "Add" } add
                && add.Input.Any(i => graph.Producer(i) is { OpType: "ReduceMean" })
                && add.Input.Select(graph.ConstantScalar).FirstOrDefault(c => c is not null) is { } eps)
            {
                found.Add(((float)eps, add));
            }
        }
        var distinct = found.Select(f => f.Eps).Distinct().ToList();
        if (distinct.Count > 1)
        {
            var first = found[0];
            var other = found.First(f => f.Eps != first.Eps);
            throw new OnnxImportException(graph.FilePath, null,
                $"the LayerNorms disagree on epsilon ({graph.Describe(first.Node)}: {Format(first.Eps)}, {graph.Describe(other.Node)}: {Format(other.Eps)}); "
                + "BERT uses one layer_norm_eps. Pass a config.json, or export the model again.");
        }
        return distinct.Count == 1 ? distinct[0] : null;
    }

    /// <summary>
    /// The feed-forward activation, from the operators between layer 0's intermediate bias and the next MatMul:
    /// Erf → <c>gelu</c> (transformers' exact GELU), ONNX <c>Gelu</c> (opset 20) by its <c>approximate</c> attribute,
    /// Tanh with the cubic term → <c>gelu_new</c> (<c>activations.py</c> NewGELUActivation; <c>gelu_pytorch_tanh</c> and
    /// <c>gelu_fast</c> compute the same curve), Tanh alone → <c>tanh</c>, Relu → <c>relu</c>, Sigmoid → <c>silu</c>.
    /// </summary>
    private static string? Activation(OnnxGraph graph)
    {
        var bias = graph.Initializers.Keys.FirstOrDefault(n => OnnxWeightMapping.KeyOf(n) == "encoder.layer.0.intermediate.dense.bias");
        if (bias is null)
        {
            return null;
        }
        var ops = new HashSet<string>(StringComparer.Ordinal);
        NodeProto? gelu = null;
        var frontier = new Queue<string>(graph.Consumers(bias).Where(n => n.OpType is "Add" or "Gemm").Select(n => n.Output[0]));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (frontier.Count > 0 && seen.Count < 64)
        {
            var value = frontier.Dequeue();
            if (!seen.Add(value))
            {
                continue;
            }
            foreach (var node in graph.Consumers(value).Where(n => n.OpType is not ("MatMul" or "Gemm")))
            {
                ops.Add(node.OpType);
                gelu ??= node.OpType == "Gelu" ? node : null;
                foreach (var output in node.Output)
                {
                    frontier.Enqueue(output);
                }
            }
        }
        if (gelu is not null)
        {
            return OnnxGraph.StringAttribute(gelu, "approximate") == "tanh" ? "gelu_pytorch_tanh" : "gelu";
        }
        if (ops.Contains("Erf"))
        {
            return "gelu";
        }
        if (ops.Contains("Tanh"))
        {
            return ops.Contains("Pow") || ops.Contains("Mul") ? "gelu_new" : "tanh";
        }
        if (ops.Contains("Relu"))
        {
            return "relu";
        }
        return ops.Contains("Sigmoid") ? "silu" : null;
    }

    /// <summary>
    /// The architecture the head weights name: <c>qa_outputs</c> → question answering; <c>cls.predictions</c> (with
    /// <c>cls.seq_relationship</c>: pre-training) → masked LM; <c>classifier</c> → by the rank of the logits output (3:
    /// token classification; 2: sequence classification, or multiple choice when <c>input_ids</c> has rank 3); none → BertModel.
    /// </summary>
    private static (string? Architecture, string? Evidence, int? Labels) Architecture(OnnxGraph graph, IReadOnlyDictionary<string, OnnxWeight> weights)
    {
        bool Has(string prefix) => weights.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal));
        var heads = new[] { "classifier.", "qa_outputs.", "cls.predictions.", "cls.seq_relationship." }.Where(Has).ToList();
        if (heads.Count == 0)
        {
            return ("BertModel", "no head weights", null);
        }
        if (heads.SequenceEqual(["cls.predictions.", "cls.seq_relationship."]))
        {
            return ("BertForPreTraining", "cls.predictions.* and cls.seq_relationship.* weights", null);
        }
        if (heads.Count > 1)
        {
            throw new OnnxImportException(graph.FilePath, null,
                $"the graph holds the weights of more than one head ({string.Join(", ", heads.Select(h => h + "*"))}), which no BERT architecture has; "
                + "pass a config.json that names the architecture.");
        }
        switch (heads[0])
        {
            case "qa_outputs.":
                return ("BertForQuestionAnswering", "qa_outputs.* weights", null);
            case "cls.predictions.":
                return ("BertForMaskedLM", "cls.predictions.* weights", null);
            case "cls.seq_relationship.":
                throw new OnnxImportException(graph.FilePath, null,
                    "the graph has a next-sentence-prediction head alone (BertForNextSentencePrediction), which this library has no head for.");
        }
        var weight = weights.GetValueOrDefault("classifier.weight");
        int labels = weight is not null ? (int)weight.Shape[0] : (int)weights["classifier.bias"].Tensor.Dims[0];
        int? logitsRank = LogitsRank(graph);
        int? inputRank = graph.Model.Graph.Input.FirstOrDefault(i => i.Name == "input_ids")?.Type?.TensorType?.Shape?.Dim.Count;
        return logitsRank switch
        {
            3 => ("BertForTokenClassification", "classifier.* weights and logits of rank 3 (one score per token)", labels),
            2 when inputRank == 3 => ("BertForMultipleChoice", "classifier.* weights and input_ids of rank 3 (batch, choices, sequence)", null),
            2 => ("BertForSequenceClassification", "classifier.* weights and logits of rank 2 (one score per sequence)", labels),
            _ => (null, null, labels),
        };
    }

    /// <summary>The rank of the graph output <c>logits</c>, or of the only output when it has another name.</summary>
    private static int? LogitsRank(OnnxGraph graph)
    {
        var outputs = graph.Model.Graph.Output;
        var logits = outputs.FirstOrDefault(o => o.Name == "logits") ?? (outputs.Count == 1 ? outputs[0] : null);
        return logits?.Type?.TensorType?.Shape is { } shape ? shape.Dim.Count : null;
    }

    /// <summary>A float as the shortest text that reads back as the same float (1E-12, not 9.99999996E-13).</summary>
    public static string Format(float value) => value.ToString("R", CultureInfo.InvariantCulture);
}
