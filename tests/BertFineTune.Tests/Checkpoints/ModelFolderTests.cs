using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Tests.Training;
using BertFineTune.Training;

namespace BertFineTune.Tests.Checkpoints;

/// <summary>
/// Issue 15 items 1 and 2 in the library: output folders are checked before any work and replaced as a whole
/// (ModelFolder), pruning never deletes the new run's checkpoints, and every checkpoint is a complete model folder with
/// the tokenizer files (transformers' Trainer._save: processing_class.save_pretrained(output_dir)).
/// </summary>
public class ModelFolderTests
{
    /// <summary>A folder this process cannot write: /sys (read-only in containers, even for root), else a chmod 555 folder.</summary>
    internal static string ReadOnlyFolder(TempFolder temp)
    {
        if (Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root")
        {
            Assert.True(Directory.Exists("/sys"), "this test needs /sys (read-only) when run as root");
            return "/sys";
        }
        var folder = temp.File("read-only");
        Directory.CreateDirectory(folder);
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("this test makes a read-only folder with Unix permissions");
        }
        File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        return folder;
    }

    private static string[] Entries(string folder) =>
        Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public void Replace_swaps_a_whole_folder_in_and_deletes_the_old_one_with_every_file_it_held()
    {
        using var temp = new TempFolder();
        var folder = temp.File("model");
        ModelFolder.Replace(folder, f => { File.WriteAllText(Path.Combine(f, "config.json"), "old"); File.WriteAllText(Path.Combine(f, "tokenizer.json"), "old"); });
        Assert.Equal(["config.json", "tokenizer.json"], Entries(folder));

        ModelFolder.Replace(folder, f => File.WriteAllText(Path.Combine(f, "config.json"), "new"));

        // The old tokenizer.json is gone with the old folder: a file-by-file save would have left it beside the new config.
        Assert.Equal(["config.json"], Entries(folder));
        Assert.Equal("new", File.ReadAllText(Path.Combine(folder, "config.json")));
        Assert.Equal(["model"], Entries(temp.Path));
    }

    [Fact]
    public void Replace_leaves_the_old_folder_as_it_was_when_writing_the_new_one_fails()
    {
        using var temp = new TempFolder();
        var folder = temp.File("model");
        ModelFolder.Replace(folder, f => File.WriteAllText(Path.Combine(f, "config.json"), "old"));

        var error = Assert.Throws<IOException>(() => ModelFolder.Replace(folder, f =>
        {
            File.WriteAllText(Path.Combine(f, "config.json"), "half");
            throw new IOException("disk full");
        }));

        Assert.Equal("disk full", error.Message);
        Assert.Equal("old", File.ReadAllText(Path.Combine(folder, "config.json")));
        Assert.Equal(["model"], Entries(temp.Path));
    }

    [Fact]
    public void Replace_carries_named_entries_of_the_old_folder_over_and_cleans_what_kills_left_beside_it()
    {
        using var temp = new TempFolder();
        var folder = temp.File("model");
        ModelFolder.Replace(folder, f => Directory.CreateDirectory(Path.Combine(f, "checkpoints", "checkpoint-3")));
        // What kills leave: a half-written new folder and a half-deleted old one.
        Directory.CreateDirectory(temp.File($"model.tmp-{Guid.NewGuid():N}"));
        Directory.CreateDirectory(temp.File($"model.old-{Guid.NewGuid():N}"));
        // A user's own folders of similar names are not this class's leftovers: they stay.
        Directory.CreateDirectory(temp.File("model.old-backup"));

        ModelFolder.Replace(folder, f => File.WriteAllText(Path.Combine(f, "config.json"), "new"), ["checkpoints", "absent"]);

        Assert.Equal(["checkpoints", "config.json"], Entries(folder));
        Assert.True(Directory.Exists(Path.Combine(folder, "checkpoints", "checkpoint-3")));
        Assert.Equal(["model", "model.old-backup"], Entries(temp.Path));
    }

    [Fact]
    public void A_kill_between_the_two_renames_of_the_fallback_swap_is_undone_by_the_next_check()
    {
        using var temp = new TempFolder();
        // The fallback swap renames NAME to NAME.old-GUID, then NAME.tmp-GUID to NAME; killed between them, NAME is missing.
        var old = temp.File($"model.old-{Guid.NewGuid():N}");
        Directory.CreateDirectory(old);
        File.WriteAllText(Path.Combine(old, "config.json"), "old");
        Directory.CreateDirectory(temp.File($"model.tmp-{Guid.NewGuid():N}"));

        ModelFolder.CheckOutput(temp.File("model"));

        Assert.Equal("old", File.ReadAllText(temp.File("model/config.json")));
    }

