using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace BertFineTune.Checkpoints.Onnx;

/// <summary>
/// Builds an ONNX graph node by node with OnnxSharp's protobuf types (<see cref="GraphProto"/>, <see cref="NodeProto"/>,
/// <see cref="TensorProto"/>): graph inputs and outputs with symbolic dimensions, float weights and int64/float constants
/// as initializers (constants deduplicated by value), default-domain nodes with their attributes; then the
/// <see cref="ModelProto"/> with its opset, IR version and metadata, written atomically.
/// </summary>
/// <remarks>
/// Constants are initializers rather than <c>Constant</c> nodes because ONNX Runtime's fusions read their values from
/// initializers (<c>optimizer_utils::IsInitializerWithExpectedValue</c>, <c>AppendTensorFromInitializer</c>).
/// </remarks>
internal sealed class OnnxGraphWriter
{
    private readonly GraphProto _graph = new() { Name = "main_graph" };
    private readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    // A value renamed to a graph output stays usable under the name the caller holds.
    private readonly Dictionary<string, string> _renamed = new(StringComparer.Ordinal);
    private int _next;

    // DynamicQuantizeLinear outputs (quantized, scale, zero point) per input value: one node per value, shared by its MatMuls.
    private readonly Dictionary<string, (string Quantized, string Scale, string ZeroPoint)> _dynamicallyQuantized = new(StringComparer.Ordinal);

    /// <summary>Starts an empty graph for <paramref name="opset"/> (checked by <see cref="OnnxExportOptions"/>).</summary>
    public OnnxGraphWriter(int opset, OnnxQuantization quantization = OnnxQuantization.None)
    {
        Opset = opset;
        Quantization = quantization;
    }

    /// <summary>The default-domain opset the nodes are written for.</summary>
    public int Opset { get; }

    /// <summary>How linear layers are written (<see cref="OnnxDynamicQuantization"/> for <see cref="OnnxQuantization.DynamicInt8"/>).</summary>
    public OnnxQuantization Quantization { get; }

    /// <summary>The graph so far.</summary>
    public GraphProto Graph => _graph;

    /// <summary>Whether <paramref name="value"/> names a graph input, an initializer or a node output of this graph.</summary>
    public bool Exists(string value) => _names.Contains(Resolve(value));

    private string Resolve(string value) => _renamed.TryGetValue(value, out var name) ? name : value;

    /// <summary>Declares an int64 graph input; a dimension that parses as a whole number is fixed, any other is symbolic (<c>dim_param</c>).</summary>
    public string Input(string name, params string[] dimensions) => Input(name, TensorProto.Types.DataType.Int64, dimensions);

