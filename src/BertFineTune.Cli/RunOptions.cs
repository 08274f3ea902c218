using BertFineTune.Training;
using Spectre.Console;

namespace BertFineTune.Cli;

/// <summary>When <c>train</c> and <c>pretrain</c> write a resumable checkpoint: transformers' <c>save_strategy</c>.</summary>
internal enum SaveStrategy
{
    /// <summary>No checkpoint: only the final model is saved, to the output folder.</summary>
    No,
    /// <summary>A checkpoint every <c>--save-steps</c> optimizer steps.</summary>
    Steps,
    /// <summary>A checkpoint at the end of every epoch.</summary>
    Epoch,
}

/// <summary>The training options <c>train</c> and <c>pretrain</c> share: saving, resuming, and the check of every value before anything loads.</summary>
internal static class RunOptions
{
    /// <summary>transformers' <c>save_steps</c> default (training_args.py), used by <c>--save-strategy Steps</c> without <c>--save-steps</c>.</summary>
    public const int DefaultSaveSteps = 500;

    /// <summary>Folder of the checkpoints inside the output folder.</summary>
    public const string CheckpointsFolder = "checkpoints";

    /// <summary>The strategy in force: the one given, else Steps when <c>--save-steps</c> is given, else No.</summary>
    public static SaveStrategy Effective(SaveStrategy? strategy, int? saveSteps) =>
        strategy ?? (saveSteps is null ? SaveStrategy.No : SaveStrategy.Steps);

    /// <summary>
    /// Maps the strategy onto the trainer's options. With No the trainer gets no checkpoint folder, so it writes nothing
    /// with optimizer state (not at epoch ends, not for a new best, not on Ctrl-C); the best weights are kept in memory.
    /// </summary>
    public static TrainerOptions Apply(TrainerOptions options, SaveStrategy? strategy, int? saveSteps, string output) =>
        Effective(strategy, saveSteps) switch
        {
            SaveStrategy.No => options with { OutputDirectory = null, SaveEveryEpoch = false, SaveEverySteps = null },
            SaveStrategy.Steps => options with
            {
                OutputDirectory = Path.Combine(output, CheckpointsFolder), SaveEveryEpoch = false, SaveEverySteps = saveSteps ?? DefaultSaveSteps,
            },
            _ => options with { OutputDirectory = Path.Combine(output, CheckpointsFolder), SaveEveryEpoch = true, SaveEverySteps = null },
        };

    /// <summary>The combinations of saving options that contradict each other; null when there is none.</summary>
    public static ValidationResult? Check(SaveStrategy? strategy, int? saveSteps) =>
        saveSteps is not null && strategy is SaveStrategy.No or SaveStrategy.Epoch
            ? ValidationResult.Error($"--save-steps needs --save-strategy Steps; with {strategy} it would be ignored.")
            : null;

    /// <summary>Checks, before anything loads, that <paramref name="resume"/> (when given) is a checkpoint folder.</summary>
    /// <exception cref="DirectoryNotFoundException">There is no such folder.</exception>
    /// <exception cref="CliException">The folder is not a checkpoint (a usage error).</exception>
    public static void CheckCheckpoint(string? resume)
    {
        if (resume is null)
        {
            return;
        }
        if (!Directory.Exists(resume))
        {
            throw new DirectoryNotFoundException($"--resume-from-checkpoint {resume}: no such folder.");
        }
        if (!File.Exists(Path.Combine(resume, "trainer_state.json")))
        {
            throw new CliException(ErrorKind.Usage,
                $"--resume-from-checkpoint {resume}: not a checkpoint (it has no trainer_state.json); give an OUTPUT/{CheckpointsFolder}/checkpoint-N folder.");
        }
    }

    /// <summary>The library's own check of every value, its message in the command's flags.</summary>
    public static ValidationResult? Check(TrainerOptions options)
    {
        try
        {
            options.Validate();
            return null;
        }
        catch (ArgumentException e)
        {
            return ValidationResult.Error(LibraryNames.Translate(e));
        }
    }
}
