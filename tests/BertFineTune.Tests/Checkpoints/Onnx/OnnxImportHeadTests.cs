using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Onnx;
using BertFineTune.Heads;
using BertFineTune.Tokenization;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints.Onnx;

/// <summary>
/// Every built-in head through the importer: a fixture model of ../shared/fixtures/hf-reference (saved by transformers
/// 5.17) is written as the ONNX graph torch.onnx would write (<see cref="TorchOnnxExport"/>), imported, and compared with
/// the fixture itself: the imported weights must equal the fixture's bit for bit and the configuration read off the
/// graph must equal the fixture's config.json (labels excepted: an ONNX file has no label names). Running the same graph
/// in ONNX Runtime and the imported model in BertFineTune proves the synthetic graph computes what the model computes.
/// </summary>
public sealed class OnnxImportHeadTests(ITestOutputHelper output)
{
    public static TheoryData<string> Models => new() { "bert_model", "seq_cls", "token_cls", "qa", "multiple_choice", "mlm", "pretraining" };

    [Theory]
    [MemberData(nameof(Models))]
    public void Imported_weights_equal_the_fixture_bit_for_bit_and_the_config_is_read_off_the_graph(string fixture)
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(Fixtures.Model(fixture), temp.File("export"));
        var folder = temp.File("imported");

        var report = OnnxImport.ImportFolder(onnx, Fixtures.Model(fixture), folder);