    // Members of the kind "an output that cannot be written": a file, a folder under a file, a read-only folder.
    [Fact]
    public void CheckOutput_refuses_a_file_a_folder_under_a_file_and_a_read_only_folder_naming_each()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("file"), "x");

        var isFile = Assert.Throws<ArgumentException>(() => ModelFolder.CheckOutput(temp.File("file")));
        Assert.Contains("is a file, not a folder", isFile.Message, StringComparison.Ordinal);
        var underFile = Assert.Throws<ArgumentException>(() => ModelFolder.CheckOutput(Path.Combine(temp.File("file"), "out")));
        Assert.Contains($"{temp.File("file")} is a file", underFile.Message, StringComparison.Ordinal);
        var readOnly = ReadOnlyFolder(temp);
        var notWritable = Assert.Throws<IOException>(() => ModelFolder.CheckOutput(Path.Combine(readOnly, "out")));
        Assert.Contains("cannot be written", notWritable.Message, StringComparison.Ordinal);
        Assert.Contains(readOnly, notWritable.Message, StringComparison.Ordinal);
        // A new folder in a writable place passes (and nothing is left behind by the probe).
        ModelFolder.CheckOutput(temp.File("new/deeper"));
        Assert.False(Directory.Exists(temp.File("new")));
    }

    [Fact]
    public void TaskModel_Save_replaces_a_model_folder_whole_and_refuses_a_folder_that_is_not_one()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        var folder = temp.File("saved");
        model.Save(folder);
        File.WriteAllText(Path.Combine(folder, "pytorch_model.bin"), "stale weights of an older save");

        model.Save(folder);

        Assert.False(File.Exists(Path.Combine(folder, "pytorch_model.bin")));
        foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt" })
        {
            Assert.True(File.Exists(Path.Combine(folder, file)), $"the new save lacks {file}");
        }
        Assert.Equal(["saved"], Entries(temp.Path));
        var notModel = temp.File("documents");
        Directory.CreateDirectory(notModel);
        File.WriteAllText(Path.Combine(notModel, "thesis.txt"), "precious");
        var refused = Assert.Throws<IOException>(() => model.Save(notModel));
        Assert.Contains("not a model folder", refused.Message, StringComparison.Ordinal);
        Assert.Equal("precious", File.ReadAllText(Path.Combine(notModel, "thesis.txt")));
    }

    [Fact]
    public void Every_checkpoint_holds_the_tokenizer_and_loads_with_FromPretrained()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        var output = temp.File("run");
        var options = TrainingKit.Quiet() with { OutputDirectory = output, SaveEverySteps = 1, MaxSteps = 2, BatchSize = 4 };

        model.CreateTrainer(options).Train(new InMemoryExamples(TrainingKit.Examples(8, labels: model.Labels.Count)));

        foreach (var checkpoint in new[] { "checkpoint-1", "checkpoint-2" })
        {
            var folder = Path.Combine(output, checkpoint);
            foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt" })
            {
                Assert.True(File.Exists(Path.Combine(folder, file)), $"{checkpoint} lacks {file}");
            }
            using var loaded = BertModelBuilder.FromPretrained(folder).Build();
            Assert.Equal(model.Tokenizer.Encode("hello world").Ids, loaded.Tokenizer.Encode("hello world").Ids);
        }
    }

    /// <summary>
    /// Issue 15 (1a) in the library: a folder holding an earlier run's checkpoint-500 and checkpoint-600; a new run with
    /// SaveTotalLimit 2 and a checkpoint every step. Ranking by step alone (transformers' _sorted_checkpoints) would keep
    /// 500 and 600 and delete every new one; the rule ranks an earlier run's checkpoints older than all of this run's.
    /// </summary>
    [Fact]
    public void Pruning_never_deletes_the_new_runs_checkpoints_to_keep_an_earlier_runs_with_higher_steps()
    {
        using var temp = new TempFolder();
        var output = temp.File("run");
        using (var earlier = TrainingKit.Model(TrainingKit.Config(dropout: 0)))
        {
            new Trainer(earlier, TrainingKit.Quiet() with { OutputDirectory = output, SaveEverySteps = 1, MaxSteps = 2, BatchSize = 4 })
                .Train(new InMemoryExamples(TrainingKit.Examples(8)));
        }
        Directory.Move(Path.Combine(output, "checkpoint-1"), Path.Combine(output, "checkpoint-500"));
        Directory.Move(Path.Combine(output, "checkpoint-2"), Path.Combine(output, "checkpoint-600"));

        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0));
        var result = new Trainer(model, TrainingKit.Quiet() with { OutputDirectory = output, SaveEverySteps = 1, MaxSteps = 3, BatchSize = 4, SaveTotalLimit = 2 })
            .Train(new InMemoryExamples(TrainingKit.Examples(8)));

        Assert.Equal(Path.Combine(output, "checkpoint-3"), result.LastCheckpoint);
        Assert.Equal(["checkpoint-2", "checkpoint-3"], Entries(output));
    }

    [Fact]
    public void The_trainer_checks_its_checkpoint_folder_before_the_first_step()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("file"), "x");
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0));
        var steps = 0;
        var callback = new CountingCallback(() => steps++);

        Assert.Throws<ArgumentException>(() => new Trainer(model, TrainingKit.Quiet() with { OutputDirectory = temp.File("file"), SaveEverySteps = 1, MaxSteps = 2, BatchSize = 4 })
            .Train(new InMemoryExamples(TrainingKit.Examples(8)), callbacks: [callback]));
        Assert.Throws<IOException>(() => new Trainer(model, TrainingKit.Quiet() with { OutputDirectory = Path.Combine(ReadOnlyFolder(temp), "run"), SaveEverySteps = 1, MaxSteps = 2, BatchSize = 4 })
            .Train(new InMemoryExamples(TrainingKit.Examples(8)), callbacks: [callback]));
        Assert.Equal(0, steps);
    }

    private sealed class CountingCallback(Action onStep) : TrainerCallback
    {
        public override bool OnStep(StepRecord step)
        {
            onStep();
            return false;
        }
    }
}
