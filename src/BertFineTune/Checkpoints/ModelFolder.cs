using System.Runtime.InteropServices;

namespace BertFineTune.Checkpoints;

/// <summary>
/// Writes an output folder so that a reader (or a process killed at any instant) sees the old folder or the new one,
/// never a mix of their files: the new folder is written completely beside the old one (<c>NAME.tmp-GUID</c>), then the
/// two are swapped by renames, then the old one is deleted. Also checks an output folder before any work is done.
/// </summary>
/// <remarks>
/// On Linux the swap is one <c>renameat2(RENAME_EXCHANGE)</c> call, atomic on ext4, xfs, btrfs, tmpfs and overlayfs.
/// Elsewhere (or where the file system refuses the exchange) it is two renames, old to <c>NAME.old-GUID</c> then new to
/// NAME; a kill between them leaves no NAME but a complete <c>NAME.old-GUID</c>, which the next <see cref="Replace"/> or
/// <see cref="CheckOutput"/> of that folder renames back. Leftover <c>NAME.tmp-GUID</c> folders (a write that was killed)
/// are deleted by the next <see cref="Replace"/>.
/// </remarks>
public static partial class ModelFolder
{
    private const string TemporaryInfix = ".tmp-";
    private const string OldInfix = ".old-";

    /// <summary>
    /// Checks, before any work, that <paramref name="folder"/> can be written as an output folder: it is not a file, no
    /// folder above it is a file, and both the folder (when it exists) and the folder the new copy is written beside can
    /// be written to (checked by creating and deleting a probe). Finishes a swap a kill interrupted (see remarks).
    /// </summary>
    /// <param name="folder">The output folder; it need not exist.</param>
    /// <exception cref="ArgumentException"><paramref name="folder"/> is empty, or it or a folder above it is a file.</exception>
    /// <exception cref="IOException">A folder cannot be written to (read-only, no permission); the message names it.</exception>
    public static void CheckOutput(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        var (full, parent, name) = Split(folder);
        if (File.Exists(full))
        {
            throw new ArgumentException($"The output {full} is a file, not a folder; give a folder (new, empty or a model folder to replace).", nameof(folder));
        }
        for (var above = parent; above is not null; above = Path.GetDirectoryName(above))
        {
            if (File.Exists(above))
            {
                throw new ArgumentException($"The output {full} cannot be a folder: {above} is a file.", nameof(folder));
            }
        }
        RestoreInterrupted(parent, name, full);
        // The new folder is written beside the old one, so its parent must be writable (created when missing, as the
        // save would create it); the old one receives checkpoints during training, so it must be writable too.
        var probeParent = NearestExisting(parent);
        Probe(probeParent, full);
        if (Directory.Exists(full))
        {
            Probe(full, full);
        }
    }

