using BertFineTune.Checkpoints;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints.Onnx;

/// <summary>How a synthetic export deviates from the plain torch.onnx layout, to exercise one importer rule at a time.</summary>
internal sealed record ExportOptions
{
    /// <summary>Renamed weights as <c>Constant</c> nodes instead of graph initializers.</summary>
    public bool WeightsAsConstants { get; init; }

    /// <summary>Float data in the typed <c>float_data</c> field instead of <c>raw_data</c>.</summary>
    public bool TypedFields { get; init; }

    /// <summary>Every float weight stored as FLOAT16 (the graph casts them to float, as a half-precision export would not; ORT is not run on it).</summary>
    public bool Float16 { get; init; }

    /// <summary>Every weight of more than 1 KiB in <c>weights.bin</c> beside the model (data_location EXTERNAL).</summary>
    public bool ExternalData { get; init; }

    /// <summary>The pooler (and the classifiers on it) as Gemm without transB, reading a renamed [in, out] weight.</summary>
    public bool GemmWithoutTransB { get; init; }

    /// <summary>No pooler in the graph (an export of last_hidden_state alone).</summary>
    public bool OmitPooler { get; init; }

    /// <summary>Head count and head size computed (Cast of constants), and the score scale a Sqrt: the graph does not show the head count.</summary>
    public bool HideHeads { get; init; }

    /// <summary>LayerNorm as the opset-17 <c>LayerNormalization</c> operator (epsilon an attribute) instead of decomposed.</summary>
    public bool LayerNormalizationOperator { get; init; }

    /// <summary>The feed-forward activation written: <c>gelu</c> (Erf), <c>gelu_new</c> (the tanh approximation) or <c>relu</c>.</summary>
    public string Activation { get; init; } = "gelu";

    /// <summary>Prefix of the named initializers (torch.onnx keeps the module path: <c>bert.</c> in task models).</summary>
    public string? Prefix { get; init; }
}

/// <summary>
/// Writes the ONNX graph torch.onnx.export (opset 13, constant folding on, as PyTorch 1.10 to 2.x do for transformers'
/// eager BERT) would write for a Hugging Face fixture model, so the importer can be tested against weights whose right
/// answer is known. The layout mirrors the MiniLM package's export (/work/briefs/minilm-onnx-dump.txt): named embeddings,
/// biases and LayerNorms; linear weights renamed and stored transposed ([in, out]) as the second input of a MatMul whose
/// output feeds <c>Add(bias, …)</c> (the key's bias first, the value's and the output's second: both orders occur);
/// the Q/K/V split by <c>Reshape(Concat(batch, seq, heads, head_size))</c> with the last two int64 initializers; scores
/// divided by a √head_size constant; decomposed LayerNorm with its epsilon constant; Erf GELU; the pooler a Gemm with
/// transB=1 on the named weight followed by Tanh; heads as transformers' modeling_bert.py computes them.
/// </summary>
internal sealed class TorchOnnxExport
{
    private readonly GraphProto _graph = new() { Name = "main_graph" };
    private readonly BertConfig _config;
    private readonly IReadOnlyDictionary<string, float[]> _weights;
    private readonly IReadOnlyDictionary<string, long[]> _shapes;
    private readonly ExportOptions _options;
    private readonly MemoryStream _external = new();
    private int _next;

    private TorchOnnxExport(BertConfig config, IReadOnlyDictionary<string, float[]> weights, IReadOnlyDictionary<string, long[]> shapes, ExportOptions options)
    {
        _config = config;
        _weights = weights;
        _shapes = shapes;
        _options = options;
    }

