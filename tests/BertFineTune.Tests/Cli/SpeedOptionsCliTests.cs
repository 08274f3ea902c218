using System.Text.Json;

namespace BertFineTune.Tests.Cli;

/// <summary>
/// The CLI's speed options: <c>--mixed-precision</c> and <c>--threads</c> on train, evaluate and predict, the "speed:"
/// block each run prints, and the end-of-run table of where a training run's time went. No timing is asserted.
/// </summary>
public class SpeedOptionsCliTests
{
    [Fact]
    public void Train_prints_the_speed_block_and_the_time_per_phase_table_with_the_padding_share()
    {
        using var temp = new TempFolder();
        var rows = Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? $"positive,a joy {i}" : $"negative,dull and far too long {i}").ToArray();
        File.WriteAllLines(temp.File("train.csv"), ["label,text", .. rows]);

        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", temp.File("train.csv"),
            "--labels", "negative,positive", "--output", temp.File("out"), "--epochs", "1", "--batch-size", "4", "--threads", "1",
            "--save-strategy", "Epoch");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        var lines = result.Output.Split('\n').Select(l => l.Trim()).ToList();
        Assert.Contains("speed:", lines);
        Assert.Contains(lines, l => l.StartsWith("threads", StringComparison.Ordinal) && l.EndsWith("1 (--threads)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("mixed precision", StringComparison.Ordinal) && l.Contains("not requested", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("OpenMP waiting", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("length grouping", StringComparison.Ordinal) && l.Contains("--group-by-length", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("frozen-layer cache", StringComparison.Ordinal) && l.Contains("off (no frozen layers", StringComparison.Ordinal));
        int table = lines.FindIndex(l => l.StartsWith("where the time went", StringComparison.Ordinal));
        Assert.True(table >= 0, result.Output);
        foreach (var phase in new[] { "data", "forward", "backward", "optimizer", "evaluation", "checkpoint", "other", "total" })
        {
            var row = lines.Skip(table + 1).FirstOrDefault(l => l.StartsWith(phase + " ", StringComparison.Ordinal));
            Assert.True(row is not null, $"no {phase} row in:\n{result.Output}");
            var parts = row!.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) >= 0, row);
            Assert.EndsWith("%", parts[^1], StringComparison.Ordinal);
        }
        // The 8 rows are padded within batches of 4 whose texts differ in length: some positions are padding.
        Assert.Contains(lines, l => l.StartsWith("padding", StringComparison.Ordinal) && l.Contains("% of ", StringComparison.Ordinal));
        // The saved trainer state carries the same phases.
        using var state = JsonDocument.Parse(File.ReadAllText(temp.File("out/trainer_state.json")));
        Assert.True(state.RootElement.GetProperty("phase_seconds").GetProperty("total").GetDouble() > 0);
        Assert.True(state.RootElement.GetProperty("padding_tokens").GetInt64() > 0);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("evaluate")]
    [InlineData("predict")]
    public void A_thread_count_out_of_range_is_a_usage_error_naming_the_option(string command)
    {
        var result = CliRunner.Run(null, command, "--model", Fixtures.Model("seq_cls"), "--threads", "0");

        Assert.Equal(2, result.ExitCode);
        var message = result.Error + result.Output;
        Assert.Contains("--threads 0", message, StringComparison.Ordinal);
        Assert.Contains("must be in [1, ", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("evaluate")]
    [InlineData("predict")]
    public void The_speed_options_are_in_the_help(string command)
    {
        var result = CliRunner.Run(null, command, "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--mixed-precision", result.Output, StringComparison.Ordinal);
        Assert.Contains("--threads", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Predict_with_mixed_precision_says_on_standard_error_whether_bfloat16_is_used_and_keeps_standard_output_json()
    {
        var result = CliRunner.Run("a gripping film\n", "predict", "--model", Fixtures.Model("seq_cls"), "--mixed-precision", "--threads", "1");

        Assert.True(result.ExitCode == 0, result.Error);
        using var line = JsonDocument.Parse(result.Output.Trim());
        var precision = result.Error.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("mixed precision", StringComparison.Ordinal));
        // Requested: either bfloat16 is on, or the line says why this CPU stays in float32 (BFloat16Support's reason).
        Assert.True(precision.Contains("bfloat16 on (", StringComparison.Ordinal) || precision.Contains("off, float32 (", StringComparison.Ordinal), precision);
        Assert.DoesNotContain("not requested", precision, StringComparison.Ordinal);
        Assert.Contains(result.Error.Split('\n'), l => l.Trim() == "threads          1 (--threads)" || l.Trim().EndsWith("1 (--threads)", StringComparison.Ordinal));
    }

    [Fact]
    public void A_plain_predict_keeps_standard_error_free_of_the_speed_block()
    {
        var result = CliRunner.Run("a gripping film\n", "predict", "--model", Fixtures.Model("seq_cls"));

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.DoesNotContain("speed:", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_prints_the_speed_block()
    {
        using var temp = new TempFolder();
        File.WriteAllLines(temp.File("dev.csv"), ["label,text", "positive,fine", "negative,bad"]);

        var result = CliRunner.Run(null, "evaluate", "--model", Fixtures.Model("seq_cls"), "--data", temp.File("dev.csv"), "--threads", "1");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Contains("speed:", result.Output, StringComparison.Ordinal);
        Assert.Contains("1 (--threads)", result.Output, StringComparison.Ordinal);
    }
}
