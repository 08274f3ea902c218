using System.Text.Json;
using BertFineTune.Tests.Hub;

namespace BertFineTune.Tests.Cli;

public class CliTests
{
    [Theory]
    [InlineData("info")]
    [InlineData("predict")]
    [InlineData("pretrain")]
    [InlineData("train")]
    [InlineData("evaluate")]
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

    private static string WriteCsv(TempFolder temp, string name, params string[] rows)
    {
        File.WriteAllLines(temp.File(name), ["label,text", .. rows]);
        return temp.File(name);
    }

    [Fact]
    public void Train_fine_tunes_from_csv_files_and_writes_model_checkpoints_state_and_report_then_evaluate_scores_it()
    {
        using var temp = new TempFolder();
        var rows = Enumerable.Range(0, 12).Select(i => i % 2 == 0 ? $"positive,a joy to watch {i}" : $"negative,dull and long {i}").ToArray();
        var train = WriteCsv(temp, "train.csv", rows);
        var dev = WriteCsv(temp, "dev.csv", rows[..4]);

        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", train,
            "--validation", dev, "--labels", "negative,positive", "--output", temp.File("out"), "--epochs", "2", "--batch-size", "4",
            "--save-strategy", "Epoch");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        foreach (var file in new[] { "config.json", "model.safetensors", "vocab.txt", "trainer_state.json", "training-report.png" })
        {
            Assert.True(File.Exists(Path.Combine(temp.File("out"), file)), $"{file} is missing");
        }
        // 12 rows in batches of 4: 3 steps an epoch; a checkpoint at the end of each of the 2 epochs.
        foreach (var checkpoint in new[] { "checkpoint-3", "checkpoint-6" })
        {
            Assert.True(File.Exists(Path.Combine(temp.File("out"), "checkpoints", checkpoint, "optimizer.safetensors")), $"{checkpoint} is missing");
        }
        Assert.Contains("accuracy", result.Output, StringComparison.Ordinal);

        var evaluation = CliRunner.Run(null, "evaluate", "--model", temp.File("out"), "--data", dev);

