namespace BertFineTune.Tests.Cli;

/// <summary><c>bert-finetune export-onnx</c> run as a user would, on a fixture model folder.</summary>
public sealed class ExportOnnxCliTests
{
    private static string SeqCls => Fixtures.Model("seq_cls");

    [Fact]
    public void Export_onnx_explains_itself_with_help()
    {
        var result = CliRunner.Run(null, "export-onnx", "--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var option in new[] { "--model", "--output", "--opset", "--quantize", "--folder" })
        {
            Assert.Contains(option, result.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Export_onnx_writes_the_file_shows_its_outputs_and_prints_it_last()
    {
        using var temp = new TempFolder();
        var output = temp.File("model.onnx");

        var result = CliRunner.Run(null, "export-onnx", "--model", SeqCls, "--output", output);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(Path.GetFullPath(output), result.Output.TrimEnd().Split('\n')[^1]);
        Assert.Contains("BertForSequenceClassification", result.Output, StringComparison.Ordinal);
        Assert.Contains("logits [batch_size, 3]", result.Output, StringComparison.Ordinal);
        Assert.Contains("negative, neutral, positive", result.Output, StringComparison.Ordinal);
        var written = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(output));
        Assert.Equal(17, written.OpsetImport.Single().Version);
        Assert.Equal(["model.onnx"], Directory.GetFileSystemEntries(temp.Path).Select(Path.GetFileName));
    }

    // The outputs of each built-in head's export, named as optimum names them (docs/onnx-export.md, "Inputs and outputs").
    private static readonly Dictionary<string, string[]> OutputsByArchitecture = new(StringComparer.Ordinal)
    {
        ["BertModel"] = ["last_hidden_state", "pooler_output"],
        ["BertForSequenceClassification"] = ["logits"],
        ["BertForTokenClassification"] = ["logits"],
        ["BertForMultipleChoice"] = ["logits"],
        ["BertForMaskedLM"] = ["logits"],
        ["BertForQuestionAnswering"] = ["start_logits", "end_logits"],
        ["BertForPreTraining"] = ["prediction_logits", "seq_relationship_logits"],
    };

    /// <summary>Every fixture model folder whose architecture is a built-in head and that has the tokenizer a model folder needs.</summary>
    public static TheoryData<string> BuiltInHeadModels()
    {
        var data = new TheoryData<string>();
        foreach (var folder in Directory.GetDirectories(Path.Combine(Fixtures.HfReference, "models")).Order(StringComparer.Ordinal))
        {
            var config = Path.Combine(folder, "config.json");
            bool hasTokenizer = File.Exists(Path.Combine(folder, "vocab.txt")) || File.Exists(Path.Combine(folder, "tokenizer.json"));
            if (hasTokenizer && File.Exists(config) && OutputsByArchitecture.ContainsKey(ArchitectureOf(config)))
            {
                data.Add(Path.GetFileName(folder));
            }
        }
        return data;
    }

    private static string ArchitectureOf(string configFile)
    {
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(configFile));
        return json.RootElement.TryGetProperty("architectures", out var list) && list.GetArrayLength() > 0 ? list[0].GetString() ?? "" : "";
    }

    [Theory]
    [MemberData(nameof(BuiltInHeadModels))]
    public void Export_onnx_writes_every_built_in_head_with_its_outputs_named_as_optimum_names_them(string fixture)
    {
        using var temp = new TempFolder();
        var output = temp.File("model.onnx");
        var architecture = ArchitectureOf(Path.Combine(Fixtures.Model(fixture), "config.json"));

        var result = CliRunner.Run(null, "export-onnx", "--model", Fixtures.Model(fixture), "--output", output);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains(architecture, result.Output, StringComparison.Ordinal);
        var written = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(output));
        // A BertModel saved without its pooler has no pooler_output.
        var expected = OutputsByArchitecture[architecture].Where(name => name != "pooler_output" || written.Graph.Output.Any(o => o.Name == name));
        Assert.Equal(expected, written.Graph.Output.Select(o => o.Name));
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], written.Graph.Input.Select(i => i.Name));
        Assert.Equal(architecture, written.MetadataProps.Single(p => p.Key == "architecture").Value);
    }

    /// <summary><c>--opset 12</c> writes the opset-12 layout: no LayerNormalization node, Unsqueeze with its axes as an attribute.</summary>
    [Fact]
    public void Export_onnx_with_opset_12_writes_the_decomposed_layout()
    {
        using var temp = new TempFolder();
        var output = temp.File("model.onnx");

        var result = CliRunner.Run(null, "export-onnx", "--model", SeqCls, "--output", output, "--opset", "12");

        Assert.True(result.ExitCode == 0, result.Error);
        var written = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(output));
        Assert.Equal(12, written.OpsetImport.Single().Version);
        Assert.DoesNotContain(written.Graph.Node, n => n.OpType == "LayerNormalization");
        Assert.All(written.Graph.Node.Where(n => n.OpType == "Unsqueeze"), n => Assert.Equal(["axes"], n.Attribute.Select(a => a.Name)));
    }

    [Fact]
    public void Export_onnx_folder_writes_the_graph_config_and_tokenizer_that_BertFineTune_Onnx_loads()
    {
        using var temp = new TempFolder();
        var folder = temp.File("onnx");

        var result = CliRunner.Run(null, "export-onnx", "--model", SeqCls, "--output", folder, "--folder");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(Path.GetFullPath(Path.Combine(folder, "model.onnx")), result.Output.TrimEnd().Split('\n')[^1]);
        Assert.Equal(["config.json", "model.onnx", "tokenizer.json", "tokenizer_config.json", "vocab.txt"],
            Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        using var onnx = global::BertFineTune.Onnx.OnnxModel.Load(folder);
        Assert.Equal(["negative", "neutral", "positive"], onnx.CreateTextClassificationPredictor().Labels);
    }

    [Fact]
    public void Export_onnx_to_an_existing_folder_without_folder_is_a_usage_error_that_suggests_it()
    {
        using var temp = new TempFolder();

        var result = CliRunner.Run(null, "export-onnx", "--model", SeqCls, "--output", temp.Path);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--folder", result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Export_onnx_quantize_int8_writes_integer_linear_layers()
    {
        using var temp = new TempFolder();
        var output = temp.File("model-int8.onnx");

        var result = CliRunner.Run(null, "export-onnx", "--model", SeqCls, "--output", output, "--quantize", "int8");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("int8", result.Output, StringComparison.Ordinal);
        var written = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(output));
        // The seq_cls fixture: 2 layers × 6 linears, the pooler and the classifier.
        Assert.Equal(14, written.Graph.Node.Count(n => n.OpType == "MatMulInteger"));
        Assert.Equal(Path.GetFullPath(output), result.Output.TrimEnd().Split('\n')[^1]);
    }

    [Fact]
    public void An_unknown_quantization_is_a_usage_error_naming_the_values_and_writes_nothing()
    {
        using var temp = new TempFolder();

        var result = CliRunner.Run(null, "export-onnx", "--model", SeqCls, "--output", temp.File("model.onnx"), "--quantize", "int4");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--quantize must be none or int8", result.Error, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
    }

    [Fact]
    public void An_opset_below_12_is_a_usage_error_and_writes_nothing()
    {
        using var temp = new TempFolder();

        var result = CliRunner.Run(null, "export-onnx", "--model", SeqCls, "--output", temp.File("model.onnx"), "--opset", "11");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--opset", result.Error, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(temp.Path));
    }
}
