using System.Globalization;
using System.Text.Json;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Onnx;
using BertFineTune.Heads;
using BertFineTune.Modeling;
using BertFineTune.Tokenization;
using Microsoft.ML.OnnxRuntime;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints.Onnx;

/// <summary>
/// ONNX export (<c>TaskModel.ExportOnnx</c>) checked against the model itself: every fixture model of
/// ../shared/fixtures/hf-reference (saved by transformers 5.17), exported and run by ONNX Runtime, must give the TorchSharp
/// forward's outputs within 1e-5, on the fixture's own padded inputs (reference_io.safetensors, written by transformers) and
/// on a second batch of another sequence length; the export imported back (<c>OnnxImport</c>) must give the same weights
/// bit for bit. The expected values are the TorchSharp forward's outputs, which the fixture tests check against transformers.
/// </summary>
public sealed class OnnxExportTests(ITestOutputHelper output)
{
    public static TheoryData<string> ReferenceFixtures => new() { "bert_model", "mlm", "multiple_choice", "pretraining", "qa", "seq_cls", "seq_multilabel", "seq_regression", "token_cls" };

    /// <summary>Every fixture at the default opset 17 and at opset 12 (decomposed LayerNorms, mask constant −10000, the layout ONNX Runtime fuses into Attention).</summary>
    public static TheoryData<string, int> ReferenceFixturesAtOpsets()
    {
        var data = new TheoryData<string, int>();
        foreach (var opset in new[] { 17, 12 })
        {
            foreach (var fixture in ReferenceFixtures)
            {
                data.Add(fixture, opset);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ReferenceFixturesAtOpsets))]
    public void Every_fixture_model_exported_runs_in_onnx_runtime_as_the_torchsharp_forward(string fixture, int opset)
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model(fixture)).Build();
        var onnx = temp.File("model.onnx");
        model.ExportOnnx(onnx, new OnnxExportOptions { Opset = opset });
        Assert.Equal(opset, global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnx)).OpsetImport.Single().Version);

        AssertMatches(model.Model, onnx, ReferenceInputs(fixture), $"{fixture} opset {opset} reference inputs");
        AssertMatches(model.Model, onnx, TokenizedInputs(model.Tokenizer, model.Model.Head is MultipleChoiceHead), $"{fixture} opset {opset} other length");
        // Next to the file the exporter writes nothing else (no temporary file left either).
        Assert.Equal(["model.onnx"], Directory.GetFileSystemEntries(temp.Path).Select(Path.GetFileName));
    }

    /// <summary>
    /// Every pooling of every pooled head (<c>classifier_pooling</c>, the sentence-embedding head with and without L2
    /// normalisation) and every activation form (<c>hidden_act</c>: activations.py GELUActivation, NewGELUActivation,
    /// ReLU, SiLU) gives the TorchSharp forward's outputs in ONNX Runtime.
    /// </summary>
    [Theory]
    [InlineData("seq_cls", "cls")]
    [InlineData("seq_cls", "mean")]
    [InlineData("seq_cls", "max")]
    [InlineData("seq_regression", "mean")]
    [InlineData("multiple_choice", "max")]
    [InlineData("multiple_choice", "cls")]
    [InlineData("bert_model", "embedding:mean")]
    [InlineData("bert_model", "embedding:mean:normalize")]
    [InlineData("bert_model", "embedding:max:normalize")]
    [InlineData("bert_model", "embedding:cls")]
    [InlineData("bert_model", "embedding:pooler:normalize")]
    [InlineData("token_cls", "act:gelu_new")]
    [InlineData("token_cls", "act:gelu_pytorch_tanh")]
    [InlineData("token_cls", "act:relu")]
    [InlineData("token_cls", "act:silu")]
    [InlineData("mlm", "act:gelu_new")]
    public void Each_pooling_and_activation_exports_as_the_torchsharp_forward(string fixture, string variant)
    {
        using var temp = new TempFolder();
        using var model = Variant(fixture, variant);
        var onnx = temp.File("model.onnx");
        model.ExportOnnx(onnx);
        AssertMatches(model.Model, onnx, ReferenceInputs(fixture), $"{fixture} {variant}");
        AssertMatches(model.Model, onnx, TokenizedInputs(model.Tokenizer, model.Model.Head is MultipleChoiceHead), $"{fixture} {variant} other length");
    }

    /// <summary>
    /// Every opset form gives the same outputs as 17: 12 (axes as attributes, Shape then Slice, decomposed LayerNorm, mask
    /// constant −10000), 14 (Unsqueeze and ReduceSum take their axes as inputs from 13; still decomposed LayerNorm), 18 and
    /// 21 (ReduceMax and ReduceMean take their axes as an input from 18), through every pooling and the multiple-choice reshape.
    /// </summary>
    [Theory]
    [InlineData(12, "seq_cls", "max")]
    [InlineData(12, "seq_cls", "mean")]
    [InlineData(12, "multiple_choice", "cls")]
    [InlineData(12, "bert_model", "embedding:mean:normalize")]
    [InlineData(12, "bert_model", "embedding:max:normalize")]
    [InlineData(12, "token_cls", "act:gelu_new")]
    [InlineData(14, "seq_cls", "mean")]
    [InlineData(14, "multiple_choice", "max")]
    [InlineData(18, "seq_cls", "max")]
    [InlineData(21, "seq_cls", "max")]
    public void Other_opsets_export_the_same_computation(int opset, string fixture, string variant)
    {
        using var temp = new TempFolder();
        using var model = Variant(fixture, variant);
        var onnx = temp.File("model.onnx");
        model.ExportOnnx(onnx, new OnnxExportOptions { Opset = opset });
        var written = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnx));
        Assert.Equal(opset, written.OpsetImport.Single(o => o.Domain == "").Version);
        Assert.Equal(opset >= 17, written.Graph.Node.Any(n => n.OpType == "LayerNormalization"));
        AssertMatches(model.Model, onnx, ReferenceInputs(fixture), $"opset {opset} {fixture} {variant}");
        AssertMatches(model.Model, onnx, TokenizedInputs(model.Tokenizer, model.Model.Head is MultipleChoiceHead), $"opset {opset} {fixture} {variant} other length");
    }

    /// <summary>
    /// ONNX Runtime's fused Attention (opset 12, ORT_ENABLE_ALL) reads the attention mask as given, not only as
    /// right padding: a left-padded row and a row with a hole in the middle give the TorchSharp forward within 1e-5. A row
    /// that keeps no token at all is where opset 12 departs from the model: −10000 instead of float32's lowest value leaves
    /// the scores' own softmax instead of uniform weights (see AdditiveMask); the fused graph equals the unfused opset-12
    /// graph there (ORT's Attention filters with mask_filter_value, −10000 by default, contrib_defs Attention), and opset 17
    /// equals the TorchSharp forward. The difference from the model on that row is printed.
    /// </summary>
    [Fact]
    public void The_fused_attention_of_opset_12_follows_left_padded_and_holed_masks()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("token_cls")).Build();
        var opset12 = temp.File("model12.onnx");
        var opset17 = temp.File("model17.onnx");
        model.ExportOnnx(opset12, new OnnxExportOptions { Opset = 12 });
        model.ExportOnnx(opset17);
        var (ids, _, types) = TokenizedInputs(model.Tokenizer, choices: false);
        long length = ids.shape[1];
        // Row 0: two pad positions first (left padding); row 1: a hole at positions 2 and 3; row 2: every token kept.
        var masks = new long[3, length];
        for (long j = 0; j < length; j++)
        {
            masks[0, j] = j < 2 ? 0 : 1;
            masks[1, j] = j is 2 or 3 ? 0 : 1;
            masks[2, j] = 1;
        }
        var mask = tensor(masks.Cast<long>().ToArray(), [3, length]);
        AssertMatches(model.Model, opset12, (ids, mask, types), "opset 12 fused, left-padded and holed masks", GraphOptimizationLevel.ORT_ENABLE_ALL);
        AssertMatches(model.Model, opset12, (ids, mask, types), "opset 12 unfused, left-padded and holed masks");

        // A row that keeps nothing.
        var none = mask.clone();
        none[1].fill_(0);
        AssertMatches(model.Model, opset17, (ids, none, types), "opset 17, a row with no kept token", GraphOptimizationLevel.ORT_ENABLE_ALL);
        var fused = RunLogits(opset12, (ids, none, types), GraphOptimizationLevel.ORT_ENABLE_ALL);
        var unfused = RunLogits(opset12, (ids, none, types), GraphOptimizationLevel.ORT_DISABLE_ALL);
        float fusedVsUnfused = fused.Zip(unfused, (a, b) => MathF.Abs(a - b)).Max();
        var reference = RunLogits(opset17, (ids, none, types), GraphOptimizationLevel.ORT_DISABLE_ALL);
        float fromModel = fused.Zip(reference, (a, b) => MathF.Abs(a - b)).Max();
        output.WriteLine(FormattableString.Invariant($"a row with no kept token: max |opset 12 fused − unfused| = {fusedVsUnfused:E2}; max |opset 12 − model| = {fromModel:E2}"));
        Assert.True(fusedVsUnfused <= 1e-5, $"the fused opset-12 graph differs from the unfused one by {fusedVsUnfused} on a row with no kept token");
        // The other rows are unaffected by the masked-out row.
        int labels = (int)(fused.Length / (3 * length));
        for (int i = 0; i < fused.Length; i++)
        {
            if (i / (labels * length) != 1)
            {
                Assert.True(MathF.Abs(fused[i] - reference[i]) <= 1e-5, $"logit {i} of a kept row differs by {MathF.Abs(fused[i] - reference[i])}");
            }
        }
    }

    private static float[] RunLogits(string onnx, (Tensor Ids, Tensor Mask, Tensor Types) inputs, GraphOptimizationLevel level)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = level, IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(onnx, options);
        using var results = session.Run(Feeds(inputs));
        return results.Single(r => r.Name == "logits").AsTensor<float>().ToArray();
    }

    private static List<NamedOnnxValue> Feeds((Tensor Ids, Tensor Mask, Tensor Types) inputs) =>
        new[] { ("input_ids", inputs.Ids), ("attention_mask", inputs.Mask), ("token_type_ids", inputs.Types) }.Select(p =>
        {
            var t = p.Item2.to(ScalarType.Int64).contiguous();
            return NamedOnnxValue.CreateFromTensor(p.Item1, new Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>(t.data<long>().ToArray(), t.shape.Select(d => (int)d).ToArray()));
        }).ToList();

    /// <summary>Every head at the default opset 17 and at opset 12, whose LayerNorms the importer reads decomposed.</summary>
    public static TheoryData<string, string, int> RoundTrips()
    {
        (string, string)[] heads =
        [
            ("bert_model", ""), ("seq_cls", ""), ("seq_multilabel", ""), ("seq_regression", ""), ("token_cls", ""), ("qa", ""),
            ("multiple_choice", ""), ("mlm", ""), ("pretraining", ""), ("seq_cls", "mean"), ("bert_model", "embedding:mean"), ("mlm", "untied"),
        ];
        var data = new TheoryData<string, string, int>();
        foreach (var opset in new[] { 17, 12 })
        {
            foreach (var (fixture, variant) in heads)
            {
                data.Add(fixture, variant, opset);
            }
        }
        return data;
    }

    /// <summary>
    /// Export then import (<c>OnnxImport.ImportFolder</c>, configuration read off the graph alone) gives back every weight
    /// the model saves, bit for bit, and the configuration's sizes, activation and epsilon.
    /// </summary>
    [Theory]
    [MemberData(nameof(RoundTrips))]
    public void Export_then_import_gives_back_the_same_weights_bit_for_bit(string fixture, string variant, int opset)
    {
        using var temp = new TempFolder();
        using var model = Variant(fixture, variant);
        var saved = temp.File("saved");
        model.Save(saved);
        var onnx = temp.File("model.onnx");
        model.ExportOnnx(onnx, new OnnxExportOptions { Opset = opset });

        var report = OnnxImport.ImportFolder(onnx, Fixtures.Model(fixture), temp.File("imported"));

        output.WriteLine(report.ToString());
        OnnxImportHeadTests.AssertSameWeights(saved, temp.File("imported"));
        OnnxImportHeadTests.AssertSameConfig(model.Model.Config, report.Config);
    }

    /// <summary>
    /// ONNX Runtime's own optimizer (ORT_ENABLE_ALL, the optimized graph saved through OptimizedModelFilePath) recognises
    /// the layout: every LayerNorm after a residual add becomes SkipLayerNormalization (skip_layer_norm_fusion.cc), every
    /// feed-forward GELU with its bias BiasGelu (gelu_fusion.cc, bias_gelu_fusion.cc), at every opset written. At opset 12
    /// the self-attention of every layer becomes one com.microsoft Attention node (attention_fusion.cc,
    /// AttentionFusion::FuseSubGraph; its mask matcher, attention_fusion_helper.h MatchInputMaskSubgraph, takes Unsqueeze
    /// only at versions 1 and 11 and Cast at 9, which opset 13 and later replace, so at 17 the attention stays unfused and
    /// the count asserted is 0). The decomposed LayerNorms of opset 12 are folded back (layer_norm_fusion.cc): no ReduceMean,
    /// Pow or Sqrt is left. The node counts before and after are printed (docs/onnx-export.md quotes them).
    /// </summary>
    [Theory]
    [InlineData("seq_cls", 17)]
    [InlineData("token_cls", 17)]
    [InlineData("seq_cls", 12)]
    [InlineData("token_cls", 12)]
    [InlineData("qa", 12)]
    public void Onnx_runtime_fuses_the_layer_norms_gelus_and_at_opset_12_the_attention_of_the_export(string fixture, int opset)
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model(fixture)).Build();
        var onnx = temp.File("model.onnx");
        model.ExportOnnx(onnx, new OnnxExportOptions { Opset = opset });
        var optimized = temp.File("optimized.onnx");
        using (var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL, OptimizedModelFilePath = optimized, IntraOpNumThreads = 1 })
        using (new InferenceSession(onnx, options))
        {
        }
        var before = OpCounts(onnx);
        var after = OpCounts(optimized);
        output.WriteLine($"{fixture} opset {opset} before: {string.Join(", ", before.Select(p => $"{p.Key} {p.Value}"))}");
        output.WriteLine($"{fixture} opset {opset} after ORT_ENABLE_ALL: {string.Join(", ", after.Select(p => $"{p.Key} {p.Value}"))}");
        int layers = model.Model.Config.NumHiddenLayers;
        Assert.Equal(2 * layers, after.GetValueOrDefault("com.microsoft.SkipLayerNormalization"));
        Assert.Equal(layers, after.GetValueOrDefault("com.microsoft.BiasGelu") + after.GetValueOrDefault("com.microsoft.Gelu") + after.GetValueOrDefault("com.microsoft.FastGelu"));
        Assert.Equal(0, after.GetValueOrDefault("Erf"));
        Assert.Equal(opset == 12 ? layers : 0, after.GetValueOrDefault("com.microsoft.Attention"));
        Assert.Equal(0, after.GetValueOrDefault("com.microsoft.MultiHeadAttention"));
        if (opset == 12)
        {
            // No attention Softmax left, and the decomposed LayerNorms are all folded back.
            Assert.Equal(0, after.GetValueOrDefault("Softmax"));
            Assert.Equal(0, after.GetValueOrDefault("ReduceMean") + after.GetValueOrDefault("Pow") + after.GetValueOrDefault("Sqrt"));
        }

        // The optimized graph still computes the model's outputs.
        AssertMatches(model.Model, onnx, ReferenceInputs(fixture), $"{fixture} opset {opset} optimized", GraphOptimizationLevel.ORT_ENABLE_ALL);
    }

    [Fact]
    public void The_file_carries_the_version_architecture_and_labels_as_metadata()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        var onnx = temp.File("model.onnx");
        model.ExportOnnx(onnx);

        var written = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnx));
        var metadata = written.MetadataProps.ToDictionary(p => p.Key, p => p.Value);
        Assert.Equal("BertForSequenceClassification", metadata["architecture"]);
        Assert.Equal(OnnxModelExport.Version, metadata["bertfinetune_version"]);
        Assert.False(string.IsNullOrEmpty(metadata["bertfinetune_version"]));
        // The fixture's config.json id2label: 0 negative, 1 neutral, 2 positive.
        var labels = JsonSerializer.Deserialize<Dictionary<string, string>>(metadata["id2label"])!;
        Assert.Equal(new Dictionary<string, string> { ["0"] = "negative", ["1"] = "neutral", ["2"] = "positive" }, labels);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], written.Graph.Input.Select(i => i.Name));
        Assert.All(written.Graph.Input, i => Assert.Equal(["batch_size", "sequence_length"], i.Type.TensorType.Shape.Dim.Select(d => d.DimParam)));
        Assert.Equal(["logits"], written.Graph.Output.Select(o => o.Name));
        Assert.Equal(17, written.OpsetImport.Single().Version);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(1)]
    [InlineData(22)]
    public void An_opset_outside_12_to_21_is_refused_with_the_reason(int opset)
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.ExportOnnx(temp.File("model.onnx"), new OnnxExportOptions { Opset = opset }));
        Assert.Contains(opset < 12 ? "older than that" : "at most 21", e.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
    }

    [Fact]
    public void A_custom_head_without_the_hook_is_refused_by_name_and_leaves_the_old_file_untouched()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithHead(c => new Heads.MeanPoolScoreHead(c)).Build();
        var onnx = temp.File("model.onnx");
        File.WriteAllText(onnx, "previous export");

        var e = Assert.Throws<NotSupportedException>(() => model.ExportOnnx(onnx));

        Assert.Contains("MeanPoolScoreHead", e.Message, StringComparison.Ordinal);
        Assert.Contains("ExportOnnx", e.Message, StringComparison.Ordinal);
        Assert.Equal("previous export", File.ReadAllText(onnx));
        Assert.Equal(["model.onnx"], Directory.GetFileSystemEntries(temp.Path).Select(Path.GetFileName));
    }

    /// <summary>A custom head that implements the hook through the public surface only exports and runs as its forward.</summary>
    [Fact]
    public void A_custom_head_with_the_hook_exports_through_the_public_surface()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithHead(c => new TwoLayerClsHead(c)).Build();
        var onnx = temp.File("model.onnx");
        model.ExportOnnx(onnx);
        AssertMatches(model.Model, onnx, ReferenceInputs("seq_cls"), "custom head");
        AssertMatches(model.Model, onnx, TokenizedInputs(model.Tokenizer, false), "custom head other length");
        var written = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnx));
        Assert.Equal("BertForTwoLayerCls", written.MetadataProps.Single(p => p.Key == "architecture").Value);
    }

    // ---- helpers ----

    /// <summary>The fixture model with one change: a pooling, a sentence-embedding head, an activation, or an untied decoder.</summary>
    private static TaskModel Variant(string fixture, string variant)
    {
        var builder = BertModelBuilder.FromPretrained(Fixtures.Model(fixture));
        var parts = variant.Split(':');
        switch (parts[0])
        {
            case "":
                break;
            case "cls" or "mean" or "max":
                var pooling = Enum.Parse<PoolingMode>(parts[0], ignoreCase: true);
                builder = builder.WithHead(c => fixture == "multiple_choice" ? new MultipleChoiceHead(c) : new SequenceClassificationHead(c),
                    configure: c => c with { ClassifierPooling = pooling });
                break;
            case "embedding":
                var embedding = Enum.Parse<PoolingMode>(parts[1], ignoreCase: true);
                builder = builder.WithHead(_ => new SentenceEmbeddingHead(embedding, normalize: parts.Length > 2));
                break;
            case "act":
                builder = builder.WithHead(c => fixture == "mlm" ? new MaskedLanguageModelHead(c) : new TokenClassificationHead(c), configure: c => c with { HiddenAct = parts[1] });
                break;
            case "untied":
                builder = builder.WithHead(c => new MaskedLanguageModelHead(c), configure: c => c with { TieWordEmbeddings = false });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(variant), variant, null);
        }
        var model = builder.Build();
        if (variant == "untied")
        {
            // The new decoder starts as random weights; make it differ from the word embeddings for certain.
            using var _ = no_grad();
            model.Model.named_parameters().Single(p => p.name == "cls.predictions.decoder.weight").parameter.add_(0.25);
        }
        return model;
    }

    /// <summary>The fixture's inputs (reference_io.safetensors, written by transformers: a padded batch).</summary>
    internal static (Tensor Ids, Tensor Mask, Tensor Types) ReferenceInputs(string fixture)
    {
        using var reference = SafeTensorsFile.Open(Path.Combine(Fixtures.Model(fixture), "reference_io.safetensors"));
        return (reference.ReadTensor("in.input_ids"), reference.ReadTensor("in.attention_mask"), reference.ReadTensor("in.token_type_ids"));
    }

    /// <summary>Three pairs of different lengths padded to the longest (another length than the fixture's); for multiple choice two choices each.</summary>
    internal static (Tensor Ids, Tensor Mask, Tensor Types) TokenizedInputs(BertTokenizer tokenizer, bool choices)
    {
        string[] first = ["the film was a quiet triumph", "awful", "a long and winding story about a family that never speaks to each other"];
        string[] second = ["i loved it", "the plot made no sense at all", "yes"];
        var options = new EncodingOptions { Padding = PaddingStrategy.Longest };
        var contexts = choices ? first.SelectMany(f => new[] { f, f }).ToList() : [.. first];
        var answers = (choices ? second.SelectMany(s => new[] { s, "not " + s }) : second).Select(a => (string?)a).ToList();
        var encoded = tokenizer.EncodeBatch(contexts, answers, options);
        Tensor Stack(Func<EncodedText, IReadOnlyList<int>> pick)
        {
            var flat = OnnxImportHeadTests.Stack(encoded, pick);
            return choices ? flat.reshape(3, 2, -1) : flat;
        }
        return (Stack(e => e.Ids), Stack(e => e.AttentionMask), Stack(e => e.TypeIds));
    }

    /// <summary>Every output of the ONNX file equals the TorchSharp forward's output of the same name within 1e-5 (all positions, padding included).</summary>
    private void AssertMatches(BertForTask model, string onnx, (Tensor Ids, Tensor Mask, Tensor Types) inputs, string label,
        GraphOptimizationLevel level = GraphOptimizationLevel.ORT_DISABLE_ALL)
    {
        model.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (ids, mask, types) = inputs;
        using var options = new SessionOptions { GraphOptimizationLevel = level, IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(onnx, options);
        using var results = session.Run(Feeds(inputs));
        using var expected = model.Forward(new BertBatch(ids, mask, types));
        Assert.NotEmpty(results);
        foreach (var result in results)
        {
            var got = result.AsTensor<float>();
            var want = expected[result.Name];
            Assert.Equal(want.shape, got.Dimensions.ToArray().Select(d => (long)d).ToArray());
            var actual = tensor(got.ToArray(), want.shape);
            float max = (actual - want).abs().max().item<float>();
            output.WriteLine($"{label} {result.Name} [{string.Join(", ", want.shape)}]: max |ONNX Runtime - TorchSharp| = {max.ToString("E2", CultureInfo.InvariantCulture)}");
            Assert.True(max <= 1e-5, $"{label}: {result.Name} differs from the TorchSharp forward by {max}");
        }
    }

    internal static SortedDictionary<string, int> OpCounts(string file)
    {
        var model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(file));
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var node in model.Graph.Node)
        {
            var op = node.Domain is "" or "ai.onnx" ? node.OpType : $"{node.Domain}.{node.OpType}";
            counts[op] = counts.GetValueOrDefault(op) + 1;
        }
        return counts;
    }
}