    /// <summary>Declares a graph input of element type <paramref name="type"/>; dimensions as for the int64 overload.</summary>
    public string Input(string name, TensorProto.Types.DataType type, params string[] dimensions)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, type, dimensions));
        return name;
    }

    /// <summary>
    /// Declares <paramref name="value"/> (a float tensor produced by a node) as the graph output <paramref name="name"/>:
    /// the producing node's output is renamed, as torch.onnx does, or an <c>Identity</c> node is added when the value is a
    /// graph input, an initializer or already an output.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="value"/> is not a value of this graph, or <paramref name="name"/> is taken.</exception>
    public void Output(string value, string name, IReadOnlyList<string> dimensions)
    {
        if (!Exists(value))
        {
            throw new ArgumentException($"'{value}' is not a value of the graph being exported; pass a name returned by the graph's methods.", nameof(value));
        }
        value = Resolve(value);
        if (_names.Contains(name) && name != value)
        {
            throw new ArgumentException($"The graph already has a value named '{name}'; give the output another name.", nameof(name));
        }
        if (_producers.TryGetValue(value, out var producer) && _graph.Output.All(o => o.Name != value))
        {
            if (name != value)
            {
                producer.Output[producer.Output.IndexOf(value)] = name;
                foreach (var node in _graph.Node)
                {
                    for (int i = 0; i < node.Input.Count; i++)
                    {
                        if (node.Input[i] == value)
                        {
                            node.Input[i] = name;
                        }
                    }
                }
                _producers.Remove(value);
                _producers[name] = producer;
                _names.Remove(value);
                _names.Add(name);
                _renamed[value] = name;
            }
        }
        else
        {
            Claim(name);
            var identity = new NodeProto { OpType = "Identity", Name = $"Identity_{_graph.Node.Count}", Input = { value }, Output = { name } };
            _graph.Node.Add(identity);
            _producers[name] = identity;
        }
        _graph.Output.Add(ValueInfo(name, TensorProto.Types.DataType.Float, dimensions));
    }

    /// <summary>Adds a default-domain node with one output and returns the output's name.</summary>
    /// <param name="opType">The operator (e.g. <c>MatMul</c>).</param>
    /// <param name="inputs">Value names; an empty string is an omitted optional input.</param>
    /// <param name="attributes">Attributes: <see cref="long"/>, <see cref="int"/>, <see cref="float"/>, <see cref="string"/>, <c>long[]</c> or <c>float[]</c> values.</param>
    /// <exception cref="ArgumentException">An input is not a value of this graph, or an attribute has another type.</exception>
    public string Node(string opType, IReadOnlyList<string> inputs, params (string Name, object Value)[] attributes) =>
        Node(opType, inputs, 1, attributes)[0];

    /// <summary>Adds a default-domain node with <paramref name="outputCount"/> outputs and returns their names in order.</summary>
    /// <exception cref="ArgumentException">An input is not a value of this graph, or an attribute has another type.</exception>
    public string[] Node(string opType, IReadOnlyList<string> inputs, int outputCount, params (string Name, object Value)[] attributes)
    {
        ArgumentException.ThrowIfNullOrEmpty(opType);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputCount, 1);
        foreach (var input in inputs)
        {
            if (input is null || input.Length > 0 && !Exists(input))
            {
                throw new ArgumentException($"Input '{input}' of the {opType} node is not a value of the graph being exported; pass a name returned by the graph's methods.", nameof(inputs));
            }
        }
        var outputs = Enumerable.Range(0, outputCount).Select(_ => NewName(opType)).ToArray();
        var node = new NodeProto { OpType = opType, Name = $"{opType}_{_graph.Node.Count}", Input = { inputs.Select(Resolve) }, Output = { outputs } };
        foreach (var (name, value) in attributes)
        {
            node.Attribute.Add(Attribute(opType, name, value));
        }
        _graph.Node.Add(node);
        foreach (var output in outputs)
        {
            _producers[output] = node;
        }
        return outputs;
    }

    /// <summary>
    /// The uint8 quantization of the float value <paramref name="input"/> by a <c>DynamicQuantizeLinear</c> node (quantized
    /// value, float scale, uint8 zero point), added the first time a value is asked for and shared afterwards, as ONNX
    /// Runtime's quantizer shares its <c>&lt;input&gt;_QuantizeLinear</c> node among the MatMuls reading one input.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="input"/> is not a value of this graph.</exception>
    public (string Quantized, string Scale, string ZeroPoint) DynamicQuantizeLinear(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var key = Resolve(input);
        if (!_dynamicallyQuantized.TryGetValue(key, out var outputs))
        {
            var names = Node("DynamicQuantizeLinear", [input], 3);
            outputs = (names[0], names[1], names[2]);
            _dynamicallyQuantized[key] = outputs;
        }
        return outputs;
    }

    /// <summary>A float32 initializer named <paramref name="name"/> holding <paramref name="values"/> (copied to the CPU as float32).</summary>
    /// <exception cref="ArgumentException">The name is taken.</exception>
    public string Weight(string name, Tensor values)
    {
        ArgumentNullException.ThrowIfNull(values);
        Claim(name);
        using var scope = NewDisposeScope();
        var data = values.detach().to(CPU).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        _graph.Initializer.Add(new TensorProto
        {
            Name = name,
            DataType = (int)TensorProto.Types.DataType.Float,
            Dims = { values.shape },
            RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan())),
        });
        return name;
    }

    /// <summary>A float32 initializer named <paramref name="name"/> holding <paramref name="values"/> with shape <paramref name="dimensions"/> (row-major).</summary>
    /// <exception cref="ArgumentException">The name is taken, or the values do not fill the shape.</exception>
    public string Weight(string name, float[] values, params long[] dimensions)
    {
        ArgumentNullException.ThrowIfNull(values);
        return Initializer(name, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(values.AsSpan()), values.Length, dimensions);
    }

    /// <summary>An int8 initializer named <paramref name="name"/> holding <paramref name="values"/> with shape <paramref name="dimensions"/> (row-major).</summary>
    /// <exception cref="ArgumentException">The name is taken, or the values do not fill the shape.</exception>
    public string Int8Weight(string name, sbyte[] values, params long[] dimensions)
    {
        ArgumentNullException.ThrowIfNull(values);
        return Initializer(name, TensorProto.Types.DataType.Int8, MemoryMarshal.AsBytes(values.AsSpan()), values.Length, dimensions);
    }

    private string Initializer(string name, TensorProto.Types.DataType type, ReadOnlySpan<byte> raw, long count, long[] dimensions)
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        long expected = dimensions.Aggregate(1L, (a, d) => a * d);
        if (expected != count)
        {
            throw new ArgumentException($"Initializer '{name}' has {count} values; shape [{string.Join(", ", dimensions)}] holds {expected}.", nameof(dimensions));
        }
        Claim(name);
        _graph.Initializer.Add(new TensorProto { Name = name, DataType = (int)type, Dims = { dimensions }, RawData = ByteString.CopyFrom(raw) });
        return name;
    }

    /// <summary>A fresh initializer name in torch.onnx's style for folded weights (<c>onnx::MatMul_7</c>).</summary>
    public string FoldedName(string opType)
    {
        string name;
        do
        {
            name = $"onnx::{opType}_{_next++}";
        }
        while (_names.Contains(name));
        return name;
    }

    /// <summary>
    /// <c>Unsqueeze</c> of <paramref name="input"/> at <paramref name="axes"/>: the axes an attribute before opset 13
    /// (Unsqueeze-11, the form ONNX Runtime's attention fusion matches), an input from 13 (Unsqueeze-13).
    /// </summary>
    public string Unsqueeze(string input, params long[] axes) =>
        Opset >= 13 ? Node("Unsqueeze", [input, Int64s(axes)]) : Node("Unsqueeze", [input], ("axes", axes));

    /// <summary>
    /// A reduction <paramref name="op"/> (<c>ReduceSum</c>, <c>ReduceMean</c>, <c>ReduceMax</c>, …) of <paramref name="input"/>
    /// over <paramref name="axes"/>: the axes an input from the opset that made them one (13 for <c>ReduceSum</c>, 18 for the
    /// others, Operators.md), an attribute before it.
    /// </summary>
    public string Reduce(string op, string input, long[] axes, bool keepDims)
    {
        int sinceInputAxes = op == "ReduceSum" ? 13 : 18;
        return Opset >= sinceInputAxes
            ? Node(op, [input, Int64s(axes)], ("keepdims", keepDims ? 1L : 0L))
            : Node(op, [input], ("axes", axes), ("keepdims", keepDims ? 1L : 0L));
    }

    /// <summary>
    /// The dimensions <paramref name="start"/> to <paramref name="end"/> (exclusive; null for the last) of
    /// <paramref name="input"/>'s shape as a 1-D int64 tensor: <c>Shape</c> with <c>start</c>/<c>end</c> from opset 15,
    /// <c>Slice</c> of the whole <c>Shape</c> before it.
    /// </summary>
    public string ShapeOf(string input, long start, long? end = null)
    {
        if (Opset >= 15)
        {
            return end is { } e ? Node("Shape", [input], ("start", start), ("end", e)) : Node("Shape", [input], ("start", start));
        }
        return Node("Slice", [Node("Shape", [input]), Int64s(start), Int64s(end ?? long.MaxValue), Int64s(0)]);
    }

    /// <summary>A float32 scalar constant (rank 0), shared by every use of the same value.</summary>
    public string Scalar(float value) =>
        Constant($"f:{BitConverter.SingleToInt32Bits(value)}", () => new TensorProto
        {
            DataType = (int)TensorProto.Types.DataType.Float,
            RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)),
        });

    /// <summary>An int64 scalar constant (rank 0), e.g. a Gather index that drops the axis.</summary>
    public string Int64Scalar(long value) =>
        Constant($"i:{value}", () => new TensorProto
        {
            DataType = (int)TensorProto.Types.DataType.Int64,
            RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)),
        });

    /// <summary>A 1-D int64 constant (shapes, axes, slice bounds).</summary>
    public string Int64s(params long[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return Constant($"l:{string.Join(",", values)}", () => new TensorProto
        {
            DataType = (int)TensorProto.Types.DataType.Int64,
            Dims = { values.LongLength },
            RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())),
        });
    }

    /// <summary>
    /// The model: this graph, the default-domain opset, the IR version that opset needs (onnx's
    /// <c>helper.VERSION_TABLE</c>: opsets 17–18 need IR 8, 19–20 IR 9, 21 IR 10) and <paramref name="metadata"/> as
    /// <c>metadata_props</c>.
    /// </summary>
    public ModelProto ToModel(IEnumerable<KeyValuePair<string, string>> metadata, string producerVersion)
    {
        var model = new ModelProto
        {
            IrVersion = Opset switch { <= 18 => 8, <= 20 => 9, _ => 10 },
            ProducerName = "BertFineTune",
            ProducerVersion = producerVersion,
            OpsetImport = { new OperatorSetIdProto { Domain = "", Version = Opset } },
            Graph = _graph,
        };
        foreach (var (key, value) in metadata)
        {
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        }
        return model;
    }

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> through a temporary file in the same folder, renamed over
    /// the target once complete (<see cref="AtomicFile"/>), so the path holds the old file or the whole new one.
    /// </summary>
    /// <exception cref="InvalidOperationException">The model is 2 GiB or larger, protobuf's limit for one message.</exception>
    public static void Write(ModelProto model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        long size = model.CalculateSize();
        // CalculateSize is an int in Google.Protobuf: a message past 2 GiB overflows it (protobuf's hard limit either way).
        if (size < 0 || size >= int.MaxValue)
        {
            throw new InvalidOperationException(
                $"The ONNX model for {path} would be 2 GiB or larger, protobuf's limit for one file; models this large need ONNX external data, which this exporter does not write.");
        }
        AtomicFile.Write(path, stream => model.WriteTo(stream));
    }

    private string Constant(string key, Func<TensorProto> create)
    {
        if (_constants.TryGetValue(key, out var existing))
        {
            return existing;
        }
        var tensor = create();
        tensor.Name = NewName("const");
        _graph.Initializer.Add(tensor);
        _constants[key] = tensor.Name;
        return tensor.Name;
    }

    private string NewName(string prefix)
    {
        string name;
        do
        {
            name = $"/{prefix}_{_next++}";
        }
        while (_names.Contains(name));
        _names.Add(name);
        return name;
    }

    private void Claim(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!_names.Add(name))
        {
            throw new ArgumentException($"The graph already has a value named '{name}'.", nameof(name));
        }
    }

    private static AttributeProto Attribute(string opType, string name, object value) => value switch
    {
        long i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
        int i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
        float f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = f },
        string s => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(s) },
        long[] ints => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints, Ints = { ints } },
        float[] floats => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats, Floats = { floats } },
        _ => throw new ArgumentException(
            $"Attribute '{name}' of the {opType} node has a value of type {value?.GetType().Name ?? "null"}; use long, int, float, string, long[] or float[].", nameof(value)),
    };

    private static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, IReadOnlyList<string> dimensions)
    {
        var shape = new TensorShapeProto();
        foreach (var dimension in dimensions)
        {
            shape.Dim.Add(long.TryParse(dimension, NumberStyles.None, CultureInfo.InvariantCulture, out var size)
                ? new TensorShapeProto.Types.Dimension { DimValue = size }
                : new TensorShapeProto.Types.Dimension { DimParam = dimension });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }
}
