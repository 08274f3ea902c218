using System.Text.Json;
using BertFineTune.Tests.Checkpoints;

namespace BertFineTune.Tests.Cli;

/// <summary>
/// Issue 15 items 1 and 2 through the CLI. The rules: the output is checked before any work (writable, not a file, not
/// an input, not inside one, not holding one); a non-empty output is refused unless --overwrite-output-dir or
/// --resume-from-checkpoint is given (transformers' examples/pytorch/text-classification/run_glue.py: "Output directory
/// (…) already exists and is not empty. Use --overwrite_output_dir to overcome."); the final save replaces the folder as
/// a whole; each checkpoint-N is a model folder with the tokenizer (transformers' Trainer._save).
/// </summary>
public class OutputFolderCliTests
{
    // The issue's m/base (a copy of the seq_cls fixture, labels negative, neutral, positive) and d/good.csv, made smaller.
    private static (string Model, string Train) Inputs(TempFolder temp)
    {
        var model = temp.File("m/base");
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(Fixtures.Model("seq_cls")))
        {
            File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        }
        Directory.CreateDirectory(temp.File("d"));
        var labels = new[] { "negative", "neutral", "positive" };
        File.WriteAllLines(temp.File("d/good.csv"), ["label,text", .. Enumerable.Range(0, 16).Select(i => $"{labels[i % 3]},row {i} of the film")]);
        return (model, temp.File("d/good.csv"));
    }

    private static CliRunner.Result Train(string model, string train, string output, params string[] more) =>
        CliRunner.Run(null, ["train", "--task", "Classification", "--model", model, "--train", train, "--output", output, "--batch-size", "4", .. more]);

    private static int GlobalStep(string stateFile)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(stateFile));
        return document.RootElement.GetProperty("global_step").GetInt32();
    }

    private static string[] Entries(string folder) =>
        Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    /// <summary>Issue 15 (1a), and the two ways a user says to reuse a non-empty folder: overwrite and resume.</summary>
    [Fact]
    public void A_non_empty_output_is_refused_unless_overwritten_or_resumed_and_an_overwrite_keeps_only_the_new_runs_checkpoints()
    {
        using var temp = new TempFolder();
        var (model, train) = Inputs(temp);
        var output = temp.File("out");
        var first = Train(model, train, output, "--max-steps", "4", "--save-steps", "1");
        Assert.True(first.ExitCode == 0, first.Error + first.Output);
        Assert.Equal(["checkpoint-3", "checkpoint-4"], Entries(Path.Combine(output, "checkpoints")));

        var refused = Train(model, train, output, "--max-steps", "2", "--save-steps", "1");

        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("already exists and is not empty", refused.Error, StringComparison.Ordinal);
        Assert.Contains("--overwrite-output-dir", refused.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("training and", refused.Output, StringComparison.Ordinal);
        Assert.Equal(4, GlobalStep(Path.Combine(output, "trainer_state.json")));

        var overwritten = Train(model, train, output, "--max-steps", "2", "--save-steps", "1", "--overwrite-output-dir");

        Assert.True(overwritten.ExitCode == 0, overwritten.Error + overwritten.Output);
        // The earlier run's checkpoint-3 and -4 are gone; the new run's are kept; the folder is the new run's, whole.
        Assert.Equal(["checkpoint-1", "checkpoint-2"], Entries(Path.Combine(output, "checkpoints")));
        Assert.Equal(2, GlobalStep(Path.Combine(output, "trainer_state.json")));
        Assert.Equal(["d", "m", "out"], Entries(temp.Path));

        var resumed = Train(model, train, output, "--max-steps", "3", "--save-steps", "1",
            "--resume-from-checkpoint", Path.Combine(output, "checkpoints", "checkpoint-2"));

        Assert.True(resumed.ExitCode == 0, resumed.Error + resumed.Output);
        Assert.Equal(["checkpoint-2", "checkpoint-3"], Entries(Path.Combine(output, "checkpoints")));
        Assert.Equal(3, GlobalStep(Path.Combine(output, "trainer_state.json")));
    }

    /// <summary>Issue 15 (1b): outputs that cannot be written fail before training, not after it.</summary>
    [Fact]
    public void An_output_that_is_a_file_under_a_file_or_read_only_is_refused_before_training()
    {
        using var temp = new TempFolder();
        var (model, train) = Inputs(temp);
        File.WriteAllText(temp.File("file"), "x");

        foreach (var (output, expected) in new[]
        {
            (temp.File("file"), "is a file, not a folder"),
            (Path.Combine(temp.File("file"), "out"), $"{temp.File("file")} is a file"),
            (Path.Combine(ModelFolderTests.ReadOnlyFolder(temp), "out"), "cannot be written"),
        })
        {
            var result = Train(model, train, output, "--max-steps", "1");

            Assert.True(result.ExitCode == 2, $"{output}: {result.ExitCode} {result.Error}{result.Output}");
            Assert.Contains($"--output {output}", result.Error, StringComparison.Ordinal);
            Assert.Contains(expected, result.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("training and", result.Output, StringComparison.Ordinal);
        }
    }

    /// <summary>Issue 15 (1c), and the other ways an output overlaps an input: inside it, holding it, through a link.</summary>
    [Fact]
    public void An_output_that_is_inside_or_holds_an_input_is_refused_and_the_input_is_untouched()
    {
        using var temp = new TempFolder();
        var (model, train) = Inputs(temp);
        Directory.CreateSymbolicLink(temp.File("link-to-base"), model);
        Directory.CreateDirectory(temp.File("holder"));
        File.Copy(train, temp.File("holder/train.csv"));
        var before = Entries(model).Select(f => (f, File.ReadAllBytes(Path.Combine(model, f)))).ToList();

        foreach (var (output, trainFile, expected) in new[]
        {
            (model, train, "is the --model folder"),
            (temp.File("link-to-base"), train, "is the --model folder"),
            (Path.Combine(model, "tuned"), train, "is inside the --model folder"),
            (temp.File("m"), train, "--model " + model + " is inside --output"),
            (temp.File("holder"), temp.File("holder/train.csv"), "is inside --output"),
        })
        {
            var result = Train(model, trainFile, output, "--max-steps", "1", "--overwrite-output-dir");

            Assert.True(result.ExitCode == 2, $"{output}: {result.ExitCode} {result.Error}{result.Output}");
            Assert.Contains(expected, result.Error, StringComparison.Ordinal);
        }
        Assert.Equal(before.Select(b => b.f), Entries(model));
        Assert.All(before, b => Assert.Equal(b.Item2, File.ReadAllBytes(Path.Combine(model, b.f))));
    }

    /// <summary>pretrain follows the same rules: its output is the model folder, a non-empty folder needs the flag.</summary>
    [Fact]
    public void Pretrain_refuses_its_model_folder_and_a_non_empty_output_before_loading_anything()
    {
        using var temp = new TempFolder();
        File.WriteAllLines(temp.File("domain.txt"), ["the screen is bright", "the battery lasts a day"]);
        Directory.CreateDirectory(temp.File("used"));
        File.WriteAllText(temp.File("used/notes.txt"), "an earlier run's");

        var same = CliRunner.Run(null, "pretrain", "--model", Fixtures.Model("mlm"), "--text", temp.File("domain.txt"), "--output", Fixtures.Model("mlm"));
        var nonEmpty = CliRunner.Run(null, "pretrain", "--model", Fixtures.Model("mlm"), "--text", temp.File("domain.txt"), "--output", temp.File("used"));

        Assert.Equal(2, same.ExitCode);
        Assert.Contains("is the --model folder", same.Error, StringComparison.Ordinal);
        Assert.Equal(2, nonEmpty.ExitCode);
        Assert.Contains("already exists and is not empty (it holds notes.txt)", nonEmpty.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("passages", nonEmpty.Output, StringComparison.Ordinal);
        Assert.Equal(["notes.txt"], Entries(temp.File("used")));
    }

    /// <summary>Issue 15 (2): a checkpoint is a model folder that info, predict, evaluate and train's --model accept.</summary>
    [Fact]
    public void A_checkpoint_folder_is_accepted_by_info_predict_and_evaluate()
    {
        using var temp = new TempFolder();
        var (model, train) = Inputs(temp);
        var output = temp.File("out");
        var result = Train(model, train, output, "--max-steps", "2", "--save-steps", "1");
        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        var checkpoint = Path.Combine(output, "checkpoints", "checkpoint-2");

        var info = CliRunner.Run(null, "info", "--model", checkpoint);
        Assert.True(info.ExitCode == 0, info.Error);
        Assert.Contains("negative, neutral, positive", info.Output, StringComparison.Ordinal);
        var predict = CliRunner.Run("a fine film\n", "predict", "--model", checkpoint);
        Assert.True(predict.ExitCode == 0, predict.Error);
        Assert.Contains("\"label\"", predict.Output, StringComparison.Ordinal);
        var evaluate = CliRunner.Run(null, "evaluate", "--model", checkpoint, "--data", train);
        Assert.True(evaluate.ExitCode == 0, evaluate.Error);
        Assert.Contains("16 examples", evaluate.Output, StringComparison.Ordinal);
    }
}
