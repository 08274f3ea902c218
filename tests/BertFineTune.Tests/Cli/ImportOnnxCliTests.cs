using BertFineTune.Tests.Checkpoints.Onnx;
using Onnx;

namespace BertFineTune.Tests.Cli;

/// <summary><c>bert-finetune import-onnx</c> run as a user would, on synthetic torch.onnx-layout exports of the fixtures.</summary>
public sealed class ImportOnnxCliTests
{
    private static string SeqCls => Fixtures.Model("seq_cls");

    [Fact]
    public void Import_onnx_explains_itself_with_help()
    {
        var result = CliRunner.Run(null, "import-onnx", "--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var option in new[] { "--onnx", "--vocab", "--output", "--config" })
        {
            Assert.Contains(option, result.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Import_onnx_writes_a_folder_that_info_loads_and_prints_it_last()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"));
        var output = temp.File("model");

        var result = CliRunner.Run(null, "import-onnx", "--onnx", onnx, "--vocab", Path.Combine(SeqCls, "tokenizer.json"), "--output", output,
            "--config", Path.Combine(SeqCls, "config.json"));

        Assert.True(result.ExitCode == 0, result.Error);
        var lines = result.Output.TrimEnd().Split('\n');
        Assert.Equal(Path.GetFullPath(output), lines[^1]);
        Assert.Contains("BertForSequenceClassification", result.Output, StringComparison.Ordinal);
        Assert.Contains("negative, neutral, positive", result.Output, StringComparison.Ordinal);
        Assert.Contains("not in the ONNX file  none", result.Output, StringComparison.Ordinal);
        var info = CliRunner.Run(null, "info", "--model", output);
        Assert.Equal(0, info.ExitCode);
        Assert.Contains("all weights loaded", info.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_fused_graph_is_one_error_line_naming_the_node_and_a_hint()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), edit: graph =>
            graph.Node.Insert(0, new NodeProto { OpType = "SkipLayerNormalization", Domain = "com.microsoft", Name = "SkipLayerNorm_0", Input = { "input_ids" }, Output = { "x" } }));

        var result = CliRunner.Run(null, "import-onnx", "--onnx", onnx, "--vocab", SeqCls, "--output", temp.File("model"));

        Assert.Equal(1, result.ExitCode);
        var lines = result.Error.Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Contains("node 'SkipLayerNorm_0' (com.microsoft.SkipLayerNormalization)", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("hint: ", lines[1], StringComparison.Ordinal);
        Assert.Contains("torch.onnx.export", lines[1], StringComparison.Ordinal);
        Assert.False(Directory.Exists(temp.File("model")));
    }

    [Fact]
    public void A_setting_the_graph_does_not_show_asks_for_the_config_flag()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"), new ExportOptions { HideHeads = true });

        var result = CliRunner.Run(null, "import-onnx", "--onnx", onnx, "--vocab", SeqCls, "--output", temp.File("model"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("num_attention_heads", result.Error, StringComparison.Ordinal);
        Assert.Contains("pass --config <config.json>", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tokenizer_larger_than_the_model_is_refused_and_the_folder_taken_back()
    {
        using var temp = new TempFolder();
        var onnx = TorchOnnxExport.Write(SeqCls, temp.File("export"));
        // The fixture's vocabulary (8000 tokens, the model's vocab_size) plus one token without an embedding row.
        var vocab = temp.File("vocab.txt");
        File.WriteAllLines(vocab, File.ReadAllLines(Path.Combine(Fixtures.HfReference, "vocab8k.txt")).Append("[EXTRA]"));

        var result = CliRunner.Run(null, "import-onnx", "--onnx", onnx, "--vocab", vocab, "--output", temp.File("model"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("8001 tokens", result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(temp.File("model")));
    }

    [Fact]
    public void A_missing_required_option_is_a_usage_error()
    {
        var result = CliRunner.Run(null, "import-onnx", "--vocab", "vocab.txt", "--output", "out");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--onnx is required", result.Error + result.Output, StringComparison.Ordinal);
    }
}
