using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Training;

namespace BertFineTune.Tests.Training;

/// <summary>
/// Starts tests/BertFineTune.TestHost, which trains without end and checkpoints after every step, and kills it at random
/// instants: whatever checkpoint-N folders survive must be complete, and training must resume from the newest.
/// </summary>
public partial class CheckpointCrashTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [GeneratedRegex(@"^checkpoint-(\d+)$")]
    private static partial Regex CheckpointName();

    /// <summary>Starts the test host with <paramref name="arguments"/>, collecting its standard output and error into <paramref name="log"/>.</summary>
    private static Process StartHost(IEnumerable<string> arguments, StringBuilder log)
    {
        var process = Process.Start(new ProcessStartInfo(DotnetExecutable(), arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    internal static string HostAssembly()
    {
        // The test runs from tests/BertFineTune.Tests/bin/<Configuration>/<TargetFramework>/; the host builds beside it.
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var path = Path.Combine(Fixtures.RepositoryRoot, "tests", "BertFineTune.TestHost", "bin", here.Parent!.Name, here.Name, "BertFineTune.TestHost.dll");
        Assert.True(File.Exists(path), $"{path} is missing: build the solution (the test project references the host so it is built first).");
        return path;
    }

    internal static string DotnetExecutable() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
        : "dotnet";

    /// <summary>checkpoint-N folders by step (complete or not: the name is what a user sees).</summary>
    private static SortedDictionary<int, string> Checkpoints(string folder)
    {
        var found = new SortedDictionary<int, string>();
        foreach (var directory in Directory.GetDirectories(folder))
        {
            var match = CheckpointName().Match(Path.GetFileName(directory));
            if (match.Success)
            {
                found[int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture)] = directory;
            }
        }
        return found;
    }

    private static void AssertComplete(int step, string folder)
    {
        var state = Path.Combine(folder, "trainer_state.json");
        Assert.True(File.Exists(state), $"{folder} has no trainer_state.json: {string.Join(", ", Directory.GetFiles(folder).Select(Path.GetFileName))}");
        using (var document = JsonDocument.Parse(File.ReadAllText(state)))
        {
            Assert.Equal(step, document.RootElement.GetProperty("global_step").GetInt32());
            Assert.Equal(step, document.RootElement.GetProperty("log_history").GetArrayLength());
        }
        using (var model = BertForTask.LoadFolder(folder, new FolderLoadOptions { Strict = true }))
        {
            Assert.True(model.LoadReport!.IsExactMatch, model.LoadReport.ToString());
        }
        using (var optimizer = SafeTensorsFile.Open(Path.Combine(folder, "optimizer.safetensors")))
        {
            Assert.NotEmpty(optimizer.Tensors);
        }
        using (var rng = SafeTensorsFile.Open(Path.Combine(folder, "rng_state.safetensors")))
        {
            Assert.Single(rng.Tensors);
        }
    }

    [Fact]
    public void Killing_training_at_random_instants_leaves_only_complete_checkpoints_and_the_newest_resumes()
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "run");
        int seed = Environment.TickCount;
        var random = new Random(seed);
        int newest = 0;
        for (int round = 0; round < 6; round++)
        {
            var log = new StringBuilder();
            // After the first round the host prunes to the newest three, so deletions get interrupted too.
            var arguments = new List<string> { HostAssembly(), "train-forever", output };
            if (round > 0)
            {
                arguments.Add("3");
            }
            using var process = StartHost(arguments, log);
            try
            {
                var clock = Stopwatch.StartNew();
                while (!Directory.Exists(output) || Checkpoints(output).Keys.Count(k => k > newest) < 2)
                {
                    Assert.False(process.HasExited, $"round {round}: the host exited with {(process.HasExited ? process.ExitCode : 0)}: {log}");
                    Assert.True(clock.Elapsed < Patience, $"round {round}: no two new checkpoints after {Patience}: {log}");
                    Thread.Sleep(5);
                }
                Thread.Sleep(random.Next(0, 150));
            }
            finally
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }

            var checkpoints = Checkpoints(output);
            Assert.True(checkpoints.Count > 0, $"round {round} (seed {seed}): no checkpoint left");
            foreach (var (step, folder) in checkpoints)
            {
                AssertComplete(step, folder);
            }
            Assert.True(checkpoints.Keys.Max() > newest, $"round {round} (seed {seed}) did not get past step {newest}: {log}");
            newest = checkpoints.Keys.Max();
        }

        // The next run resumes from the newest checkpoint and cleans any temporary folder a kill left behind.
        var config = TinyModels.Config();
        TorchSharp.torch.random.manual_seed(11);
        using var resumed = new BertForTask(config, new SequenceClassificationHead(config));
        var options = new TrainerOptions
        {
            LearningRate = 1e-3,
            Schedule = ScheduleKind.Constant,
            BatchSize = 4,
            OutputDirectory = output,
            SaveEverySteps = 1,
            EvaluateEveryEpoch = false,
            SaveEveryEpoch = false,
            MaxSteps = newest + 2,
            ResumeFromCheckpoint = Checkpoints(output)[newest],
        };
        var result = new Trainer(resumed, options).Train(new InMemoryExamples(TrainingKit.Examples(16, seed: 3)));

        Assert.Equal(TrainingStopReason.Completed, result.StopReason);
        Assert.Equal(newest + 2, result.GlobalStep);
        Assert.Equal([newest + 1, newest + 2], result.Steps.Select(s => s.Step));
        Assert.Empty(Directory.GetDirectories(output, ".checkpoint-*"));
        AssertComplete(newest + 2, Checkpoints(output)[newest + 2]);
    }

    /// <summary>
    /// Issue 15 (1d): the final save into an existing model folder, killed at random instants. The host saves without
    /// end as train's final save does (ModelFolder.Replace: the model, then version.txt), save k with classifier.bias = k;
    /// after each kill the folder must exist and be one save whole: version.txt, the weights' bias, config.json and the
    /// tokenizer files all present and agreeing (a mix of two saves would show a bias that differs from version.txt, or
    /// a missing file).
    /// </summary>
    [Fact]
    public void Killing_the_final_save_into_an_existing_folder_leaves_the_old_or_the_new_folder_never_a_mix()
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "model");
        int seed = Environment.TickCount;
        var random = new Random(seed);
        int newest = 0;
        for (int round = 0; round < 8; round++)
        {
            var log = new StringBuilder();
            using var process = StartHost([HostAssembly(), "save-forever", Fixtures.Model("seq_cls"), output], log);
            try
            {
                var clock = Stopwatch.StartNew();
                // Wait for two saves past the newest seen, so the kill lands inside a save into an existing folder.
                while (Version(output) is not { } v || v < newest + 2)
                {
                    Assert.False(process.HasExited, $"round {round}: the host exited with {(process.HasExited ? process.ExitCode : 0)}: {log}");
                    Assert.True(clock.Elapsed < Patience, $"round {round}: no two new saves after {Patience}: {log}");
                    Thread.Sleep(2);
                }
                Thread.Sleep(random.Next(0, 60));
            }
            finally
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
            }

            Assert.True(Directory.Exists(output), $"round {round} (seed {seed}): the kill left no {output}: {string.Join(", ", Directory.GetFileSystemEntries(temp.Path).Select(Path.GetFileName))}");
            int version = Version(output) ?? throw new Xunit.Sdk.XunitException($"round {round} (seed {seed}): version.txt is missing");
            foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt" })
            {
                Assert.True(File.Exists(Path.Combine(output, file)), $"round {round} (seed {seed}): save {version} lacks {file}");
            }
            using (var model = BertForTask.LoadFolder(output, new FolderLoadOptions { Strict = true }))
            {
                Assert.True(model.LoadReport!.IsExactMatch, model.LoadReport.ToString());
                using var bias = model.state_dict()["classifier.bias"].to_type(TorchSharp.torch.ScalarType.Float64);
                Assert.All(bias.data<double>().ToArray(), b => Assert.Equal(version, b));
            }
            Assert.True(version >= newest, $"round {round} (seed {seed}): the folder went back from save {newest} to {version}");
            newest = version;
        }

        // The next save cleans what the kills left beside the folder (a half-written NAME.tmp-…, a half-deleted NAME.old-…).
        ModelFolder.Replace(output, folder => File.WriteAllText(Path.Combine(folder, "version.txt"), "0"));
        Assert.Equal(["model"], Directory.GetFileSystemEntries(temp.Path).Select(Path.GetFileName));
    }

    private static int? Version(string folder)
    {
        try
        {
            return int.Parse(File.ReadAllText(Path.Combine(folder, "version.txt")), CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    [Fact]
    public void The_next_save_finishes_what_a_crash_interrupted_and_keeps_only_complete_checkpoints()
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "run");
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0));
        var options = TrainingKit.Quiet() with { OutputDirectory = output, SaveEverySteps = 1, MaxSteps = 3, BatchSize = 4 };
        new Trainer(model, options).Train(new InMemoryExamples(TrainingKit.Examples(8)));
        // What kills leave behind: a half-written checkpoint, a half-deleted one, and a re-save interrupted after the
        // old copy of step 3 was moved aside but before the new one was in place.
        Directory.CreateDirectory(Path.Combine(output, ".checkpoint-4.0123.tmp"));
        File.WriteAllText(Path.Combine(output, ".checkpoint-4.0123.tmp", "config.json"), "{");
        Directory.Move(Path.Combine(output, "checkpoint-1"), Path.Combine(output, ".checkpoint-deleted.4567.tmp"));
        Directory.Move(Path.Combine(output, "checkpoint-3"), Path.Combine(output, ".checkpoint-3.89ab.old"));

        TrainerCheckpoint.Prune(output, keep: null, protectedStep: null);

        Assert.Equal(["checkpoint-2", "checkpoint-3"], Directory.GetDirectories(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        AssertComplete(2, Path.Combine(output, "checkpoint-2"));
        AssertComplete(3, Path.Combine(output, "checkpoint-3"));
    }

    [Fact]
    public void Pruning_beyond_the_limit_removes_whole_checkpoints_oldest_first()
    {
        using var temp = new TempFolder();
        var output = Path.Combine(temp.Path, "run");
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0));
        var options = TrainingKit.Quiet() with { OutputDirectory = output, SaveEverySteps = 1, MaxSteps = 5, BatchSize = 4, SaveTotalLimit = 2 };

        new Trainer(model, options).Train(new InMemoryExamples(TrainingKit.Examples(8)));

        Assert.Equal(["checkpoint-4", "checkpoint-5"], Directory.GetDirectories(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }
}