    /// <summary>The fixture's weights by key without the <c>bert.</c> prefix.</summary>
    public static (Dictionary<string, float[]> Values, Dictionary<string, long[]> Shapes) ReadFixture(string fixtureFolder)
    {
        using var checkpoint = SafeTensorsCheckpoint.OpenFolder(fixtureFolder);
        var values = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var name in checkpoint.Names)
        {
            using var tensor = checkpoint.ReadTensor(name, ScalarType.Float32);
            var key = name.StartsWith("bert.", StringComparison.Ordinal) ? name[5..] : name;
            values[key] = tensor.data<float>().ToArray();
            shapes[key] = tensor.shape;
        }
        return (values, shapes);
    }

    /// <summary>Writes <c>model.onnx</c> (and <c>weights.bin</c> for external data) into <paramref name="folder"/> for the fixture model; returns the ONNX path.</summary>
    public static string Write(string fixtureFolder, string folder, ExportOptions? options = null, Action<GraphProto>? edit = null)
    {
        var config = BertConfig.Load(fixtureFolder);
        var (values, shapes) = ReadFixture(fixtureFolder);
        options ??= new ExportOptions();
        options = options with { Prefix = options.Prefix ?? (config.Architectures[0] == "BertModel" ? "" : "bert.") };
        Directory.CreateDirectory(folder);
        var export = new TorchOnnxExport(config, values, shapes, options);
        export.Build();
        edit?.Invoke(export._graph);
        var model = new ModelProto
        {
            IrVersion = 7,
            ProducerName = "pytorch",
            ProducerVersion = "1.10",
            OpsetImport = { new OperatorSetIdProto { Domain = "", Version = options.LayerNormalizationOperator ? 17 : 13 } },
            Graph = export._graph,
        };
        if (options.ExternalData)
        {
            File.WriteAllBytes(Path.Combine(folder, "weights.bin"), export._external.ToArray());
        }
        var path = Path.Combine(folder, "model.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private string Arch => _config.Architectures[0];

    private void Build()
    {
        bool choices = Arch == "BertForMultipleChoice";
        Input("input_ids", choices);
        Input("attention_mask", choices);
        Input("token_type_ids", choices);
        string ids = "input_ids", mask = "attention_mask", types = "token_type_ids";
        if (choices)
        {
            // modeling_bert.py BertForMultipleChoice: input_ids.view(-1, input_ids.size(-1)).
            var flat = Concat(Int64s(-1), Unsqueeze(Gather(Node("Shape", ids), Int64Scalar(2))));
            ids = Node("Reshape", ids, flat);
            mask = Node("Reshape", mask, flat);
            types = Node("Reshape", types, flat);
        }
        var hidden = Embeddings(ids, types);
        var additiveMask = AdditiveMask(mask);
        for (int layer = 0; layer < _config.NumHiddenLayers; layer++)
        {
            hidden = Layer(layer, hidden, additiveMask);
        }
        string? pooled = null;
        if (BertHasPooler && !_options.OmitPooler)
        {
            pooled = Pooler(hidden);
        }
        switch (Arch)
        {
            case "BertModel":
                Output(Node("Identity", hidden), "last_hidden_state", 3);
                if (pooled is not null)
                {
                    Output(pooled, "pooler_output", 2);
                }
                break;
            case "BertForSequenceClassification":
                Output(PooledLinear("classifier", pooled!), "logits", 2);
                break;
            case "BertForMultipleChoice":
                var scores = PooledLinear("classifier", pooled!);
                var perExample = Concat(Int64s(-1), Unsqueeze(Gather(Node("Shape", "input_ids"), Int64Scalar(1))));
                Output(Node("Reshape", scores, perExample), "logits", 2);
                break;
            case "BertForTokenClassification":
                Output(Linear("classifier", hidden, biasFirst: false), "logits", 3);
                break;
            case "BertForQuestionAnswering":
                var both = Linear("qa_outputs", hidden, biasFirst: false);
                Output(Node("Gather", [both, Int64Scalar(0)], [("axis", -1L)]), "start_logits", 2);
                Output(Node("Gather", [both, Int64Scalar(1)], [("axis", -1L)]), "end_logits", 2);
                break;
            case "BertForMaskedLM" or "BertForPreTraining":
                Output(MaskedLm(hidden), Arch == "BertForMaskedLM" ? "logits" : "prediction_logits", 3);
                if (Arch == "BertForPreTraining")
                {
                    Output(PooledLinear("cls.seq_relationship", pooled!), "seq_relationship_logits", 2);
                }
                break;
            default:
                throw new NotSupportedException(Arch);
        }
    }

    private bool BertHasPooler => Arch is "BertModel" or "BertForSequenceClassification" or "BertForMultipleChoice" or "BertForPreTraining";

    private string Embeddings(string ids, string types)
    {
        var positionIds = _options.Prefix + "embeddings.position_ids";
        _graph.Initializer.Add(new TensorProto
        {
            Name = positionIds,
            DataType = (int)TensorProto.Types.DataType.Int64,
            Dims = { 1, _config.MaxPositionEmbeddings },
            RawData = ByteString.CopyFrom(Enumerable.Range(0, _config.MaxPositionEmbeddings).SelectMany(i => BitConverter.GetBytes((long)i)).ToArray()),
        });
        // position_ids[:, 0:seq]
        var seq = Gather(Node("Shape", ids), Int64s(1));
        var positions = Node("Slice", positionIds, Int64s(0), seq, Int64s(1));
        var words = Node("Gather", Named("embeddings.word_embeddings.weight"), ids);
        var tokenTypes = Node("Gather", Named("embeddings.token_type_embeddings.weight"), types);
        var sum = Node("Add", words, tokenTypes);
        sum = Node("Add", sum, Node("Gather", Named("embeddings.position_embeddings.weight"), positions));
        return LayerNorm("embeddings.LayerNorm", sum);
    }

    /// <summary>(1 - mask[:, None, None, :]) * finfo(float32).min, as transformers' get_extended_attention_mask.</summary>
    private string AdditiveMask(string mask)
    {
        var expanded = Node("Cast", [Unsqueeze(Unsqueeze(mask, 1), 2)], [("to", (long)TensorProto.Types.DataType.Float)]);
        return Node("Mul", Node("Sub", FloatConstant(1f), expanded), FloatConstant(float.MinValue));
    }

    private string Layer(int layer, string input, string mask)
    {
        var p = $"encoder.layer.{layer}.";
        int heads = _config.NumAttentionHeads, size = _config.HeadSize;
        var query = SplitHeads(Linear(p + "attention.self.query", input, biasFirst: true), heads, size);
        var key = SplitHeads(Linear(p + "attention.self.key", input, biasFirst: true), heads, size);
        var value = SplitHeads(Linear(p + "attention.self.value", input, biasFirst: false), heads, size);
        var queryT = Node("Transpose", [query], [("perm", new long[] { 0, 2, 1, 3 })]);
        var keyT = Node("Transpose", [key], [("perm", new long[] { 0, 2, 3, 1 })]);
        var valueT = Node("Transpose", [value], [("perm", new long[] { 0, 2, 1, 3 })]);
        var scale = _options.HideHeads ? Node("Sqrt", FloatConstant(size)) : FloatConstant(MathF.Sqrt(size));
        var scores = Node("Add", Node("Div", Node("MatMul", queryT, keyT), scale), mask);
        var probabilities = Node("Softmax", [scores], [("axis", -1L)]);
        var context = Node("Transpose", [Node("MatMul", probabilities, valueT)], [("perm", new long[] { 0, 2, 1, 3 })]);
        var merged = Node("Reshape", context, Concat(Dim(context, 0), Dim(context, 1), Int64s(_config.HiddenSize)));
        var attention = LayerNorm(p + "attention.output.LayerNorm", Node("Add", Linear(p + "attention.output.dense", merged, biasFirst: true), input));
        var intermediate = Gelu(Linear(p + "intermediate.dense", attention, biasFirst: true));
        return LayerNorm(p + "output.LayerNorm", Node("Add", Linear(p + "output.dense", intermediate, biasFirst: false), attention));
    }

    private string SplitHeads(string x, int heads, int size)
    {
        string Const(long v) => _options.HideHeads ? Node("Cast", [Int64s(v)], [("to", (long)TensorProto.Types.DataType.Int64)]) : Int64s(v);
        return Node("Reshape", x, Concat(Dim(x, 0), Dim(x, 1), Const(heads), Const(size)));
    }

    private string Pooler(string hidden)
    {
        var first = Node("Gather", [hidden, Int64Scalar(0)], [("axis", 1L)]);
        return Node("Tanh", PooledLinear("pooler.dense", first));
    }

    /// <summary>A Linear on a [batch, hidden] input: Gemm with transB=1 on the named weight, or without transB on a renamed [in, out] copy.</summary>
    private string PooledLinear(string module, string input)
    {
        if (_options.GemmWithoutTransB)
        {
            return Node("Gemm", input, Renamed(module + ".weight"), Named(module + ".bias"));
        }
        return Node("Gemm", [input, Named(module + ".weight"), Named(module + ".bias")], [("alpha", 1f), ("beta", 1f), ("transB", 1L)]);
    }

    private string MaskedLm(string hidden)
    {
        var transformed = LayerNorm("cls.predictions.transform.LayerNorm", Gelu(Linear("cls.predictions.transform.dense", hidden, biasFirst: true)));
        // The decoder's weight is the word-embedding matrix (tied); torch.onnx folds its transpose into a renamed copy.
        var decoder = Renamed("embeddings.word_embeddings.weight");
        return Node("Add", Node("MatMul", transformed, decoder), Named("cls.predictions.bias"));
    }

    private string Linear(string module, string input, bool biasFirst)
    {
        var product = Node("MatMul", input, Renamed(module + ".weight"));
        var bias = Named(module + ".bias");
        return biasFirst ? Node("Add", bias, product) : Node("Add", product, bias);
    }

    private string Gelu(string x)
    {
        switch (_options.Activation)
        {
            case "relu":
                return Node("Relu", x);
            case "gelu_new":
                // activations.py NewGELUActivation: 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3))).
                var cubic = Node("Mul", FloatConstant(0.044715f), Node("Pow", x, FloatConstant(3f)));
                var inner = Node("Mul", FloatConstant(MathF.Sqrt(2f / MathF.PI)), Node("Add", x, cubic));
                return Node("Mul", Node("Mul", FloatConstant(0.5f), x), Node("Add", FloatConstant(1f), Node("Tanh", inner)));
            default:
                // activations.py GELUActivation (nn.functional.gelu, exact): x * 0.5 * (1 + erf(x / sqrt(2))), as torch.onnx writes it.
                var erf = Node("Erf", Node("Div", x, FloatConstant(MathF.Sqrt(2f))));
                return Node("Mul", Node("Mul", x, Node("Add", erf, FloatConstant(1f))), FloatConstant(0.5f));
        }
    }

    private string LayerNorm(string module, string x)
    {
        if (_options.LayerNormalizationOperator)
        {
            return Node("LayerNormalization", [x, Named(module + ".weight"), Named(module + ".bias")], [("axis", -1L), ("epsilon", (float)_config.LayerNormEps)]);
        }
        var mean = Node("ReduceMean", [x], [("axes", new long[] { -1 })]);
        var centered = Node("Sub", x, mean);
        var variance = Node("ReduceMean", [Node("Pow", centered, FloatConstant(2f))], [("axes", new long[] { -1 })]);
        var normalized = Node("Div", centered, Node("Sqrt", Node("Add", variance, FloatConstant((float)_config.LayerNormEps))));
        return Node("Add", Node("Mul", normalized, Named(module + ".weight")), Named(module + ".bias"));
    }

    // ---- graph writing ----

    private void Input(string name, bool choices)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in choices ? new[] { "batch", "choices", "sequence" } : ["batch", "sequence"])
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = dim });
        }
        _graph.Input.Add(new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Int64, Shape = shape } },
        });
    }

    private void Output(string value, string name, int rank)
    {
        var shape = new TensorShapeProto();
        for (int i = 0; i < rank; i++)
        {
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = $"{name}_dim_{i}" });
        }
        // Rename the producing node's output to the graph output's name.
        var producer = _graph.Node.Last(n => n.Output.Contains(value));
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
        _graph.Output.Add(new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        });
    }

    private string Node(string op, params string[] inputs) => Node(op, inputs, []);

    private string Node(string op, string[] inputs, (string Name, object Value)[] attributes)
    {
        var output = (_next++).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var node = new NodeProto { OpType = op, Name = $"{op}_{_graph.Node.Count}", Input = { inputs }, Output = { output } };
        foreach (var (name, value) in attributes)
        {
            node.Attribute.Add(value switch
            {
                long i => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = i },
                float f => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = f },
                long[] ints => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints, Ints = { ints } },
                _ => throw new ArgumentException(name),
            });
        }
        _graph.Node.Add(node);
        return output;
    }

    private string Gather(string data, string indices) => Node("Gather", data, indices);

    private string Unsqueeze(string x, long axis = 0) => Node("Unsqueeze", x, Int64s(axis));

    private string Dim(string x, long axis) => Unsqueeze(Gather(Node("Shape", x), Int64Scalar(axis)));

    private string Concat(params string[] parts) => Node("Concat", parts, [("axis", 0L)]);

    /// <summary>A one-element int64 initializer (torch.onnx's folded shape pieces, e.g. "929" = 12).</summary>
    private string Int64s(long value)
    {
        var name = (_next++).ToString(System.Globalization.CultureInfo.InvariantCulture);
        _graph.Initializer.Add(new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, Dims = { 1 }, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) });
        return name;
    }

    /// <summary>A scalar int64 Constant node.</summary>
    private string Int64Scalar(long value) =>
        ConstantNode(new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) });

    /// <summary>A scalar float Constant node (torch.onnx writes scalars such as √d, eps and 0.5 so).</summary>
    private string FloatConstant(float value) =>
        ConstantNode(new TensorProto { DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) });

    private string ConstantNode(TensorProto value, string? output = null)
    {
        output ??= (_next++).ToString(System.Globalization.CultureInfo.InvariantCulture);
        _graph.Node.Add(new NodeProto
        {
            OpType = "Constant",
            Name = $"Constant_{_graph.Node.Count}",
            Output = { output },
            Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = value } },
        });
        return output;
    }

    /// <summary>A parameter under its own name (with the export's prefix for encoder keys), added once.</summary>
    private string Named(string key)
    {
        var name = (key.StartsWith("embeddings.", StringComparison.Ordinal) || key.StartsWith("encoder.", StringComparison.Ordinal)
            || key.StartsWith("pooler.", StringComparison.Ordinal) ? _options.Prefix : "") + key;
        if (_graph.Initializer.All(t => t.Name != name))
        {
            _graph.Initializer.Add(WeightTensor(name, _weights[key], _shapes[key]));
        }
        return name;
    }

    /// <summary>The transpose of a [out, in] parameter, renamed as torch.onnx's constant folding names it ("927"), as initializer or Constant node.</summary>
    private string Renamed(string key)
    {
        var shape = _shapes[key];
        long rows = shape[0], columns = shape[1];
        var values = _weights[key];
        var transposed = new float[values.Length];
        for (long r = 0; r < rows; r++)
        {
            for (long c = 0; c < columns; c++)
            {
                transposed[c * rows + r] = values[r * columns + c];
            }
        }
        var name = (_next++).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var tensor = WeightTensor(name, transposed, [columns, rows]);
        if (_options.WeightsAsConstants)
        {
            tensor.Name = "";
            return ConstantNode(tensor, name);
        }
        _graph.Initializer.Add(tensor);
        return _options.Float16 ? CastToFloat(name) : name;
    }

    private string CastToFloat(string name) => Node("Cast", [name], [("to", (long)TensorProto.Types.DataType.Float)]);

    private TensorProto WeightTensor(string name, float[] values, long[] shape)
    {
        var tensor = new TensorProto { Name = name, Dims = { shape } };
        if (_options.Float16)
        {
            tensor.DataType = (int)TensorProto.Types.DataType.Float16;
            var bytes = values.SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray();
            SetBytes(tensor, bytes, typed: () => tensor.Int32Data.AddRange(values.Select(v => (int)BitConverter.HalfToUInt16Bits((Half)v))));
            return tensor;
        }
        tensor.DataType = (int)TensorProto.Types.DataType.Float;
        SetBytes(tensor, values.SelectMany(BitConverter.GetBytes).ToArray(), typed: () => tensor.FloatData.AddRange(values));
        return tensor;
    }

    private void SetBytes(TensorProto tensor, byte[] bytes, Action typed)
    {
        if (_options.ExternalData && bytes.Length > 1024)
        {
            long offset = _external.Position;
            _external.Write(bytes);
            tensor.DataLocation = TensorProto.Types.DataLocation.External;
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "weights.bin" });
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        else if (_options.TypedFields)
        {
            typed();
        }
        else
        {
            tensor.RawData = ByteString.CopyFrom(bytes);
        }
    }
}
