using BertFineTune.Builder;
using BertFineTune.Checkpoints;

namespace BertFineTune.Cli;

/// <summary>
/// The output folder of <c>train</c> and <c>pretrain</c>: checked before any work, cleared of an overwritten run's
/// checkpoints, and replaced as a whole by the final save (<see cref="ModelFolder.Replace"/>).
/// </summary>
/// <remarks>
/// The non-empty rule is transformers' (examples/pytorch/text-classification/run_glue.py and the other example scripts):
/// "Output directory (…) already exists and is not empty. Use --overwrite_output_dir to overcome.", unless a checkpoint
/// is being resumed.
/// </remarks>
internal static class OutputFolder
{
    /// <summary>
    /// Refuses, before anything loads or trains, an output that is a file, is not writable, is an input (<paramref name="inputs"/>:
    /// the model folder, data files) or lies inside one, holds one, or is not empty while neither <paramref name="overwrite"/>
    /// nor <paramref name="resume"/> is given.
    /// </summary>
    /// <exception cref="CliException">A usage error naming the flag, the folder and the fix.</exception>
    public static void Check(string output, bool overwrite, string? resume, params (string Flag, string? Path)[] inputs)
    {
        try
        {
            ModelFolder.CheckOutput(output);
        }
        catch (Exception e) when (e is ArgumentException or IOException)
        {
            // No inner exception: the error line shows this message, which names the flag (the library's names the folder only).
            throw new CliException(ErrorKind.Usage, $"--output {output}: {LibraryNames.Translate(e)}");
        }
        var outputPath = RealPath(output);
        foreach (var (flag, path) in inputs)
        {
            if (path is null || !Path.Exists(path))
            {
                // A Hub id, or a file the command reports as missing itself.
                continue;
            }
            var inputPath = RealPath(path);
            if (Same(outputPath, inputPath))
            {
                throw new CliException(ErrorKind.Usage,
                    $"--output {output} is the {flag} folder: saving would replace what is read. Give another output folder.");
            }
            if (Inside(outputPath, inputPath))
            {
                throw new CliException(ErrorKind.Usage,
                    $"--output {output} is inside the {flag} folder {path}: saving would change what is read. Give an output folder outside it.");
            }
            if (Inside(inputPath, outputPath))
            {
                throw new CliException(ErrorKind.Usage,
                    $"{flag} {path} is inside --output {output}, which the final save replaces as a whole (deleting it). Give an output folder that does not hold it.");
            }
        }
        if (Directory.Exists(output) && !overwrite && resume is null)
        {
            var entries = Directory.EnumerateFileSystemEntries(output).Select(Path.GetFileName).Take(4).ToList();
            if (entries.Count > 0)
            {
                throw new CliException(ErrorKind.Usage,
                    $"--output {output} already exists and is not empty (it holds {string.Join(", ", entries.Take(3))}{(entries.Count > 3 ? ", …" : "")}). "
                    + "Add --overwrite-output-dir to replace it when training ends, or --resume-from-checkpoint "
                    + $"{Path.Combine(output, RunOptions.CheckpointsFolder, "checkpoint-N")} to continue its run, or give another folder.");
            }
        }
    }

    /// <summary>
    /// With <c>--overwrite-output-dir</c> and no resume: deletes the overwritten run's checkpoints before this run writes
    /// its own, so they are neither pruned in place of the new ones nor mistaken for them. The model files stay until the
    /// final save replaces the folder.
    /// </summary>
    public static void ClearOldCheckpoints(string output, bool overwrite, string? resume)
    {
        var checkpoints = Path.Combine(output, RunOptions.CheckpointsFolder);
        if (!overwrite || resume is not null || !Directory.Exists(checkpoints))
        {
            return;
        }
        // Renamed first, so a kill during the deletion leaves a stale folder (deleted with the old output), not half a
        // checkpoint. Not NAME.old-GUID: ModelFolder would take that for a swap to undo and put it back.
        var doomed = Path.Combine(output, $".{RunOptions.CheckpointsFolder}.deleted-{Guid.NewGuid():N}");
        Directory.Move(checkpoints, doomed);
        Directory.Delete(doomed, recursive: true);
    }

    /// <summary>
    /// Saves the final model folder as a whole: the model, and whatever <paramref name="alsoWrite"/> adds, are written
    /// beside <paramref name="output"/> and swapped in; this run's <c>checkpoints</c> folder is moved into the new folder.
    /// </summary>
    public static void Save(string output, TaskModel model, Action<string> alsoWrite) =>
        ModelFolder.Replace(output, folder =>
        {
            // Into the folder Replace hands out: TaskModel.Save would swap a second time, inside this swap.
            model.WriteInto(folder);
            alsoWrite(folder);
        }, [RunOptions.CheckpointsFolder]);

    private static readonly StringComparison PathComparison = OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;

    private static bool Same(string a, string b) => string.Equals(a, b, PathComparison);

    private static bool Inside(string path, string folder) =>
        path.StartsWith(folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar, PathComparison);

    /// <summary>The full path with every symbolic link among its existing folders resolved, so two names of one folder compare equal.</summary>
    internal static string RealPath(string path)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        var root = Path.GetPathRoot(full)!;
        var resolved = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            resolved = Path.Combine(resolved, part);
            FileSystemInfo info = Directory.Exists(resolved) ? new DirectoryInfo(resolved) : new FileInfo(resolved);
            if (info.Exists && info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is { } target)
            {
                resolved = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target.FullName));
            }
        }
        return resolved;
    }
}
