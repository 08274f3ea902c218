using BertFineTune.Builder;
using BertFineTune.Checkpoints.Onnx;
using BertFineTune.Heads;
using Microsoft.ML.OnnxRuntime;
using OrtTensors = Microsoft.ML.OnnxRuntime.Tensors;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints.Onnx;

/// <summary>
/// <c>OnnxExportOptions.Quantization = DynamicInt8</c> (<c>--quantize int8</c>), checked against ONNX Runtime's dynamic
/// quantizer (onnxruntime/python/tools/quantization: quantize.py <c>quantize_dynamic</c>, operators/matmul.py
/// <c>MatMulInteger.quantize</c>, quant_utils.py <c>quantize_data</c>, <c>compute_scale_zp</c>, <c>quantize_nparray</c>,
/// base_quantizer.py <c>quantize_weight_per_channel_impl</c>) and against the float export run in ONNX Runtime 1.31.1.
/// </summary>
public sealed class OnnxQuantizationTests(ITestOutputHelper output)
{
    /// <summary>
    /// The weight rule of quant_utils.py on a [2, 3] weight whose numbers make every step exact in binary, worked by hand:
    /// column 0 = (1.984375, −0.0234375): absmax 1.984375 = 127/64, scale = 2·absmax/254 = 1/64, q = (127, round(−1.5) = −2
    /// (half to even)); column 1 = (−3.96875, 0.046875): absmax 127/32, scale 1/32, q = (−127, round(1.5) = 2); column 2 all
    /// zeros: the scale 0 is below float32's smallest normal, so compute_scale_zp sets it to 1, q = (0, 0).
    /// </summary>
    [Fact]
    public void Weight_scales_and_int8_values_follow_quant_utils_per_output_column()
    {
        float[] weight = [1.984375f, -3.96875f, 0f, -0.0234375f, 0.046875f, 0f];

        var quantized = OnnxDynamicQuantization.QuantizePerColumn(weight, 2, 3, "w");

        Assert.Equal([1f / 64, 1f / 32, 1f], quantized.Scales);
        Assert.Equal([(sbyte)127, (sbyte)-127, (sbyte)0, (sbyte)-2, (sbyte)2, (sbyte)0], quantized.Values);
    }

    /// <summary>A column of one positive value still gets a symmetric range (rmin is clamped to 0 first, then |rmax| taken): scale 0.5/127.</summary>
    [Fact]
    public void A_one_signed_column_is_quantized_symmetrically_around_zero()
    {
        // compute_scale_zp: rmin = min(0.25, 0) = 0, rmax = 0.5, absmax 0.5, scale = float32(1.0 / 254); 0.25 / scale = 63.5 → 64 (half to even).
        var quantized = OnnxDynamicQuantization.QuantizePerColumn([0.5f, 0.25f], 2, 1, "w");
        Assert.Equal((float)(1.0 / 254.0), quantized.Scales[0]);
        Assert.Equal([(sbyte)127, (sbyte)64], quantized.Values);
    }