        AssertSameWeights(Fixtures.Model(fixture), folder);
        AssertSameConfig(BertConfig.Load(Fixtures.Model(fixture)), report.Config);
        Assert.Empty(report.MissingKeys);
        output.WriteLine(report.ToString());
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void The_synthetic_export_run_by_onnx_runtime_matches_the_imported_model(string fixture)
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(Fixtures.Model(fixture), temp.File("export"));
        var folder = temp.File("imported");
        OnnxImport.ImportFolder(onnx, Fixtures.Model(fixture), folder);
        AssertMatchesOnnxRuntime(onnx, folder, fixture);
    }

    /// <summary>
    /// The activation is read off the feed-forward pattern and the LayerNorm epsilon off the opset-17 operator's attribute;
    /// ONNX Runtime running the pattern agreeing with BertFineTune running the named activation shows the name is right
    /// (activations.py: GELUActivation for gelu, NewGELUActivation for gelu_new, ReLU for relu).
    /// </summary>
    [Theory]
    [InlineData("gelu", false)]
    [InlineData("gelu_new", false)]
    [InlineData("relu", false)]
    [InlineData("gelu", true)]
    public void The_activation_and_layer_norm_form_are_read_off_the_graph(string activation, bool layerNormalizationOperator)
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(Fixtures.Model("token_cls"), temp.File("export"),
            new ExportOptions { Activation = activation, LayerNormalizationOperator = layerNormalizationOperator });
        var folder = temp.File("imported");

        var report = OnnxImport.ImportFolder(onnx, Fixtures.Model("token_cls"), folder);

        Assert.Equal(activation, report.Config.HiddenAct);
        Assert.Equal(1e-12, report.Config.LayerNormEps);
        AssertSameWeights(Fixtures.Model("token_cls"), folder);
        AssertMatchesOnnxRuntime(onnx, folder, activation);
    }

    private void AssertMatchesOnnxRuntime(string onnx, string folder, string label)
    {
        using var model = BertModelBuilder.FromPretrained(folder).Build();
        model.Model.eval();
        using var scope = NewDisposeScope();
        var (ids, mask, types) = Inputs(model.Tokenizer, model.Model.Head is MultipleChoiceHead);
        using var ort = new OnnxRuntimeRunner(onnx);
        var reference = ort.Run(new Dictionary<string, Tensor> { ["input_ids"] = ids, ["attention_mask"] = mask, ["token_type_ids"] = types });
        using var result = model.Model.Forward(new BertBatch(ids, mask, types));
        // Per-token outputs are compared at real tokens only; padded positions mean nothing in either runtime.
        var real = mask.to(ScalarType.Bool);
        foreach (var (name, expected) in reference)
        {
            var difference = (result[name] - expected).abs();
            if (difference.dim() >= 2 && difference.shape[1] == real.shape[^1] && real.dim() == 2)
            {
                difference = difference.dim() == 3 ? difference.masked_fill(real.logical_not().unsqueeze(-1), 0) : difference.masked_fill(real.logical_not(), 0);
            }
            float max = difference.max().item<float>();
            output.WriteLine($"{label} {name}: max |BertFineTune - ONNX Runtime| = {max:E2}");
            Assert.True(max <= 1e-5, $"{name} differs from ONNX Runtime by {max}");
        }
    }

    /// <summary>Weights read from the import's model.safetensors equal the fixture's: same keys, shapes and every bit.</summary>
    internal static void AssertSameWeights(string expectedFolder, string actualFolder, Func<Tensor, Tensor>? expectedTransform = null)
    {
        using var expected = SafeTensorsCheckpoint.OpenFolder(expectedFolder);
        using var actual = SafeTensorsCheckpoint.OpenFolder(actualFolder);
        Assert.Equal(expected.Names.Order(StringComparer.Ordinal), actual.Names.Order(StringComparer.Ordinal));
        foreach (var name in expected.Names)
        {
            using var scope = NewDisposeScope();
            var want = expected.ReadTensor(name, ScalarType.Float32);
            want = expectedTransform?.Invoke(want) ?? want;
            var got = actual.ReadTensor(name);
            Assert.Equal(ScalarType.Float32, got.dtype);
            Assert.Equal(want.shape, got.shape);
            Assert.True(want.eq(got).all().item<bool>(), $"{name} differs from the fixture");
        }
    }

    internal static void AssertSameConfig(BertConfig expected, BertConfig actual)
    {
        Assert.Equal(expected.Architectures, actual.Architectures);
        Assert.Equal(expected.VocabSize, actual.VocabSize);
        Assert.Equal(expected.HiddenSize, actual.HiddenSize);
        Assert.Equal(expected.NumHiddenLayers, actual.NumHiddenLayers);
        Assert.Equal(expected.NumAttentionHeads, actual.NumAttentionHeads);
        Assert.Equal(expected.IntermediateSize, actual.IntermediateSize);
        Assert.Equal(expected.MaxPositionEmbeddings, actual.MaxPositionEmbeddings);
        Assert.Equal(expected.TypeVocabSize, actual.TypeVocabSize);
        Assert.Equal(expected.LayerNormEps, actual.LayerNormEps);
        Assert.Equal(expected.HiddenAct, actual.HiddenAct);
        Assert.Equal(expected.TieWordEmbeddings, actual.TieWordEmbeddings);
        if (expected.Architectures[0] is "BertForSequenceClassification" or "BertForTokenClassification")
        {
            Assert.Equal(expected.NumLabels, actual.NumLabels);
        }
    }

    /// <summary>Three sentences of different lengths (padding included), as pairs; for multiple choice two choices each.</summary>
    private static (Tensor Ids, Tensor Mask, Tensor Types) Inputs(BertTokenizer tokenizer, bool choices)
    {
        string[] first = ["the film was a quiet triumph", "awful", "a long and winding story about a family that never speaks"];
        string[] second = ["i loved it", "the plot made no sense at all", "yes"];
        var options = new EncodingOptions { Padding = PaddingStrategy.Longest };
        if (!choices)
        {
            var encoded = tokenizer.EncodeBatch(first, second, options);
            return (Stack(encoded, e => e.Ids), Stack(encoded, e => e.AttentionMask), Stack(encoded, e => e.TypeIds));
        }
        // [batch 3, choices 2, sequence]: each context with the two answers.
        var contexts = first.SelectMany(f => new[] { f, f }).ToList();
        var answers = second.SelectMany(s => new[] { s, "not " + s }).Select(a => (string?)a).ToList();
        var pairs = tokenizer.EncodeBatch(contexts, answers, options);
        Tensor Shape3(Tensor t) => t.reshape(3, 2, -1);
        return (Shape3(Stack(pairs, e => e.Ids)), Shape3(Stack(pairs, e => e.AttentionMask)), Shape3(Stack(pairs, e => e.TypeIds)));
    }

    /// <summary>One field of a padded batch encoding as a [batch, length] int64 tensor.</summary>
    internal static Tensor Stack(BatchEncoding encoded, Func<EncodedText, IReadOnlyList<int>> field) =>
        tensor(encoded.Encodings.SelectMany(e => field(e).Select(v => (long)v)).ToArray(), [encoded.Encodings.Count, encoded.Encodings[0].Length]);
}
