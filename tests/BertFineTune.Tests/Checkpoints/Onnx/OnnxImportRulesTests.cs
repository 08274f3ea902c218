using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Onnx;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints.Onnx;

/// <summary>
/// The importer's rules one at a time, on synthetic torch.onnx-layout exports of the seq_cls / bert_model fixtures
/// (<see cref="TorchOnnxExport"/>): each storage form must give the fixture's weights back bit for bit, and each refusal
/// must name what it refuses and say what to do. The expected weights are the fixture's (saved by transformers 5.17).
/// </summary>
public sealed class OnnxImportRulesTests
{
    private static string SeqCls => Fixtures.Model("seq_cls");

    private static string Import(TempFolder temp, string onnx, string? config = null, string fixture = "seq_cls")
    {
        var folder = temp.File("imported");
        OnnxImport.ImportFolder(onnx, Fixtures.Model(fixture), folder, config);
        return folder;
    }

    [Fact]
    public void Weights_in_constant_nodes_and_in_the_typed_float_data_field_import_bit_for_bit()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), new ExportOptions { WeightsAsConstants = true, TypedFields = true });

        OnnxImportHeadTests.AssertSameWeights(SeqCls, Import(temp, onnx));
    }

    [Fact]
    public void A_gemm_without_transB_reads_its_weight_transposed_back()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), new ExportOptions { GemmWithoutTransB = true });

        OnnxImportHeadTests.AssertSameWeights(SeqCls, Import(temp, onnx));
    }

    [Fact]
    public void External_data_beside_the_model_is_read_at_its_offsets()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), new ExportOptions { ExternalData = true });
        Assert.True(new FileInfo(Path.Combine(temp.File("export"), "weights.bin")).Length > new FileInfo(onnx).Length);

        OnnxImportHeadTests.AssertSameWeights(SeqCls, Import(temp, onnx));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Float16_initializers_are_up_cast_exactly(bool typedField)
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), new ExportOptions { Float16 = true, TypedFields = typedField });

        // float32 → float16 → float32 is the expected value: the export rounded once, the up-cast is exact.
        OnnxImportHeadTests.AssertSameWeights(SeqCls, Import(temp, onnx), t => t.to(ScalarType.Float16).to(ScalarType.Float32));
    }

    [Fact]
    public void A_pooler_the_export_lacks_is_reported_missing_and_stays_missing_when_loaded()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(Fixtures.Model("bert_model"), temp.File("export"), new ExportOptions { OmitPooler = true });
        var folder = temp.File("imported");

        var report = OnnxImport.ImportFolder(onnx, Fixtures.Model("bert_model"), folder);

        Assert.Equal(["pooler.dense.bias", "pooler.dense.weight"], report.MissingKeys);
        Assert.Contains("pooler.dense.weight", report.ToString(), StringComparison.Ordinal);
        using var model = BertModelBuilder.FromPretrained(folder).Build();
        // The loaded model names its parameters with the encoder's "bert." prefix.
        Assert.Equal(["bert.pooler.dense.bias", "bert.pooler.dense.weight"], model.Model.LoadReport!.MissingKeys);
    }

    [Fact]
    public void A_given_config_wins_with_its_label_names()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"));

        var folder = Import(temp, onnx, config: Path.Combine(SeqCls, "config.json"));

        Assert.Equal(["negative", "neutral", "positive"], BertConfig.Load(folder).Labels);
        OnnxImportHeadTests.AssertSameWeights(SeqCls, folder);
    }

    [Fact]
    public void Without_labels_in_the_file_the_classifier_gets_transformers_default_names()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"));

        var report = OnnxImport.ImportFolder(onnx, SeqCls, temp.File("imported"));

        // PretrainedConfig's default id2label: LABEL_0 … LABEL_{n-1} (configuration_utils.py).
        Assert.Equal(["LABEL_0", "LABEL_1", "LABEL_2"], report.Config.Labels);
    }

    [Fact]
    public void A_graph_that_hides_the_head_count_needs_a_config_and_imports_with_one()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), new ExportOptions { HideHeads = true });

        var error = Assert.Throws<OnnxImportException>(() => OnnxImport.ImportFolder(onnx, SeqCls, temp.File("no-config")));
        Assert.Contains("num_attention_heads", error.Message, StringComparison.Ordinal);
        Assert.Contains("pass a config.json", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(temp.File("no-config")));

        OnnxImportHeadTests.AssertSameWeights(SeqCls, Import(temp, onnx, config: Path.Combine(SeqCls, "config.json")));
    }

    [Theory]
    [InlineData("num_attention_heads", 8, "4")]
    [InlineData("intermediate_size", 128, "64")]
    [InlineData("layer_norm_eps", 1e-5, "1E-12")]
    [InlineData("hidden_act", "relu", "gelu")]
    public void A_config_that_disagrees_with_the_graph_is_refused_naming_both_values(string field, object value, string graphValue)
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"));
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(SeqCls, "config.json")))!;
        json[field] = System.Text.Json.Nodes.JsonValue.Create(value);
        var config = temp.File("config.json");
        File.WriteAllText(config, json.ToJsonString());

        var error = Assert.Throws<OnnxImportException>(() => OnnxImport.ImportFolder(onnx, SeqCls, temp.File("imported"), config));

        Assert.Equal(field, error.Element);
        Assert.Contains(config, error.Message, StringComparison.Ordinal);
        Assert.Contains($"{Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)} in the config", error.Message, StringComparison.Ordinal);
        Assert.Contains($"the graph {onnx} has {graphValue}", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("com.microsoft", "Attention", "optimized by ONNX Runtime")]
    [InlineData("com.microsoft", "EmbedLayerNormalization", "optimized by ONNX Runtime")]
    [InlineData("com.microsoft", "SkipLayerNormalization", "optimized by ONNX Runtime")]
    [InlineData("com.microsoft", "FastGelu", "optimized by ONNX Runtime")]
    [InlineData("", "MatMulInteger", "quantized")]
    [InlineData("", "QLinearMatMul", "quantized")]
    [InlineData("", "DynamicQuantizeLinear", "quantized")]
    [InlineData("com.microsoft", "QAttention", "quantized")]
    public void Fused_and_quantized_graphs_are_refused_naming_the_node(string domain, string op, string reason)
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), edit: graph =>
            graph.Node.Insert(5, new NodeProto { OpType = op, Domain = domain, Name = $"{op}_fused", Input = { "input_ids" }, Output = { "fused_out" } }));

        var error = Assert.Throws<OnnxImportException>(() => OnnxImport.ImportFolder(onnx, SeqCls, temp.File("imported")));

        Assert.Contains($"node '{op}_fused'", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.Contains("before", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_graph_without_bert_weights_is_not_bert()
    {
        using var temp = new TempFolder();
        var onnx = temp.File("other.onnx");
        var graph = new GraphProto
        {
            Name = "mlp",
            Initializer = { new TensorProto { Name = "fc1.weight", DataType = 1, Dims = { 2, 2 }, FloatData = { 1, 2, 3, 4 } } },
            Node = { new NodeProto { OpType = "MatMul", Input = { "x", "fc1.weight" }, Output = { "y" } } },
        };
        File.WriteAllBytes(onnx, new ModelProto { IrVersion = 7, OpsetImport = { new OperatorSetIdProto { Version = 13 } }, Graph = graph }.ToByteArray());

        var error = Assert.Throws<OnnxImportException>(() => OnnxImport.ImportFolder(onnx, SeqCls, temp.File("imported")));

        Assert.Contains("not a BERT model", error.Message, StringComparison.Ordinal);
        Assert.Contains(onnx, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_float_weight_no_rule_maps_is_refused_naming_it()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), edit: graph =>
        {
            graph.Initializer.Add(new TensorProto { Name = "onnx::MatMul_999", DataType = 1, Dims = { 32, 32 }, RawData = ByteString.CopyFrom(new byte[32 * 32 * 4]) });
            graph.Node.Add(new NodeProto { Name = "MatMul_extra", OpType = "MatMul", Input = { "input_ids", "onnx::MatMul_999" }, Output = { "extra" } });
        });

        var error = Assert.Throws<OnnxImportException>(() => OnnxImport.ImportFolder(onnx, SeqCls, temp.File("imported")));

        Assert.Contains("initializer 'onnx::MatMul_999' [32, 32]", error.Message, StringComparison.Ordinal);
        Assert.Contains("no rule maps", error.Message, StringComparison.Ordinal);
        Assert.Contains("node 'MatMul_extra' (MatMul)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_mapped_weight_of_the_wrong_shape_is_refused_naming_both_shapes()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), edit: graph =>
        {
            var norm = graph.Initializer.Single(t => t.Name == "bert.encoder.layer.1.output.LayerNorm.weight");
            norm.Dims[0] = 33;
            norm.RawData = ByteString.CopyFrom(new byte[33 * 4]);
        });

        var error = Assert.Throws<OnnxImportException>(() => OnnxImport.ImportFolder(onnx, SeqCls, temp.File("imported")));

        Assert.Contains("initializer 'bert.encoder.layer.1.output.LayerNorm.weight'", error.Message, StringComparison.Ordinal);
        Assert.Contains("[33]", error.Message, StringComparison.Ordinal);
        Assert.Contains("[32]", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../weights.bin")]
    [InlineData("/tmp/weights.bin")]
    public void External_data_outside_the_model_folder_is_refused(string location)
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), new ExportOptions { ExternalData = true }, edit: graph =>
        {
            foreach (var entry in graph.Initializer.SelectMany(t => t.ExternalData).Where(e => e.Key == "location"))
            {
                entry.Value = location;
            }
        });

        var error = Assert.Throws<OnnxImportException>(() => OnnxImport.ImportFolder(onnx, SeqCls, temp.File("imported")));

        Assert.Contains($"location '{location}' leaves the model's folder", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_file_is_refused_naming_it()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"));
        var bytes = File.ReadAllBytes(onnx);
        File.WriteAllBytes(onnx, bytes[..(bytes.Length / 2)]);

        var error = Assert.Throws<OnnxImportException>(() => OnnxImport.ImportFolder(onnx, SeqCls, temp.File("imported")));

        Assert.StartsWith(onnx, error.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_not_onnx_is_refused_naming_it()
    {
        using var temp = new TempFolder();
        var path = temp.File("notes.onnx");
        File.WriteAllText(path, "these are not the weights you are looking for\n");

        var error = Assert.Throws<OnnxImportException>(() => OnnxImport.ImportFolder(path, SeqCls, temp.File("imported")));

        Assert.StartsWith(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("ONNX model", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_output_folder_that_is_not_empty_is_refused_before_anything_is_read()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("taken"));
        File.WriteAllText(temp.File("taken/keep.txt"), "mine");

        Assert.Throws<IOException>(() => OnnxImport.ImportFolder(temp.File("missing.onnx"), SeqCls, temp.File("taken")));
        Assert.Equal("mine", File.ReadAllText(temp.File("taken/keep.txt")));
    }

    [Fact]
    public void The_builder_imports_an_onnx_file_straight_into_the_model()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"));

        using var imported = BertModelBuilder.FromOnnx(onnx, Path.Combine(SeqCls, "tokenizer.json"), Path.Combine(SeqCls, "config.json")).Build();
        using var reference = BertModelBuilder.FromPretrained(SeqCls).Build();

        Assert.True(imported.Model.LoadReport!.IsExactMatch, imported.Model.LoadReport.ToString());
        Assert.Equal(["negative", "neutral", "positive"], imported.Labels);
        Assert.Equal(reference.Tokenizer.VocabularySize, imported.Tokenizer.VocabularySize);
        var expected = reference.Model.state_dict();
        foreach (var (name, value) in imported.Model.state_dict())
        {
            Assert.True(expected[name].eq(value).all().item<bool>(), $"{name} differs from the fixture");
        }
    }

    [Fact]
    public void The_builder_puts_a_new_head_on_an_imported_encoder_and_reports_it_new()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(Fixtures.Model("bert_model"), temp.File("export"));

        using var model = BertModelBuilder.FromOnnx(onnx, Fixtures.Model("bert_model")).WithSequenceClassification(["no", "yes"]).Build();

        Assert.Equal(["classifier.bias", "classifier.weight"], model.Model.LoadReport!.MissingKeys);
        Assert.Empty(model.Model.LoadReport.UnexpectedKeys);
    }
}
