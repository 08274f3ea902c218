using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>Where a run stands, as stored in a checkpoint's <c>trainer_state.json</c>.</summary>
internal sealed record TrainerPosition(
    int GlobalStep,
    int EpochIndex,
    int BatchesDoneInEpoch,
    long OptimizerSteps,
    double? BestMetric,
    int? BestStep,
    int EvaluationsWithoutImprovement,
    IReadOnlyList<StepRecord> Steps,
    IReadOnlyList<EvaluationRecord> Evaluations);

/// <summary>
/// Writes and reads training checkpoints: the model in the Hugging Face layout, <c>optimizer.safetensors</c> (Adam
/// moments by parameter name), <c>rng_state.safetensors</c> and <c>trainer_state.json</c>. A checkpoint is assembled
/// in a temporary folder and renamed into place, so a crash at any instant leaves every earlier checkpoint intact.
/// </summary>
internal static class TrainerCheckpoint
{
    public const string Prefix = "checkpoint-";
    private const string StateFile = "trainer_state.json";
    private const string OptimizerFile = "optimizer.safetensors";
    private const string RngFile = "rng_state.safetensors";
    private const string AsideSuffix = ".old";

    public static string Save(string outputDirectory, BertForTask model, AdamW optimizer, TrainerPosition position, int totalSteps, double epoch)
    {
        Directory.CreateDirectory(outputDirectory);
        var final = Path.Combine(outputDirectory, $"{Prefix}{position.GlobalStep}");
        var temporary = Path.Combine(outputDirectory, $".{Prefix}{position.GlobalStep}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temporary);
        try
        {
            model.Save(temporary);
            SafeTensorsWriter.Write(Path.Combine(temporary, OptimizerFile), optimizer.StateTensors(),
                new Dictionary<string, string> { ["step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture) });
            using (var rng = random.get_rng_state())
            {
                SafeTensorsWriter.Write(Path.Combine(temporary, RngFile), [new("torch", rng)]);
            }
            AtomicFile.WriteText(Path.Combine(temporary, StateFile), StateJson(position, totalSteps, epoch));
            if (Directory.Exists(final))
            {
                // Re-saving a step (after a resume): move the old copy aside first, so one of the two always exists
                // (Prune puts an aside copy back if a crash came before the new one was in place).
                var aside = Path.Combine(outputDirectory, $".{Prefix}{position.GlobalStep}.{Guid.NewGuid():N}{AsideSuffix}");
                Directory.Move(final, aside);
                Directory.Move(temporary, final);
                DeleteAtomically(aside);
            }
            else
            {
                Directory.Move(temporary, final);
            }
            return final;
        }
        catch
        {
            if (Directory.Exists(temporary))
            {
                Directory.Delete(temporary, recursive: true);
            }
            throw;
        }
    }

    /// <summary>Deletes the oldest checkpoints beyond <paramref name="keep"/>, never <paramref name="protectedStep"/>, and stale temporary folders.</summary>
    public static void Prune(string outputDirectory, int? keep, int? protectedStep)
    {
        foreach (var stale in Directory.GetDirectories(outputDirectory, $".{Prefix}*.tmp"))
        {
            Directory.Delete(stale, recursive: true);
        }
        foreach (var aside in Directory.GetDirectories(outputDirectory, $".{Prefix}*{AsideSuffix}"))
        {
            // A complete earlier copy from an interrupted re-save: restore it if its step has no checkpoint, else drop it.
            var name = Path.GetFileName(aside);
            var final = Path.Combine(outputDirectory, name[1..name.IndexOf('.', 1 + Prefix.Length)]);
            if (Directory.Exists(final))
            {
                DeleteAtomically(aside);
            }
            else
            {
                Directory.Move(aside, final);
            }
        }
        if (keep is not { } limit)
        {
            return;
        }
        var checkpoints = List(outputDirectory);
        foreach (var (step, folder) in checkpoints.Take(Math.Max(0, checkpoints.Count - limit)))
        {
            if (step != protectedStep)
            {
                DeleteAtomically(folder);
            }
        }
    }

    /// <summary>
    /// Renames <paramref name="folder"/> to a temporary name, then deletes it: a crash part-way through the deletion
    /// leaves a stale temporary folder (removed by the next <see cref="Prune"/>), never a half-deleted checkpoint.
    /// </summary>
    private static void DeleteAtomically(string folder)
    {
        var doomed = Path.Combine(Path.GetDirectoryName(folder)!, $".{Prefix}deleted.{Guid.NewGuid():N}.tmp");
        Directory.Move(folder, doomed);
        Directory.Delete(doomed, recursive: true);
    }

    /// <summary>Complete checkpoints in <paramref name="outputDirectory"/>, oldest first.</summary>
    public static List<(int Step, string Folder)> List(string outputDirectory) =>
        Directory.Exists(outputDirectory)
            ? Directory.GetDirectories(outputDirectory, $"{Prefix}*")
                .Select(d => (Ok: int.TryParse(Path.GetFileName(d)[Prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var s), Step: s, Folder: d))
                .Where(c => c.Ok && File.Exists(Path.Combine(c.Folder, StateFile)))
                .OrderBy(c => c.Step)
                .Select(c => (c.Step, c.Folder))
                .ToList()
            : [];

    /// <summary>Loads weights, optimizer state and RNG state into the live objects and returns the position.</summary>
    public static TrainerPosition Load(string folder, BertForTask model, AdamW optimizer)
    {
        var statePath = Path.Combine(folder, StateFile);
        if (!File.Exists(statePath))
        {
            throw new FileNotFoundException($"{folder} is not a training checkpoint: it has no {StateFile}.", statePath);
        }
        var position = ReadState(statePath);
        using (var weights = SafeTensorsCheckpoint.OpenFolder(folder))
        {
            StateDictLoader.Load(weights, model.state_dict(), new StateDictLoadOptions
            {
                TiedKeys = model.Head.TiedKeys,
                Strict = true,
            }, folder);
        }
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, OptimizerFile)))
        {
            var tensors = file.Tensors.ToDictionary(t => t.Name, t => file.ReadTensor(t.Name));
            try
            {
                long steps = file.Metadata.TryGetValue("step", out var text) ? long.Parse(text, CultureInfo.InvariantCulture) : position.OptimizerSteps;
                optimizer.LoadState(tensors, steps);
            }
            finally
            {
                foreach (var t in tensors.Values)
                {
                    t.Dispose();
                }
            }
        }
        using (var file = SafeTensorsFile.Open(Path.Combine(folder, RngFile)))
        using (var rng = file.ReadTensor("torch"))
        {
            random.set_rng_state(rng);
        }
        return position;
    }

    private static string StateJson(TrainerPosition p, int totalSteps, double epoch)
    {
        var root = new JsonObject
        {
            ["global_step"] = p.GlobalStep,
            ["epoch"] = epoch,
            ["max_steps"] = totalSteps,
            ["epoch_index"] = p.EpochIndex,
            ["batches_done_in_epoch"] = p.BatchesDoneInEpoch,
            ["optimizer_steps"] = p.OptimizerSteps,
            ["best_metric"] = p.BestMetric,
            ["best_step"] = p.BestStep,
            ["evaluations_without_improvement"] = p.EvaluationsWithoutImprovement,
            ["log_history"] = new JsonArray(
                p.Steps.Select(s => (JsonNode)new JsonObject
                {
                    ["step"] = s.Step, ["epoch"] = s.Epoch, ["loss"] = Finite(s.Loss), ["grad_norm"] = Finite(s.GradientNorm),
                    ["learning_rate"] = s.LearningRate, ["skipped"] = s.Skipped,
                }).Concat(p.Evaluations.Select(e =>
                {
                    var o = new JsonObject { ["step"] = e.Step, ["epoch"] = e.Epoch };
                    foreach (var (name, value) in e.Metrics)
                    {
                        o[$"eval_{name}"] = Finite(value);
                    }
                    return (JsonNode)o;
                })).ToArray()),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    // JSON has no NaN; a non-finite value is written as null.
    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private static TrainerPosition ReadState(string path)
    {
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            var steps = new List<StepRecord>();
            var evaluations = new List<EvaluationRecord>();
            foreach (var entry in root["log_history"]!.AsArray())
            {
                var o = entry!.AsObject();
                int step = (int)o["step"]!;
                double epoch = (double)o["epoch"]!;
                if (o.ContainsKey("grad_norm"))
                {
                    steps.Add(new StepRecord(step, epoch, (double?)o["loss"] ?? double.NaN, (double?)o["grad_norm"] ?? double.NaN,
                        (double)o["learning_rate"]!, (bool)o["skipped"]!));
                }
                else
                {
                    evaluations.Add(new EvaluationRecord(step, epoch, o.Where(p => p.Key.StartsWith("eval_", StringComparison.Ordinal))
                        .ToDictionary(p => p.Key["eval_".Length..], p => (double?)p.Value ?? double.NaN)));
                }
            }
            return new TrainerPosition(
                (int)root["global_step"]!, (int)root["epoch_index"]!, (int)root["batches_done_in_epoch"]!,
                (long)root["optimizer_steps"]!, (double?)root["best_metric"], (int?)root["best_step"],
                (int)root["evaluations_without_improvement"]!, steps, evaluations);
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not a trainer_state.json written by this library ({e.Message}).", e);
        }
    }
}