/// <summary>
/// A custom head that exports through the public hook only: [CLS] → dense → GELU → dense, plus a constant shift of the
/// logits by 0.5 written with <see cref="OnnxHeadGraph.Node"/> and <see cref="OnnxHeadGraph.Constant(float[])"/>.
/// </summary>
internal sealed class TwoLayerClsHead : TaskHead
{
    private readonly Linear hidden_layer;
    private readonly Linear output_layer;

    public TwoLayerClsHead(BertConfig config) : base(nameof(TwoLayerClsHead))
    {
        Labels = config.Labels;
        hidden_layer = nn.Linear(config.HiddenSize, config.HiddenSize);
        output_layer = nn.Linear(config.HiddenSize, config.NumLabels);
        RegisterComponents();
    }

    public IReadOnlyList<string> Labels { get; }

    public override string ArchitectureName => "BertForTwoLayerCls";

    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var cls = encoded.LastHiddenState.select(1, 0);
        var logits = output_layer.forward(nn.functional.gelu(hidden_layer.forward(cls))) + 0.5;
        return CreateOutput(encoded, ("logits", logits));
    }

    public override bool ExportOnnx(OnnxHeadGraph graph)
    {
        var cls = graph.Pool(PoolingMode.Cls);
        var logits = graph.Linear(output_layer, graph.Activation("gelu", graph.Linear(hidden_layer, cls)));
        graph.Output("logits", graph.Node("Add", [logits, graph.Constant(0.5f)]), "batch_size", Labels.Count.ToString(CultureInfo.InvariantCulture));
        return true;
    }
}
