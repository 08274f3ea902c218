using System.Text.Json;

namespace BertFineTune.Tests.Cli;

public class CliTests
{
    [Theory]
    [InlineData("info")]
    [InlineData("predict")]
    [InlineData("pretrain")]
    public void Every_command_explains_itself_with_help(string command)
    {
        var result = CliRunner.Run(null, command, "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--model", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Info_shows_the_architecture_labels_and_tokenizer()
    {
        var result = CliRunner.Run(null, "info", "--model", Fixtures.Model("seq_cls"));

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("BertForSequenceClassification", result.Output, StringComparison.Ordinal);
        Assert.Contains("negative, neutral, positive", result.Output, StringComparison.Ordinal);
        Assert.Contains("8000", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_model_folder_is_one_error_line_and_a_hint_with_a_failing_exit_code()
    {
        var result = CliRunner.Run(null, "info", "--model", "/no/such/folder");

        Assert.Equal(1, result.ExitCode);
        var lines = result.Error.Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        Assert.Contains("/no/such/folder", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("hint: ", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void Verbose_errors_show_the_stack()
    {
        var result = CliRunner.Run(null, "info", "--model", "/no/such/folder", "--verbose");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("   at ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_required_option_is_a_usage_error()
    {
        var result = CliRunner.Run(null, "info");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--model is required", result.Error + result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Predict_reads_a_file_and_writes_one_json_line_per_input_line()
    {
        using var temp = new TempFolder();
        File.WriteAllLines(temp.File("in.txt"), ["a gripping, funny film", "", """{"text": "dull", "text_pair": "and long"}"""]);

        var result = CliRunner.Run(null, "predict", "--model", Fixtures.Model("seq_cls"), "--input", temp.File("in.txt"), "--top-k", "2");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Output.Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        using var first = JsonDocument.Parse(lines[0]);
        Assert.Equal("a gripping, funny film", first.RootElement.GetProperty("text").GetString());
        Assert.Equal(2, first.RootElement.GetProperty("labels").GetArrayLength());
        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal("and long", second.RootElement.GetProperty("text_pair").GetString());
    }

    [Fact]
    public void Predict_reads_standard_input_for_token_classification()
    {
        var result = CliRunner.Run("Alice lives in Paris\n", "predict", "--model", Fixtures.Model("token_cls"), "--aggregation", "none");

        Assert.Equal(0, result.ExitCode);
        using var line = JsonDocument.Parse(result.Output.Trim());
        Assert.True(line.RootElement.GetProperty("entities").ValueKind == JsonValueKind.Array);
    }

    [Fact]
    public void A_malformed_input_line_is_one_error_naming_the_line()
    {
        using var temp = new TempFolder();
        File.WriteAllLines(temp.File("in.txt"), ["fine text", "{not json"]);

        var result = CliRunner.Run(null, "predict", "--model", Fixtures.Model("seq_cls"), "--input", temp.File("in.txt"));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("line 2", result.Error.Split('\n')[0], StringComparison.Ordinal);
        Assert.Empty(result.Output.Trim());
    }

    [Fact]
    public void Pretrain_adapts_a_masked_lm_and_saves_it_with_a_training_report()
    {
        using var temp = new TempFolder();
        File.WriteAllLines(temp.File("domain.txt"), Enumerable.Range(0, 40).Select(i => $"the model reads text number {i} and learns the words of the domain"));

        var result = CliRunner.Run(null, "pretrain", "--model", Fixtures.Model("mlm"), "--text", temp.File("domain.txt"),
            "--output", temp.File("adapted"), "--epochs", "1", "--batch-size", "8");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.True(File.Exists(temp.File("adapted/model.safetensors")));
        Assert.True(File.Exists(temp.File("adapted/vocab.txt")));
        Assert.True(new FileInfo(temp.File("adapted/training-report.png")).Length > 1000);
    }
}