        Assert.True(evaluation.ExitCode == 0, evaluation.Error);
        Assert.Contains("f1_macro", evaluation.Output, StringComparison.Ordinal);
        Assert.Contains("4 examples", evaluation.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Train_with_pooling_saves_classifier_pooling_and_info_shows_it()
    {
        using var temp = new TempFolder();
        var train = WriteCsv(temp, "train.csv", Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? $"positive,a joy to watch {i}" : $"negative,dull and long {i}").ToArray());

        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", train,
            "--labels", "negative,positive", "--output", temp.File("out"), "--max-steps", "1", "--batch-size", "4", "--pooling", "mean",
            "--freeze-encoder");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        using (var config = JsonDocument.Parse(File.ReadAllText(temp.File("out/config.json"))))
        {
            Assert.Equal("mean", config.RootElement.GetProperty("classifier_pooling").GetString());
        }
        var info = CliRunner.Run(null, "info", "--model", temp.File("out"));
        Assert.Equal(0, info.ExitCode);
        Assert.Matches(@"classifier pooling\s+mean", info.Output);
    }

    [Fact]
    public void Train_with_frozen_layers_and_the_cache_says_what_it_cached()
    {
        using var temp = new TempFolder();
        var train = WriteCsv(temp, "train.csv", Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? $"positive,a joy to watch {i}" : $"negative,dull and long {i}").ToArray());

        // The fixture has 2 layers: layer 0 is cached, layer 1, the pooler and the head train.
        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", train,
            "--labels", "negative,positive", "--output", temp.File("out"), "--epochs", "2", "--batch-size", "4",
            "--freeze-layers", "1", "--cache-frozen-layers", "--cache-precision", "Float32");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Contains("Frozen-layer cache: the output of embeddings + layers 0..0 for 8 examples", result.Output, StringComparison.Ordinal);
        Assert.Matches(@", \d+ bytes per token, \d+ bytes in all, in memory", result.Output);
        // The speed block says so before the run, with what is cached and how it is stored.
        Assert.Contains("frozen-layer cache  on: the output of embeddings + layers 0..0, stored as Float32, in memory up to half the available memory",
            result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Train_reads_conll_for_named_entities()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("ner.conll"), "Alice B-PER\nlives O\nin O\nParis B-LOC\n\nBob B-PER\nleft O\n\n");

        var result = CliRunner.Run(null, "train", "--task", "Ner", "--model", Fixtures.Model("token_cls"), "--train", temp.File("ner.conll"),
            "--validation", temp.File("ner.conll"), "--output", temp.File("ner"), "--epochs", "1", "--batch-size", "2");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Contains("f1", result.Output, StringComparison.Ordinal);
        Assert.True(File.Exists(temp.File("ner/training-report.png")));
    }

    [Fact]
    public void A_malformed_training_file_is_one_error_line_naming_file_and_line()
    {
        using var temp = new TempFolder();
        var train = WriteCsv(temp, "bad.csv", "positive,fine", "maybe,an unknown label");

        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", train,
            "--labels", "negative,positive", "--output", temp.File("out"));

        Assert.Equal(1, result.ExitCode);
        var first = result.Error.Split('\n')[0];
        Assert.StartsWith("error: ", first, StringComparison.Ordinal);
        Assert.Contains("bad.csv", first, StringComparison.Ordinal);
        Assert.Contains("3", first, StringComparison.Ordinal);
        Assert.False(Directory.Exists(temp.File("out")));
    }

    [Fact]
    public void Skipping_bad_rows_reports_each_and_trains_on_the_rest()
    {
        using var temp = new TempFolder();
        var train = WriteCsv(temp, "mixed.csv", "positive,fine", "maybe,an unknown label", "negative,bad");

        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", train,
            "--labels", "negative,positive", "--output", temp.File("out"), "--epochs", "1", "--skip-bad-rows");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Contains("1 bad rows skipped", result.Output, StringComparison.Ordinal);
        Assert.Contains("2 training", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Download_fills_a_python_compatible_cache_prints_the_snapshot_last_and_answers_again_without_requests()
    {
        using var hub = new HubTestContext();
        var environment = new Dictionary<string, string>
        {
            ["HF_ENDPOINT"] = hub.Server.Endpoint,
            ["HF_HUB_CACHE"] = hub.Cache.Path,
            ["HF_TOKEN"] = "",
            ["HF_HUB_OFFLINE"] = "0",
        };

        var first = CliRunner.Run(null, environment, "download", HubTestContext.RepoId);

        Assert.True(first.ExitCode == 0, first.Error + first.Output);
        var folder = first.Output.Trim().Split('\n')[^1].Trim();
        Assert.StartsWith(Path.Combine(hub.RepoFolder, "snapshots"), folder, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(folder, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(hub.RepoFolder, "refs", "main")));
        int requests = hub.Server.Requests.Count;

        var second = CliRunner.Run(null, environment, "download", HubTestContext.RepoId);

        Assert.Equal(0, second.ExitCode);
        Assert.Equal(folder, second.Output.Trim().Split('\n')[^1].Trim());
        Assert.Equal(requests, hub.Server.Requests.Count);
    }

    [Fact]
    public void Download_of_an_unknown_repository_is_one_error_line()
    {
        using var hub = new HubTestContext();
        var environment = new Dictionary<string, string> { ["HF_ENDPOINT"] = hub.Server.Endpoint, ["HF_HUB_CACHE"] = hub.Cache.Path, ["HF_TOKEN"] = "" };

        var result = CliRunner.Run(null, environment, "download", "nobody/nothing");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
        Assert.Contains("nobody/nothing", result.Error.Split('\n')[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_with_a_malformed_file_is_one_error_line_naming_the_file()
    {
        using var temp = new TempFolder();
        File.WriteAllLines(temp.File("dev.csv"), ["label,text", "negative,fine", "neutral"]);

        var result = CliRunner.Run(null, "evaluate", "--model", Fixtures.Model("seq_cls"), "--data", temp.File("dev.csv"));

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
        Assert.Contains("dev.csv", result.Error.Split('\n')[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Pretrain_on_a_file_without_text_is_one_error_line()
    {
        using var temp = new TempFolder();
        File.WriteAllLines(temp.File("empty.txt"), ["", "   ", ""]);

        var result = CliRunner.Run(null, "pretrain", "--model", Fixtures.Model("mlm"), "--text", temp.File("empty.txt"), "--output", temp.File("out"));

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: ", result.Error, StringComparison.Ordinal);
        Assert.Contains("has no text", result.Error.Split('\n')[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Info_on_a_malformed_config_is_one_error_line_naming_the_field()
    {
        using var temp = new TempFolder();
        foreach (var file in Directory.GetFiles(Fixtures.Model("seq_cls")))
        {
            File.Copy(file, temp.File(Path.GetFileName(file)));
        }
        File.WriteAllText(temp.File("config.json"), File.ReadAllText(temp.File("config.json")).Replace("\"hidden_size\": 32", "\"hidden_size\": 30", StringComparison.Ordinal));

        var result = CliRunner.Run(null, "info", "--model", temp.Path);

        Assert.Equal(1, result.ExitCode);
        var first = result.Error.Split('\n')[0];
        Assert.StartsWith("error: ", first, StringComparison.Ordinal);
        Assert.Contains("hidden_size 30", first, StringComparison.Ordinal);
    }
}
