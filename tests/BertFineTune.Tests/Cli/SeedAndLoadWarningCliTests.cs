namespace BertFineTune.Tests.Cli;

/// <summary>Issue 15 items 4 and 5 through the command line: <c>--seed</c> reproduces a run, and a new head is announced.</summary>
public class SeedAndLoadWarningCliTests
{
    private static string Data(TempFolder temp)
    {
        var rows = Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? $"x,a joy to watch {i}" : $"y,dull and long {i}");
        File.WriteAllLines(temp.File("train.csv"), ["label,text", .. rows]);
        return temp.File("train.csv");
    }

    [Fact]
    public void Two_train_runs_with_the_same_seed_and_a_replaced_head_save_identical_weights()
    {
        // The issue's example: train --replace-head --labels x,y --seed 42 twice on a three-label checkpoint.
        using var temp = new TempFolder();
        var train = Data(temp);
        byte[] Run(string output, string seed)
        {
            var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("seq_cls"), "--train", train,
                "--labels", "x,y", "--replace-head", "--seed", seed, "--output", temp.File(output), "--max-steps", "2", "--batch-size", "4");
            Assert.True(result.ExitCode == 0, result.Error + result.Output);
            Assert.Contains("newly initialized because the shapes did not match", result.Output, StringComparison.Ordinal);
            return File.ReadAllBytes(Path.Combine(temp.File(output), "model.safetensors"));
        }

        var first = Run("a", "42");
        var second = Run("b", "42");
        var other = Run("c", "43");

        Assert.True(first.AsSpan().SequenceEqual(second), "two runs with --seed 42 saved different weights");
        Assert.False(first.AsSpan().SequenceEqual(other), "--seed 42 and --seed 43 saved the same weights");
    }

    [Fact]
    public void Train_on_a_bare_encoder_says_the_head_is_new_and_a_renamed_checkpoint_is_refused_unless_asked()
    {
        using var temp = new TempFolder();
        var train = Data(temp);

        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", train,
            "--labels", "x,y", "--output", temp.File("out"), "--max-steps", "1", "--batch-size", "4");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Contains("warning: Some weights of BertForSequenceClassification were not initialized from the model checkpoint at "
            + $"{Fixtures.Model("bert_model")} and are newly initialized: [classifier.bias, classifier.weight]", result.Output, StringComparison.Ordinal);

        // A folder whose weights file has nothing BERT can use: an empty weight_map.
        var empty = temp.File("empty");
        Directory.CreateDirectory(empty);
        foreach (var file in new[] { "config.json", "tokenizer.json", "tokenizer_config.json" })
        {
            File.Copy(Path.Combine(Fixtures.Model("seq_cls"), file), Path.Combine(empty, file));
        }
        File.WriteAllText(Path.Combine(empty, "model.safetensors.index.json"), """{"metadata": {}, "weight_map": {}}""");
        string[] args = ["train", "--task", "Classification", "--model", empty, "--train", train, "--labels", "x,y", "--replace-head",
            "--max-steps", "1", "--batch-size", "4"];

        var refused = CliRunner.Run(null, [.. args, "--output", temp.File("refused")]);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("no encoder weight was loaded", refused.Error, StringComparison.Ordinal);
        Assert.Contains("--allow-random-init", refused.Error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(temp.File("refused"), "model.safetensors")));

        var allowed = CliRunner.Run(null, [.. args, "--output", temp.File("random"), "--allow-random-init"]);
        Assert.True(allowed.ExitCode == 0, allowed.Error + allowed.Output);
        Assert.Contains("newly initialized: [bert.embeddings", allowed.Output, StringComparison.Ordinal);
    }
}
