using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// The ONNX graph of a model being exported, as a head sees it in <see cref="TaskHead.ExportOnnx"/>: the encoder's outputs
/// as value names, and the few operations a head needs to append its own nodes. Values are named tensors of the graph;
/// every method returns the name of the value it creates. Shapes below use <c>batch</c> and <c>sequence</c> for the
/// dynamic dimensions (for multiple choice, <c>batch</c> is batch × choices: the encoder runs on the flattened choices).
/// </summary>
/// <example>
/// <code>
/// public override bool ExportOnnx(OnnxHeadGraph graph)
/// {
///     var cls = graph.Pool(PoolingMode.Cls);                                   // [batch, hidden]
///     var logits = graph.Linear(classifier, cls);                              // [batch, labels]
///     graph.Output("logits", logits, "batch_size", Labels.Count.ToString(CultureInfo.InvariantCulture));
///     return true;
/// }
/// </code>
/// </example>
public sealed class OnnxHeadGraph
{
    private readonly OnnxGraphWriter _writer;
    private readonly IReadOnlyDictionary<string, Tensor> _parameters;
    private readonly Dictionary<Tensor, string> _keys;
    private readonly bool _prefixEncoderKeys;

    internal OnnxHeadGraph(OnnxGraphWriter writer, BertForTask model)
    {
        _writer = writer;
        Config = model.Config;
        _prefixEncoderKeys = model.Head.PrefixEncoderKeys;
        _parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        _keys = new Dictionary<Tensor, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, parameter) in _parameters)
        {
            _keys.TryAdd(parameter, name);
        }
    }

    /// <summary>The model's configuration (sizes, <c>hidden_act</c>, <c>layer_norm_eps</c>, labels).</summary>
    public BertConfig Config { get; }

    /// <summary>The encoder's last hidden state, float [batch, sequence, hidden].</summary>
    public string LastHiddenState { get; internal set; } = "";

    /// <summary>The pooler output tanh(dense(first token)), float [batch, hidden]; null when the encoder has no pooler (<see cref="TaskHead.UsesPooler"/>).</summary>
    public string? PoolerOutput { get; internal set; }

    /// <summary>The attention mask, int64 [batch, sequence] (1 = token, 0 = padding).</summary>
    public string AttentionMask { get; internal set; } = "";

    /// <summary>The graph input <c>input_ids</c> as declared: [batch, sequence], or [batch, choices, sequence] for multiple choice.</summary>
    internal string InputIds { get; set; } = "";

    internal OnnxGraphWriter Writer => _writer;

    /// <summary>
    /// <paramref name="linear"/> applied to <paramref name="input"/> [.., in] → [.., out], written as <c>MatMul</c> with the
    /// weight stored transposed ([in, out], named <c>onnx::MatMul_N</c> as torch.onnx names folded weights) then <c>Add</c>
    /// of the bias under its checkpoint key (e.g. <c>classifier.bias</c>). With <see cref="OnnxQuantization.DynamicInt8"/>
    /// the product is the int8 form (<c>DynamicQuantizeLinear</c>, <c>MatMulInteger</c>, <c>Cast</c>, <c>Mul</c>; weight
    /// int8 per output channel), as for the encoder's layers.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="linear"/> is not a module of the model being exported, or <paramref name="input"/> is not a value of the graph.</exception>
    public string Linear(Linear linear, string input)
    {
        ArgumentNullException.ThrowIfNull(linear);
        if (!_keys.TryGetValue(linear.weight!, out var key))
        {
            throw new ArgumentException(
                "The Linear module passed to OnnxHeadGraph.Linear is not part of the model being exported; pass a submodule field of the head.", nameof(linear));
        }
        return LinearWeights(linear.weight!, linear.bias, key[..^".weight".Length], input);
    }

    /// <summary>
    /// The activation <paramref name="hiddenAct"/> (a <c>hidden_act</c> name: <c>gelu</c>, <c>gelu_new</c>,
    /// <c>gelu_pytorch_tanh</c>, <c>gelu_fast</c>, <c>relu</c>, <c>silu</c>/<c>swish</c>, <c>tanh</c>) applied to
    /// <paramref name="input"/>, element-wise, as transformers' <c>activations.py</c> defines it: <c>gelu</c> as
    /// x · 0.5 · (1 + erf(x / √2)) (the form ONNX Runtime fuses into <c>Gelu</c>), the tanh forms as
    /// 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³))).
    /// </summary>
    /// <exception cref="ArgumentException">Another activation name.</exception>
    public string Activation(string hiddenAct, string input)
    {
        ArgumentNullException.ThrowIfNull(hiddenAct);
        var w = _writer;
        switch (hiddenAct)
        {
            case "gelu":
                // activations.py GELUActivation (exact erf form); ORT's gelu_fusion.cc matches Mul(Mul(x, 0.5), Add(Erf(Div(x, √2)), 1)).
                var erf = w.Node("Erf", [w.Node("Div", [input, w.Scalar(MathF.Sqrt(2f))])]);
                return w.Node("Mul", [w.Node("Mul", [input, w.Scalar(0.5f)]), w.Node("Add", [erf, w.Scalar(1f)])]);
            case "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast":
                // activations.py NewGELUActivation: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))); gelu_pytorch_tanh and gelu_fast are the same curve.
                var cube = w.Node("Mul", [w.Node("Mul", [input, input]), input]);
                var inner = w.Node("Mul", [w.Node("Add", [input, w.Node("Mul", [cube, w.Scalar(0.044715f)])]), w.Scalar(MathF.Sqrt(2f / MathF.PI))]);
                return w.Node("Mul", [w.Node("Mul", [input, w.Scalar(0.5f)]), w.Node("Add", [w.Node("Tanh", [inner]), w.Scalar(1f)])]);
            case "relu":
                return w.Node("Relu", [input]);
            case "silu" or "swish":
                return w.Node("Mul", [input, w.Node("Sigmoid", [input])]);
            case "tanh":
                return w.Node("Tanh", [input]);
            default:
                throw new ArgumentException($"hidden_act '{hiddenAct}' has no ONNX form here; use gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, swish or tanh.", nameof(hiddenAct));
        }
    }

    /// <summary>
    /// One vector per sequence, float [batch, hidden], exactly as the TorchSharp heads pool (<c>TokenPooling</c>): the pooler
    /// output, the first token's state (<see cref="PoolingMode.Cls"/>), the mean of the last hidden states over the tokens the
    /// attention mask keeps (their sum over the count clamped at 1e-9), or their element-wise maximum (padding as −∞).
    /// </summary>
    /// <exception cref="InvalidOperationException"><see cref="PoolingMode.Pooler"/> on an encoder without its pooler.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pooling"/> is not a defined mode.</exception>
    public string Pool(PoolingMode pooling)
    {
        var w = _writer;
        switch (pooling)
        {
            case PoolingMode.Pooler:
                return PoolerOutput ?? throw new InvalidOperationException(
                    "Pooling 'pooler' reads the pooler output, but the encoder was built without its pooler; choose cls, mean or max, or a head that keeps the pooler.");
            case PoolingMode.Cls:
                return w.Node("Gather", [LastHiddenState, w.Int64Scalar(0)], ("axis", 1L));
            case PoolingMode.Mean or PoolingMode.Max:
                var mask = w.Unsqueeze(w.Node("Cast", [AttentionMask], ("to", (long)global::Onnx.TensorProto.Types.DataType.Float)), -1);
                if (pooling == PoolingMode.Mean)
                {
                    var sum = w.Reduce("ReduceSum", w.Node("Mul", [LastHiddenState, mask]), [1], keepDims: false);
                    var count = w.Node("Max", [w.Reduce("ReduceSum", mask, [1], keepDims: false), w.Scalar(1e-9f)]);
                    return w.Node("Div", [sum, count]);
                }
                var masked = w.Node("Where", [w.Node("Equal", [mask, w.Scalar(0f)]), w.Scalar(float.NegativeInfinity), LastHiddenState]);
                return w.Reduce("ReduceMax", masked, [1], keepDims: false);
            default:
                throw new ArgumentOutOfRangeException(nameof(pooling), pooling, $"Use one of {string.Join(", ", Enum.GetNames<PoolingMode>())}.");
        }
    }

    /// <summary>
    /// Appends a default-domain ONNX operator with one output and returns the output's name; for what the other methods do
    /// not cover (reshapes, slices, arithmetic).
    /// </summary>
    /// <param name="opType">The operator, as ONNX's Operators.md names it for the exported opset (17 by default).</param>
    /// <param name="inputs">Value names (from this graph's properties and methods); an empty string omits an optional input.</param>
    /// <param name="attributes">Attributes by name: <see cref="long"/>, <see cref="float"/>, <see cref="string"/>, <c>long[]</c> or <c>float[]</c> values.</param>
    /// <exception cref="ArgumentException">An input is not a value of this graph, or an attribute value has another type.</exception>
    public string Node(string opType, IReadOnlyList<string> inputs, IReadOnlyDictionary<string, object>? attributes = null) =>
        _writer.Node(opType, inputs, attributes?.Select(a => (a.Key, a.Value)).ToArray() ?? []);

    /// <summary>A constant: a float32 scalar for one value, else a 1-D float32 tensor.</summary>
    /// <exception cref="ArgumentException">No value.</exception>
    public string Constant(params float[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Length == 0)
        {
            throw new ArgumentException("Give at least one value.", nameof(values));
        }
        if (values.Length == 1)
        {
            return _writer.Scalar(values[0]);
        }
        using var data = tensor(values);
        return _writer.Weight(_writer.FoldedName("Constant"), data);
    }

    /// <summary>A 1-D int64 constant (shapes, axes, indices).</summary>
    public string Constant(params long[] values) => _writer.Int64s(values);

    /// <summary>
    /// Declares <paramref name="value"/> a graph output named <paramref name="name"/> (float; e.g. <c>logits</c>), with
    /// one entry of <paramref name="dimensions"/> per axis: a whole number for a fixed size, any other text for a dynamic
    /// one (e.g. <c>batch_size</c>, <c>sequence_length</c>, as optimum names them).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="value"/> is not a value of this graph, or <paramref name="name"/> is already used.</exception>
    public void Output(string name, string value, params string[] dimensions)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(dimensions);
        _writer.Output(value, name, dimensions);
    }

    // ---- for the built-in heads and the encoder ----

    /// <summary>The parameter under the model's own key (encoder keys with <c>bert.</c>).</summary>
    internal Tensor Parameter(string key) =>
        _parameters.TryGetValue(key, out var value) ? value : throw new InvalidOperationException($"The model has no parameter '{key}'.");

    /// <summary>Whether the model has the parameter <paramref name="key"/>.</summary>
    internal bool HasParameter(string key) => _parameters.ContainsKey(key);

    /// <summary>The initializer name of a parameter: its checkpoint key (no <c>bert.</c> for the bare encoder, as transformers saves it).</summary>
    internal string SavedKey(string key) =>
        !_prefixEncoderKeys && key.StartsWith("bert.", StringComparison.Ordinal) ? key["bert.".Length..] : key;

    /// <summary>The parameter <paramref name="key"/> as an initializer under its checkpoint key, added once.</summary>
    internal string Named(string key)
    {
        var name = SavedKey(key);
        return _writer.Exists(name) ? name : _writer.Weight(name, Parameter(key));
    }

    /// <summary>The Linear whose parameters are <paramref name="module"/>.weight / .bias.</summary>
    internal string Linear(string module, string input) =>
        LinearWeights(Parameter(module + ".weight"), HasParameter(module + ".bias") ? Parameter(module + ".bias") : null, module, input);

    private string LinearWeights(Tensor weight, Tensor? bias, string module, string input)
    {
        using var transposed = weight.detach().t();
        // int8: every MatMul whose weight is an initializer, as ONNX Runtime's quantize_dynamic quantizes them (operators/matmul.py).
        var product = _writer.Quantization == OnnxQuantization.DynamicInt8
            ? OnnxDynamicQuantization.MatMul(_writer, input, transposed, _writer.FoldedName("MatMul"))
            : _writer.Node("MatMul", [input, _writer.Weight(_writer.FoldedName("MatMul"), transposed)]);
        // Bias second: ORT's attention and SkipLayerNorm fusions read the bias as the Add's second input.
        return bias is null ? product : _writer.Node("Add", [product, Named(module + ".bias")]);
    }

    /// <summary>
    /// LayerNorm over the last axis with <c>module.weight</c>/<c>module.bias</c> and <paramref name="epsilon"/>: the
    /// <c>LayerNormalization</c> operator from opset 17; before it the decomposition torch.onnx wrote
    /// (symbolic_opset9.py <c>native_layer_norm</c>): mean = ReduceMean(x), d = x − mean, var = ReduceMean(Pow(d, 2)),
    /// d / Sqrt(var + ε) · weight + bias, which ONNX Runtime's LayerNormFusion (layer_norm_fusion.cc) folds back into one node.
    /// </summary>
    internal string LayerNorm(string module, string input, double epsilon)
    {
        if (_writer.Opset >= 17)
        {
            return _writer.Node("LayerNormalization", [input, Named(module + ".weight"), Named(module + ".bias")], ("axis", -1L), ("epsilon", (float)epsilon));
        }
        var centered = _writer.Node("Sub", [input, _writer.Reduce("ReduceMean", input, [-1], keepDims: true)]);
        var variance = _writer.Reduce("ReduceMean", _writer.Node("Pow", [centered, _writer.Scalar(2f)]), [-1], keepDims: true);
        var normalized = _writer.Node("Div", [centered, _writer.Node("Sqrt", [_writer.Node("Add", [variance, _writer.Scalar((float)epsilon)])])]);
        return _writer.Node("Add", [_writer.Node("Mul", [normalized, Named(module + ".weight")]), Named(module + ".bias")]);
    }
}
