using System.Globalization;
using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>
/// Writes and reads training checkpoints: the model in the Hugging Face layout, <c>optimizer.safetensors</c> (Adam
/// moments by parameter name), <c>rng_state.safetensors</c> and <c>trainer_state.json</c>. A checkpoint is assembled
/// in a temporary folder and renamed into place, so a crash at any instant leaves every earlier checkpoint intact.
/// </summary>
internal static class TrainerCheckpoint
{
    private const string Prefix = "checkpoint-";
    private const string OptimizerFile = "optimizer.safetensors";
    private const string RngFile = "rng_state.safetensors";
    private const string AsideSuffix = ".old";

    /// <summary>The folder of the checkpoint of <paramref name="step"/> in <paramref name="outputDirectory"/>.</summary>
    public static string FolderFor(string outputDirectory, int step) => Path.Combine(outputDirectory, $"{Prefix}{step}");

    public static string Save(string outputDirectory, BertForTask model, AdamW optimizer, TrainerPosition position, int totalSteps, double epoch,
        BertTokenizer? tokenizer = null)
    {
        Directory.CreateDirectory(outputDirectory);
        var final = FolderFor(outputDirectory, position.GlobalStep);
        var temporary = Path.Combine(outputDirectory, $".{Prefix}{position.GlobalStep}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temporary);
        try
        {
            model.Save(temporary);
            // As transformers' Trainer._save (processing_class.save_pretrained): a checkpoint is a complete model folder
            // that info, predict, evaluate and FromPretrained accept.
            tokenizer?.Save(temporary);
            SafeTensorsWriter.Write(Path.Combine(temporary, OptimizerFile), optimizer.StateTensors(),
                new Dictionary<string, string> { ["step"] = optimizer.StepCount.ToString(CultureInfo.InvariantCulture) });
            using (var rng = random.get_rng_state())
            {
                SafeTensorsWriter.Write(Path.Combine(temporary, RngFile), [new("torch", rng)]);
            }
            TrainerStateFile.Write(Path.Combine(temporary, TrainerStateFile.FileName), position, totalSteps, epoch);
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

    /// <summary>
    /// Deletes the oldest checkpoints beyond <paramref name="keep"/>, never <paramref name="protectedStep"/>, and stale
    /// temporary folders. Every checkpoint this run did not write (<paramref name="thisRun"/>: an earlier run's, in a folder
    /// reused with resume or overwrite) counts as older than all of this run's, whatever its step: ranking by step alone
    /// (transformers' <c>_sorted_checkpoints</c>) would delete the new run's checkpoint-10 to keep an old checkpoint-500.
    /// </summary>
    public static void Prune(string outputDirectory, int? keep, int? protectedStep, IReadOnlySet<int>? thisRun = null)
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
        if (thisRun is not null)
        {
            checkpoints = checkpoints.OrderBy(c => thisRun.Contains(c.Step)).ThenBy(c => c.Step).ToList();
        }
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
    private static List<(int Step, string Folder)> List(string outputDirectory) =>
        Directory.Exists(outputDirectory)
            ? Directory.GetDirectories(outputDirectory, $"{Prefix}*")
                .Select(d => (Ok: int.TryParse(Path.GetFileName(d)[Prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var s), Step: s, Folder: d))
                .Where(c => c.Ok && File.Exists(Path.Combine(c.Folder, TrainerStateFile.FileName)))
                .OrderBy(c => c.Step)
                .Select(c => (c.Step, c.Folder))
                .ToList()
            : [];

    /// <summary>Loads weights, optimizer state and RNG state into the live objects and returns the position.</summary>
    public static TrainerPosition Load(string folder, BertForTask model, AdamW optimizer)
    {
        var statePath = Path.Combine(folder, TrainerStateFile.FileName);
        if (!File.Exists(statePath))
        {
            throw new FileNotFoundException($"{folder} is not a training checkpoint: it has no {TrainerStateFile.FileName}.", statePath);
        }
        var position = TrainerStateFile.Read(statePath);
        LoadWeights(folder, model);
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

    /// <summary>Loads the checkpoint's model weights into <paramref name="model"/>; every tensor must match (strict).</summary>
    public static void LoadWeights(string folder, BertForTask model)
    {
        using var weights = SafeTensorsCheckpoint.OpenFolder(folder);
        StateDictLoader.Load(weights, model.state_dict(), new StateDictLoadOptions
        {
            TiedKeys = model.Head.TiedKeys,
            Strict = true,
        }, folder);
    }
}