    /// <summary>
    /// Replaces <paramref name="folder"/> as a whole: <paramref name="write"/> fills a new folder beside it, which then
    /// takes its place in one swap; the old folder and everything in it are deleted. When <paramref name="write"/> throws,
    /// the new folder is deleted and <paramref name="folder"/> is left as it was.
    /// </summary>
    /// <param name="folder">The folder to create or replace.</param>
    /// <param name="write">Writes the new folder's files into the path it is given (which exists and is empty).</param>
    /// <param name="carryOver">
    /// Names of entries of the old folder (files or folders, e.g. a run's <c>checkpoints</c>) moved into the new folder
    /// after the swap, by rename, when the new folder has no entry of that name; null for none. A kill between the swap
    /// and these moves leaves the new folder complete without them (they are deleted with the old folder).
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="folder"/> is empty or a file.</exception>
    /// <exception cref="IOException">A folder cannot be written, renamed or deleted.</exception>
    /// <remarks>Exceptions from <paramref name="write"/> pass through unchanged.</remarks>
    public static void Replace(string folder, Action<string> write, IReadOnlyCollection<string>? carryOver = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentNullException.ThrowIfNull(write);
        var (full, parent, name) = Split(folder);
        if (File.Exists(full))
        {
            throw new ArgumentException($"{full} is a file, not a folder; give a folder to save into.", nameof(folder));
        }
        Directory.CreateDirectory(parent);
        RestoreInterrupted(parent, name, full);
        // What killed writes and deletions left: never NAME itself, so deleting them cannot lose the folder.
        foreach (var stale in Siblings(parent, name, TemporaryInfix).Concat(Directory.Exists(full) ? Siblings(parent, name, OldInfix) : []))
        {
            Directory.Delete(stale, recursive: true);
        }
        var temporary = Path.Combine(parent, $"{name}{TemporaryInfix}{Guid.NewGuid():N}");
        Directory.CreateDirectory(temporary);
        try
        {
            write(temporary);
        }
        catch
        {
            Directory.Delete(temporary, recursive: true);
            throw;
        }
        if (!Directory.Exists(full))
        {
            Directory.Move(temporary, full);
            return;
        }
        var old = Path.Combine(parent, $"{name}{OldInfix}{Guid.NewGuid():N}");
        if (Exchange(temporary, full))
        {
            // The old folder now has the temporary name; give it the old-folder name so a kill while it is deleted
            // leaves something that is recognisably stale.
            Directory.Move(temporary, old);
        }
        else
        {
            Directory.Move(full, old);
            Directory.Move(temporary, full);
        }
        foreach (var entry in carryOver ?? [])
        {
            var from = Path.Combine(old, entry);
            var to = Path.Combine(full, entry);
            if (Path.Exists(to))
            {
                continue;
            }
            if (Directory.Exists(from))
            {
                Directory.Move(from, to);
            }
            else if (File.Exists(from))
            {
                File.Move(from, to);
            }
        }
        Directory.Delete(old, recursive: true);
    }

    /// <summary>When a kill came between the two renames of the fallback swap, NAME is missing and NAME.old-GUID is complete: put it back.</summary>
    private static void RestoreInterrupted(string parent, string name, string full)
    {
        if (Directory.Exists(full) || !Directory.Exists(parent))
        {
            return;
        }
        var olds = Siblings(parent, name, OldInfix);
        if (olds.Length == 1)
        {
            Directory.Move(olds[0], full);
        }
    }

    /// <summary>
    /// The folders beside NAME that this class made: NAME + infix + a 32-digit GUID, nothing else, so a user's own
    /// <c>NAME.old-backup</c> is never deleted or renamed.
    /// </summary>
    private static string[] Siblings(string parent, string name, string infix) =>
        Directory.GetDirectories(parent, name + infix + "*")
            .Where(d => MadeHere().IsMatch(Path.GetFileName(d)[(name.Length + infix.Length)..]))
            .ToArray();

    // A GUID (no save is nested in another: the CLI writes the model into the folder Replace hands out).
    [System.Text.RegularExpressions.GeneratedRegex(@"^[0-9a-f]{32}$")]
    private static partial System.Text.RegularExpressions.Regex MadeHere();

    private static (string Full, string Parent, string Name) Split(string folder)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        var parent = Path.GetDirectoryName(full)
            ?? throw new ArgumentException($"{full} is a root folder; it cannot be replaced. Give a folder inside it.", nameof(folder));
        return (full, parent, Path.GetFileName(full));
    }

    private static string NearestExisting(string folder)
    {
        var at = folder;
        while (!Directory.Exists(at))
        {
            at = Path.GetDirectoryName(at) ?? at;
            if (at == Path.GetPathRoot(at))
            {
                break;
            }
        }
        return at;
    }

    private static void Probe(string folder, string output)
    {
        var probe = Path.Combine(folder, $".bertfinetune-probe-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(probe);
            Directory.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException(
                $"The output {output} cannot be written: {folder} is not writable ({e.Message}). Give a folder you can write to.", e);
        }
    }

    /// <summary>Swaps two folders in one atomic rename where the OS offers it; false when it does not (then nothing changed).</summary>
    private static bool Exchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        try
        {
            return RenameAt2(AtCurrentWorkingDirectory, a, AtCurrentWorkingDirectory, b, RenameExchange) == 0;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // A C library without renameat2 (glibc before 2.28, some musl builds): use the two-rename swap.
            return false;
        }
    }

    private const int AtCurrentWorkingDirectory = -100;
    private const uint RenameExchange = 2;

    [LibraryImport("libc", EntryPoint = "renameat2", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int RenameAt2(int oldDirectory, string oldPath, int newDirectory, string newPath, uint flags);
}