    [Fact]
    public void A_non_finite_weight_is_refused_naming_the_weight_and_position()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxDynamicQuantization.QuantizePerColumn([0f, float.NaN, 1f, 2f], 2, 2, "onnx::MatMul_7"));
        Assert.Contains("onnx::MatMul_7", e.Message, StringComparison.Ordinal);
        Assert.Contains("[0, 1]", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// One quantized linear layer run by ONNX Runtime, its output worked out by hand from the rules: the weight of
    /// <see cref="Weight_scales_and_int8_values_follow_quant_utils_per_output_column"/> (q columns (127, −2), (−127, 2), (0, 0),
    /// scales 1/64, 1/32, 1), the input x = [[1, −1], [2.984375, 0.0078125]] quantized by DynamicQuantizeLinear (ONNX
    /// Operators.md: x_min = min(0, min x) = −1, x_max = 2.984375, scale = (x_max − x_min)/255 = 1/64, zero point
    /// round(0 − x_min/scale) = 64, q = round(x/scale) + 64 = [[128, 0], [255, 64]] (0.5 rounds to 0, half to even)).
    /// MatMulInteger (q − 64)·w_q = [[64·127 + 64·2, −64·127 − 64·2, 0], [191·127, −191·127, 0]] = [[8256, −8256, 0],
    /// [24257, −24257, 0]], times x_scale·w_scale = (1/4096, 1/2048, 1/64), plus the bias (0.5, −0.5, 0.25). Every step is
    /// exact in float32, so the output must equal these numbers exactly; the per-column weight zero point (a 1-D int8
    /// tensor of the output size) is what ONNX Runtime's CPU MatMulInteger must accept.
    /// </summary>
    [Theory]
    [InlineData(GraphOptimizationLevel.ORT_DISABLE_ALL)]
    [InlineData(GraphOptimizationLevel.ORT_ENABLE_ALL)]
    public void One_quantized_linear_layer_gives_the_hand_computed_output_in_onnx_runtime(GraphOptimizationLevel level)
    {
        using var temp = new TempFolder();
        var writer = new OnnxGraphWriter(17, OnnxQuantization.DynamicInt8);
        var x = writer.Input("x", global::Onnx.TensorProto.Types.DataType.Float, "batch", "2");
        float[] weight = [1.984375f, -3.96875f, 0f, -0.0234375f, 0.046875f, 0f];
        var product = OnnxDynamicQuantization.MatMul(writer, x, weight, 2, 3, "onnx::MatMul_0");
        var y = writer.Node("Add", [product, writer.Weight("bias", [0.5f, -0.5f, 0.25f], 3)]);
        writer.Output(y, "y", ["batch", "3"]);
        var file = temp.File("linear.onnx");
        OnnxGraphWriter.Write(writer.ToModel([], "test"), file);

        using var options = new SessionOptions { GraphOptimizationLevel = level, IntraOpNumThreads = 1 };
        using var session = new InferenceSession(file, options);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new OrtTensors.DenseTensor<float>(new[] { 1f, -1f, 2.984375f, 0.0078125f }, [2, 2]))]);

        var got = results.Single().AsTensor<float>().ToArray();
        float[] expected = [8256f / 4096 + 0.5f, -8256f / 2048 - 0.5f, 0.25f, 24257f / 4096 + 0.5f, -24257f / 2048 - 0.5f, 0.25f];
        Assert.Equal(expected, got);
    }

    /// <summary>
    /// Every fixture model exported with int8 runs in ONNX Runtime and stays close to its float export on the fixture's
    /// inputs and on a batch of another length. Tolerance, from the int8 steps: each quantized product carries a relative
    /// rounding error of at most half a uint8 activation step plus half an int8 weight step, 1/510 + 1/254 ≈ 0.6% of its
    /// range; the deepest output passes through 4 quantized products per layer (Q/K/V, attention output, intermediate,
    /// output) plus the pooler and the head's, 4·2 + 2 = 10 for these 2-layer models, ≈ 6% if every error added up
    /// with the same sign; the tolerance is 0.1 × the largest |value| of the float output. For classifiers, the argmax of
    /// every row whose float margin (top minus runner-up) exceeds twice that tolerance must agree.
    /// </summary>
    [Theory]
    [MemberData(nameof(OnnxExportTests.ReferenceFixturesAtOpsets), MemberType = typeof(OnnxExportTests))]
    public void Every_fixture_model_exported_in_int8_stays_close_to_its_float_export(string fixture, int opset)
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model(fixture)).Build();
        var fp32 = temp.File("model.onnx");
        var int8 = temp.File("model-int8.onnx");
        model.ExportOnnx(fp32, new OnnxExportOptions { Opset = opset });
        model.ExportOnnx(int8, new OnnxExportOptions { Opset = opset, Quantization = OnnxQuantization.DynamicInt8 });
        bool choices = model.Model.Head is MultipleChoiceHead;
        bool classifier = model.Model.Head is SequenceClassificationHead { Labels.Count: > 1 } or TokenClassificationHead or MultipleChoiceHead;

        foreach (var (inputs, label) in new[]
        {
            (OnnxExportTests.ReferenceInputs(fixture), "reference inputs"),
            (OnnxExportTests.TokenizedInputs(model.Tokenizer, choices), "other length"),
        })
        {
            var want = Run(fp32, inputs);
            var got = Run(int8, inputs);
            Assert.Equal(want.Keys.Order(), got.Keys.Order());
            foreach (var (name, (values, shape)) in want)
            {
                var quantized = got[name].Values;
                Assert.Equal(shape, got[name].Shape);
                float scale = values.Max(MathF.Abs);
                float diff = values.Zip(quantized, (a, b) => MathF.Abs(a - b)).Max();
                float tolerance = 0.1f * scale;
                output.WriteLine(FormattableString.Invariant(
                    $"{fixture} opset {opset} {label} {name} [{string.Join(", ", shape)}]: max |int8 − fp32| = {diff:E2} (max |fp32| {scale:E2}, {100 * diff / scale:F2}%)"));
                Assert.True(diff <= tolerance, $"{fixture} {label}: {name} differs from the float export by {diff}, more than {tolerance}");
                if (classifier && name == "logits")
                {
                    AssertSameArgmax(values, quantized, (int)shape[^1], 2 * tolerance, $"{fixture} {label}");
                }
            }
        }
    }

    /// <summary>
    /// The graph quantizes every linear layer and nothing else, as <c>quantize_dynamic(per_channel=True,
    /// op_types_to_quantize=["MatMul"])</c> does with its default MatMulConstBOnly: one <c>MatMulInteger</c> per encoder
    /// linear (6 per layer: Q, K, V, attention output, intermediate, output), the pooler's when the encoder has it, and each
    /// head linear; one <c>DynamicQuantizeLinear</c> per distinct input (Q/K/V share theirs: 4 per layer); the two attention
    /// MatMuls per layer (no weight) and a masked-LM decoder read through <c>Transpose</c> stay float <c>MatMul</c>s;
    /// <c>Gather</c> and <c>LayerNormalization</c> keep float weights; each quantized weight is int8 with an int8 zero point
    /// of 0 per output column and a float scale per output column; no float linear weight is left.
    /// </summary>
    [Theory]
    [InlineData("bert_model", 0, 0)]
    [InlineData("seq_cls", 1, 0)]
    [InlineData("token_cls", 1, 0)]
    [InlineData("qa", 1, 0)]
    [InlineData("multiple_choice", 1, 0)]
    [InlineData("mlm", 1, 1)]
    [InlineData("pretraining", 2, 1)]
    public void Every_linear_layer_and_only_those_is_quantized(string fixture, int headLinears, int floatDecoders)
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model(fixture)).Build();
        var int8 = temp.File("model-int8.onnx");
        model.ExportOnnx(int8, new OnnxExportOptions { Quantization = OnnxQuantization.DynamicInt8 });
        var graph = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(int8)).Graph;
        var counts = OnnxExportTests.OpCounts(int8);
        output.WriteLine($"{fixture}: {string.Join(", ", counts.Select(p => $"{p.Key} {p.Value}"))}");

        int layers = model.Model.Config.NumHiddenLayers, pooler = model.Model.Encoder.HasPooler ? 1 : 0;
        int linears = 6 * layers + pooler + headLinears;
        Assert.Equal(linears, counts.GetValueOrDefault("MatMulInteger"));
        // Q/K/V read one input; the pre-training head's transform and seq_relationship read different values.
        Assert.Equal(4 * layers + pooler + headLinears, counts.GetValueOrDefault("DynamicQuantizeLinear"));
        Assert.Equal(2 * layers + floatDecoders, counts.GetValueOrDefault("MatMul"));
        // Embeddings, two per layer, and the masked-LM transform's (the heads with a decoder): all float.
        Assert.Equal(1 + 2 * layers + floatDecoders, counts.GetValueOrDefault("LayerNormalization"));

        var initializers = graph.Initializer.ToDictionary(i => i.Name);
        int int8Type = (int)global::Onnx.TensorProto.Types.DataType.Int8, floatType = (int)global::Onnx.TensorProto.Types.DataType.Float;
        foreach (var node in graph.Node.Where(n => n.OpType == "MatMulInteger"))
        {
            Assert.Equal(4, node.Input.Count);
            var weight = initializers[node.Input[1]];
            var zeroPoint = initializers[node.Input[3]];
            Assert.Equal(int8Type, weight.DataType);
            Assert.Equal(2, weight.Dims.Count);
            Assert.Equal(int8Type, zeroPoint.DataType);
            Assert.Equal([weight.Dims[1]], zeroPoint.Dims);
            Assert.All(zeroPoint.RawData.ToByteArray(), b => Assert.Equal(0, b));
            var scale = initializers[node.Input[1].Replace("_quantized", "_scale", StringComparison.Ordinal)];
            Assert.Equal(floatType, scale.DataType);
            Assert.Equal([weight.Dims[1]], scale.Dims);
        }
        // No float [in, out] linear weight is left (torch.onnx's onnx::MatMul_N names only the quantized forms remain).
        Assert.DoesNotContain(initializers.Values, i => i.Name.StartsWith("onnx::MatMul_", StringComparison.Ordinal) && i.DataType == floatType && i.Dims.Count == 2);
        Assert.Equal(floatType, initializers[model.Model.Head.PrefixEncoderKeys ? "bert.embeddings.word_embeddings.weight" : "embeddings.word_embeddings.weight"].DataType);
    }

    /// <summary>
    /// The scales of the seq_cls fixture's classifier ([3, 32] in the checkpoint, [32, 3] as the MatMul weight) are the
    /// rule's numbers, written as float32 bit patterns: computed outside this library from the checkpoint's values with
    /// quant_utils.py's formulas (absmax of each output row, float32(float64(2·absmax) / 254)): absmax 0.06339868158102036,
    /// 0.04553796723484993, 0.05204141139984131 → 4.992022295e-04, 3.585666709e-04, 4.097748897e-04; and the int8 values of
    /// the first output channel, round(w / scale) half to even, from the same computation.
    /// </summary>
    [Fact]
    public void The_classifier_scales_equal_the_quant_utils_rule_worked_outside_the_library()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        var int8 = temp.File("model-int8.onnx");
        model.ExportOnnx(int8, new OnnxExportOptions { Quantization = OnnxQuantization.DynamicInt8 });
        var graph = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(int8)).Graph;
        var initializers = graph.Initializer.ToDictionary(i => i.Name);
        // The classifier's MatMulInteger is the one whose weight has 3 output columns.
        var node = graph.Node.Single(n => n.OpType == "MatMulInteger" && initializers[n.Input[1]].Dims[1] == 3);
        var weight = initializers[node.Input[1]];
        var scales = initializers[node.Input[1].Replace("_quantized", "_scale", StringComparison.Ordinal)];

        var scaleBits = Enumerable.Range(0, 3).Select(i => BitConverter.ToInt32(scales.RawData.Span[(4 * i)..])).ToArray();
        Assert.Equal([0x3A02DCE5, 0x39BBFE01, 0x39D6D70E], scaleBits);
        var values = weight.RawData.ToByteArray().Select(b => (sbyte)b).ToArray();
        Assert.Equal([32L, 3L], weight.Dims);
        sbyte[] firstChannel =
        [
            -23, 30, 71, 4, -45, -33, 113, -32, 23, -11, -79, -6, -22, 20, 0, -17, -7, 65, -14, 32, 4, -27, -73, 22, 0, -60, 33, -6, 29, 39, -52, -127,
        ];
        Assert.Equal(firstChannel, Enumerable.Range(0, 32).Select(row => values[row * 3]).ToArray());
    }

    /// <summary>
    /// The file shrinks by what int8 saves on the linear weights: each [in, out] float weight (4·in·out bytes) becomes
    /// in·out int8 bytes plus a float scale and an int8 zero point per column (5·out bytes); everything else is unchanged.
    /// The initializer bytes are checked to the byte. The file itself saves less than that by the quantized nodes
    /// (DynamicQuantizeLinear, MatMulInteger, Cast, two Mul per linear, with their value names): a few hundred bytes per
    /// linear layer, about 13% of the saving on these 32-wide fixtures and a negligible part on BERT-base; the file must
    /// shrink by at least half the initializer saving.
    /// </summary>
    [Theory]
    [InlineData("seq_cls")]
    [InlineData("mlm")]
    public void The_int8_file_stores_the_linear_weights_in_a_quarter_of_the_bytes(string fixture)
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model(fixture)).Build();
        var fp32 = temp.File("model.onnx");
        var int8 = temp.File("model-int8.onnx");
        model.ExportOnnx(fp32);
        model.ExportOnnx(int8, new OnnxExportOptions { Quantization = OnnxQuantization.DynamicInt8 });
        var floatGraph = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(fp32)).Graph;
        var int8Graph = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(int8)).Graph;

        var floatWeights = floatGraph.Node.Where(n => n.OpType == "MatMul")
            .Select(n => floatGraph.Initializer.SingleOrDefault(i => i.Name == n.Input[1]))
            .OfType<global::Onnx.TensorProto>()
            .ToList();
        long linearBytes = floatWeights.Sum(w => w.RawData.Length);
        long expectedSaving = floatWeights.Sum(w => 3 * w.Dims[0] * w.Dims[1] - 5 * w.Dims[1]);
        long floatBytes = floatGraph.Initializer.Sum(i => (long)i.RawData.Length);
        long int8Bytes = int8Graph.Initializer.Sum(i => (long)i.RawData.Length);
        long floatFile = new FileInfo(fp32).Length, int8File = new FileInfo(int8).Length;
        output.WriteLine(FormattableString.Invariant(
            $"{fixture}: linear weights {linearBytes} B of {floatBytes} B initializers; int8 initializers {int8Bytes} B; file {floatFile} B → {int8File} B ({100.0 * int8File / floatFile:F1}%)"));

        Assert.Equal(floatBytes - expectedSaving, int8Bytes);
        Assert.True(int8File < floatFile - expectedSaving / 2, $"the int8 file ({int8File} B) should be about {expectedSaving} B smaller than the float one ({floatFile} B)");
    }

    /// <summary>
    /// A custom head exporting through the public hook (<see cref="TwoLayerClsHead"/>: two <c>OnnxHeadGraph.Linear</c>s)
    /// gets its linears quantized too, at opset 12, 17 and 21 alike (DynamicQuantizeLinear is opset 11, MatMulInteger 10), and
    /// stays within the tolerance of the fixture test of its float export.
    /// </summary>
    [Theory]
    [InlineData(12)]
    [InlineData(17)]
    [InlineData(21)]
    public void A_custom_head_exports_its_linears_in_int8_at_any_supported_opset(int opset)
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithHead(c => new TwoLayerClsHead(c)).Build();
        var fp32 = temp.File("model.onnx");
        var int8 = temp.File("model-int8.onnx");
        model.ExportOnnx(fp32, new OnnxExportOptions { Opset = opset });
        model.ExportOnnx(int8, new OnnxExportOptions { Opset = opset, Quantization = OnnxQuantization.DynamicInt8 });

        // 2 layers × 6, the pooler the seq_cls encoder keeps, and the head's two.
        int linears = 6 * model.Model.Config.NumHiddenLayers + (model.Model.Encoder.HasPooler ? 1 : 0) + 2;
        Assert.Equal(linears, OnnxExportTests.OpCounts(int8).GetValueOrDefault("MatMulInteger"));
        var inputs = OnnxExportTests.ReferenceInputs("seq_cls");
        var want = Run(fp32, inputs)["logits"].Values;
        var got = Run(int8, inputs)["logits"].Values;
        float diff = want.Zip(got, (a, b) => MathF.Abs(a - b)).Max();
        output.WriteLine(FormattableString.Invariant($"opset {opset}: max |int8 − fp32| = {diff:E2} (max |fp32| {want.Max(MathF.Abs):E2})"));
        Assert.True(diff <= 0.1f * want.Max(MathF.Abs), $"opset {opset}: the custom head's int8 logits differ by {diff}");
    }

    /// <summary>An int8 export is not a float model: ONNX import refuses it and names the quantization node.</summary>
    [Fact]
    public void Importing_an_int8_export_is_refused_naming_the_quantization()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        var int8 = temp.File("model-int8.onnx");
        model.ExportOnnx(int8, new OnnxExportOptions { Quantization = OnnxQuantization.DynamicInt8 });

        var e = Assert.Throws<OnnxImportException>(() => OnnxImport.ImportFolder(int8, Fixtures.Model("seq_cls"), temp.File("imported")));

        Assert.Contains("quantized", e.Message, StringComparison.Ordinal);
        Assert.Contains("DynamicQuantizeLinear", e.Element ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public void An_undefined_quantization_value_is_refused_with_the_valid_ones()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.ExportOnnx(temp.File("model.onnx"), new OnnxExportOptions { Quantization = (OnnxQuantization)7 }));
        Assert.Contains("DynamicInt8", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
    }

    /// <summary>
    /// ONNX Runtime's optimizer (ORT_ENABLE_ALL) recognises the quantized layout as its own quantizer's output: the
    /// counts before and after are printed, and the optimized graph still gives the unoptimized int8 outputs (1e-4).
    /// </summary>
    [Fact]
    public void Onnx_runtime_optimizes_the_int8_export_without_changing_its_outputs()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        var int8 = temp.File("model-int8.onnx");
        model.ExportOnnx(int8, new OnnxExportOptions { Quantization = OnnxQuantization.DynamicInt8 });
        var optimized = temp.File("optimized.onnx");
        using (var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, OptimizedModelFilePath = optimized, IntraOpNumThreads = 1 })
        using (new InferenceSession(int8, options))
        {
        }
        output.WriteLine($"before: {string.Join(", ", OnnxExportTests.OpCounts(int8).Select(p => $"{p.Key} {p.Value}"))}");
        output.WriteLine($"after ORT_ENABLE_ALL: {string.Join(", ", OnnxExportTests.OpCounts(optimized).Select(p => $"{p.Key} {p.Value}"))}");

        var inputs = OnnxExportTests.ReferenceInputs("seq_cls");
        var plain = Run(int8, inputs)["logits"].Values;
        var fused = Run(int8, inputs, GraphOptimizationLevel.ORT_ENABLE_ALL)["logits"].Values;
        Assert.True(plain.Zip(fused, (a, b) => MathF.Abs(a - b)).Max() <= 1e-4f);
    }

    private int AssertSameArgmax(float[] want, float[] got, int classes, float minimumMargin, string label)
    {
        int checkedRows = 0;
        for (int row = 0; row * classes < want.Length; row++)
        {
            var expected = want.AsSpan(row * classes, classes);
            var actual = got.AsSpan(row * classes, classes);
            var ordered = expected.ToArray().OrderDescending().ToArray();
            if (ordered[0] - ordered[1] <= minimumMargin)
            {
                continue;
            }
            checkedRows++;
            Assert.True(expected.IndexOf(ordered[0]) == actual.IndexOf(actual.ToArray().Max()), $"{label}: row {row} changes its argmax under int8");
        }
        output.WriteLine($"{label}: argmax compared on {checkedRows} of {want.Length / classes} rows (the others' float margin is within {minimumMargin:E2})");
        return checkedRows;
    }

    private static Dictionary<string, (float[] Values, long[] Shape)> Run(string onnx, (Tensor Ids, Tensor Mask, Tensor Types) inputs,
        GraphOptimizationLevel level = GraphOptimizationLevel.ORT_DISABLE_ALL)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = level, IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(onnx, options);
        var feeds = new[] { ("input_ids", inputs.Ids), ("attention_mask", inputs.Mask), ("token_type_ids", inputs.Types) }.Select(p =>
        {
            using var t = p.Item2.to(ScalarType.Int64).contiguous();
            return NamedOnnxValue.CreateFromTensor(p.Item1, new OrtTensors.DenseTensor<long>(t.data<long>().ToArray(), t.shape.Select(d => (int)d).ToArray()));
        }).ToList();
        using var results = session.Run(feeds);
        return results.ToDictionary(r => r.Name, r =>
        {
            var tensor = r.AsTensor<float>();
            return (tensor.ToArray(), tensor.Dimensions.ToArray().Select(d => (long)d).ToArray());
        });
    }
}
