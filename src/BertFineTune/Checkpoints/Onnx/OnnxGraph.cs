using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;

namespace BertFineTune.Checkpoints.Onnx;

/// <summary>
/// An ONNX model read with OnnxSharp (<see cref="ModelProto"/>), indexed for following the graph: the constant behind a
/// value name (graph initializers and <c>Constant</c> nodes alike), the node producing a value and the nodes consuming
/// it, and tensor contents decoded from <c>raw_data</c>, the typed fields or external data files.
/// </summary>
internal sealed class OnnxGraph
{
    /// <summary>The oldest opset of the default domain read: torch.onnx and optimum export 11 and later.</summary>
    public const int MinimumOpset = 11;

    private readonly Dictionary<string, TensorProto> _constants = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<NodeProto, int> _index = new(ReferenceEqualityComparer.Instance);

    private OnnxGraph(string filePath, ModelProto model)
    {
        FilePath = filePath;
        Folder = Path.GetDirectoryName(Path.GetFullPath(filePath))!;
        Model = model;
        Initializers = model.Graph.Initializer.Where(t => t.Name.Length > 0)
            .GroupBy(t => t.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        foreach (var (name, tensor) in Initializers)
        {
            _constants[name] = tensor;
        }
        var nodes = model.Graph.Node;
        for (int i = 0; i < nodes.Count; i++)
        {
            var node = nodes[i];
            _index[node] = i;
            foreach (var output in node.Output.Where(o => o.Length > 0))
            {
                _producers[output] = node;
            }
            foreach (var input in node.Input.Where(o => o.Length > 0))
            {
                if (!_consumers.TryGetValue(input, out var list))
                {
                    _consumers[input] = list = [];
                }
                list.Add(node);
            }
            if (node.OpType == "Constant" && node.Domain is "" or "ai.onnx" && node.Output.Count == 1 && ConstantValue(node) is { } value)
            {
                _constants[node.Output[0]] = value;
            }
        }
    }

    /// <summary>The ONNX file.</summary>
    public string FilePath { get; }

    /// <summary>The folder of the ONNX file: external data must stay inside it.</summary>
    public string Folder { get; }

    /// <summary>The parsed model.</summary>
    public ModelProto Model { get; }

    /// <summary>The nodes in file order.</summary>
    public IReadOnlyList<NodeProto> Nodes => Model.Graph.Node;

    /// <summary>The graph initializers by name.</summary>
    public IReadOnlyDictionary<string, TensorProto> Initializers { get; }

    /// <summary>
    /// Reads <paramref name="path"/>. Refuses what is not an ONNX model (unparsable, truncated, without a graph) and a
    /// default-domain opset older than <see cref="MinimumOpset"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="OnnxImportException">The file is not a readable ONNX model.</exception>
    public static OnnxGraph Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"ONNX file not found: {path}", path);
        }
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Reading ONNX raw_data (little-endian by the ONNX spec) needs a little-endian machine.");
        }
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxImportException(path,
                $"not a readable ONNX model (the protobuf message is broken: {e.Message}); the file is truncated or is not an .onnx file. Export the model again.", e);
        }
        if (model.IrVersion <= 0 || model.Graph is null || model.Graph.Node.Count == 0)
        {
            throw new OnnxImportException(path, null,
                "not an ONNX model (no IR version or no graph nodes); give the .onnx file that torch.onnx.export or optimum wrote.");
        }
        var opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
        if (opset is not null && opset.Version < MinimumOpset)
        {
            throw new OnnxImportException(path, null,
                $"opset {opset.Version} is older than {MinimumOpset}, the oldest this importer reads; export again with opset_version={MinimumOpset} or later.");
        }
        return new OnnxGraph(path, model);
    }

    /// <summary>The node that produces <paramref name="value"/>, or null for graph inputs, initializers and unknown names.</summary>
    public NodeProto? Producer(string value) => _producers.GetValueOrDefault(value);

    /// <summary>The nodes that read <paramref name="value"/>.</summary>
    public IReadOnlyList<NodeProto> Consumers(string value) => _consumers.TryGetValue(value, out var list) ? list : [];

    /// <summary>The constant behind <paramref name="value"/>: a graph initializer or a <c>Constant</c> node's output.</summary>
    public TensorProto? Constant(string value) => _constants.GetValueOrDefault(value);

    /// <summary>Names a node for messages: its name when it has one, else its position, with its operator.</summary>
    public string Describe(NodeProto node)
    {
        var op = node.Domain is "" or "ai.onnx" ? node.OpType : $"{node.Domain}.{node.OpType}";
        var name = node.Name.Length > 0 ? $"'{node.Name}'" : $"#{_index.GetValueOrDefault(node)} (output '{node.Output.FirstOrDefault()}')";
        return $"node {name} ({op})";
    }

    /// <summary>The dimensions of <paramref name="tensor"/>.</summary>
    public static long[] Shape(TensorProto tensor) => tensor.Dims.ToArray();

    /// <summary>True for the floating-point element types a weight can have.</summary>
    public static bool IsFloat(TensorProto tensor) => (TensorProto.Types.DataType)tensor.DataType is
        TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16
        or TensorProto.Types.DataType.Double;

    /// <summary>The number of elements of <paramref name="tensor"/>.</summary>
    public static long ElementCount(TensorProto tensor) => tensor.Dims.Aggregate(1L, (a, d) => a * d);

    /// <summary>
    /// The contents of a floating-point tensor as float32: FLOAT as is, FLOAT16 and BFLOAT16 up-cast exactly, DOUBLE
    /// rounded; from <c>raw_data</c> (little-endian), the typed field (<c>float_data</c>, <c>double_data</c>, or
    /// <c>int32_data</c> holding the 16-bit patterns, as onnx's <c>numpy_helper.to_array</c> reads them) or external data.
    /// </summary>
    /// <exception cref="OnnxImportException">Another element type, a value count that does not fit the shape, or bad external data.</exception>
    public float[] ReadFloats(TensorProto tensor, string what)
    {
        long count = ElementCount(tensor);
        var type = (TensorProto.Types.DataType)tensor.DataType;
        float[] values;
        if (HasBytes(tensor))
        {
            var bytes = Bytes(tensor, what);
            values = type switch
            {
                TensorProto.Types.DataType.Float => MemoryMarshal.Cast<byte, float>(bytes).ToArray(),
                TensorProto.Types.DataType.Double => MemoryMarshal.Cast<byte, double>(bytes).ToArray().Select(d => (float)d).ToArray(),
                TensorProto.Types.DataType.Float16 => MemoryMarshal.Cast<byte, Half>(bytes).ToArray().Select(h => (float)h).ToArray(),
                TensorProto.Types.DataType.Bfloat16 => MemoryMarshal.Cast<byte, ushort>(bytes).ToArray().Select(FromBFloat16).ToArray(),
                _ => throw NotFloat(tensor, what),
            };
        }
        else
        {
            values = type switch
            {
                TensorProto.Types.DataType.Float => tensor.FloatData.ToArray(),
                TensorProto.Types.DataType.Double => tensor.DoubleData.Select(d => (float)d).ToArray(),
                TensorProto.Types.DataType.Float16 => tensor.Int32Data.Select(b => (float)BitConverter.UInt16BitsToHalf((ushort)b)).ToArray(),
                TensorProto.Types.DataType.Bfloat16 => tensor.Int32Data.Select(b => FromBFloat16((ushort)b)).ToArray(),
                _ => throw NotFloat(tensor, what),
            };
        }
        CheckCount(values.LongLength, count, tensor, what);
        return values;
    }

    /// <summary>The contents of an integer tensor (INT64 or INT32) as longs.</summary>
    /// <exception cref="OnnxImportException">Another element type, or a value count that does not fit the shape.</exception>
    public long[] ReadInts(TensorProto tensor, string what)
    {
        var type = (TensorProto.Types.DataType)tensor.DataType;
        long[] values = type switch
        {
            TensorProto.Types.DataType.Int64 when HasBytes(tensor) => MemoryMarshal.Cast<byte, long>(Bytes(tensor, what)).ToArray(),
            TensorProto.Types.DataType.Int64 => tensor.Int64Data.ToArray(),
            TensorProto.Types.DataType.Int32 when HasBytes(tensor) => MemoryMarshal.Cast<byte, int>(Bytes(tensor, what)).ToArray().Select(v => (long)v).ToArray(),
            TensorProto.Types.DataType.Int32 => tensor.Int32Data.Select(v => (long)v).ToArray(),
            _ => throw new OnnxImportException(FilePath, what, $"expected an integer tensor, found element type {type}."),
        };
        CheckCount(values.LongLength, ElementCount(tensor), tensor, what);
        return values;
    }

    /// <summary>The single number <paramref name="value"/> holds when it is a one-element float or integer constant.</summary>
    public double? ConstantScalar(string value)
    {
        if (Constant(value) is not { } tensor || ElementCount(tensor) != 1)
        {
            return null;
        }
        if (IsFloat(tensor))
        {
            return ReadFloats(tensor, $"constant '{value}'")[0];
        }
        return (TensorProto.Types.DataType)tensor.DataType is TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Int32
            ? ReadInts(tensor, $"constant '{value}'")[0]
            : null;
    }

    /// <summary>The integers <paramref name="value"/> holds when it is an integer constant.</summary>
    public long[]? ConstantInts(string value) =>
        Constant(value) is { } tensor && (TensorProto.Types.DataType)tensor.DataType is TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Int32
            ? ReadInts(tensor, $"constant '{value}'")
            : null;

    /// <summary>An integer attribute of <paramref name="node"/>, or <paramref name="fallback"/> when absent.</summary>
    public static long IntAttribute(NodeProto node, string name, long fallback) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.I : fallback;

    /// <summary>A float attribute of <paramref name="node"/>, or null when absent.</summary>
    public static float? FloatAttribute(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.F : null;

    /// <summary>A string attribute of <paramref name="node"/>, or null when absent.</summary>
    public static string? StringAttribute(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } attribute ? attribute.S.ToStringUtf8() : null;

    private static bool HasBytes(TensorProto tensor) =>
        tensor.DataLocation == TensorProto.Types.DataLocation.External || !tensor.RawData.IsEmpty;

    private static float FromBFloat16(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    private OnnxImportException NotFloat(TensorProto tensor, string what) =>
        new(FilePath, what, $"expected a floating-point tensor, found element type {(TensorProto.Types.DataType)tensor.DataType}.");

    private void CheckCount(long actual, long expected, TensorProto tensor, string what)
    {
        if (actual != expected)
        {
            throw new OnnxImportException(FilePath, what,
                $"holds {actual} values but its shape [{string.Join(", ", tensor.Dims)}] needs {expected}; the file is damaged. Export the model again.");
        }
    }

    /// <summary>
    /// The bytes of a tensor: <c>raw_data</c>, or for <c>data_location = EXTERNAL</c> the range <c>offset</c>/<c>length</c>
    /// of the file <c>location</c> names, relative to the model's folder (onnx's <c>external_data_helper</c>). A location
    /// that is absolute or leads out of that folder is refused, as onnx's checker refuses it.
    /// </summary>
    private ReadOnlySpan<byte> Bytes(TensorProto tensor, string what)
    {
        if (tensor.DataLocation != TensorProto.Types.DataLocation.External)
        {
            return tensor.RawData.Span;
        }
        var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        if (!entries.TryGetValue("location", out var location) || location.Length == 0)
        {
            throw new OnnxImportException(FilePath, what, "its data is EXTERNAL but names no location; the file is damaged. Export the model again.");
        }
        var folder = Folder.EndsWith(Path.DirectorySeparatorChar) ? Folder : Folder + Path.DirectorySeparatorChar;
        var full = Path.GetFullPath(Path.Combine(Folder, location));
        if (Path.IsPathRooted(location) || !full.StartsWith(folder, StringComparison.Ordinal))
        {
            throw new OnnxImportException(FilePath, what,
                $"its external data location '{location}' leaves the model's folder {Folder}; only files inside that folder are read. "
                + "Keep the .onnx file and its data files together and use a relative location.");
        }
        if (!File.Exists(full))
        {
            throw new OnnxImportException(FilePath, what, $"its external data file '{location}' does not exist in {Folder}; copy it beside the .onnx file.");
        }
        long offset = ParseLong(entries, "offset", 0, what);
        long fileLength = new FileInfo(full).Length;
        long length = ParseLong(entries, "length", fileLength - offset, what);
        long expected = ElementCount(tensor) * ElementSize((TensorProto.Types.DataType)tensor.DataType);
        if (offset < 0 || length < 0 || offset > fileLength || length > fileLength - offset)
        {
            throw new OnnxImportException(FilePath, what,
                $"its external data (offset {offset}, length {length}) runs past the end of '{location}' ({fileLength} bytes); the data file is truncated or belongs to another export.");
        }
        if (length != expected)
        {
            throw new OnnxImportException(FilePath, what,
                $"its external data is {length} bytes but its shape [{string.Join(", ", tensor.Dims)}] needs {expected}; the data file belongs to another export.");
        }
        var buffer = new byte[length];
        using (var stream = File.OpenRead(full))
        {
            stream.Seek(offset, SeekOrigin.Begin);
            stream.ReadExactly(buffer);
        }
        return buffer;
    }

    private long ParseLong(Dictionary<string, string> entries, string key, long fallback, string what)
    {
        if (!entries.TryGetValue(key, out var text))
        {
            return fallback;
        }
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new OnnxImportException(FilePath, what, $"its external data {key} '{text}' is not a whole number; the file is damaged.");
    }

    private static long ElementSize(TensorProto.Types.DataType type) => type switch
    {
        TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 => 4,
        TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Int64 => 8,
        TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 => 2,
        _ => 1,
    };

    /// <summary>
    /// The tensor a <c>Constant</c> node holds (<c>value</c>, or since opset 12 <c>value_float(s)</c>/<c>value_int(s)</c>).
    /// </summary>
    private static TensorProto? ConstantValue(NodeProto node)
    {
        foreach (var attribute in node.Attribute)
        {
            switch (attribute.Name)
            {
                case "value":
                    return attribute.T;
                case "value_float":
                    return new TensorProto { DataType = (int)TensorProto.Types.DataType.Float, FloatData = { attribute.F } };
                case "value_floats":
                    return new TensorProto { DataType = (int)TensorProto.Types.DataType.Float, Dims = { attribute.Floats.Count }, FloatData = { attribute.Floats } };
                case "value_int":
                    return new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, Int64Data = { attribute.I } };
                case "value_ints":
                    return new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, Dims = { attribute.Ints.Count }, Int64Data = { attribute.Ints } };
            }
        }
        return null;
    }
}
