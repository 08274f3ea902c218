using System.Text.RegularExpressions;

namespace BertFineTune.Checkpoints.Hub;

/// <summary>
/// One model repository in the huggingface_hub cache layout:
/// <c>models--org--name/{blobs/&lt;etag&gt;, snapshots/&lt;commit&gt;/&lt;file&gt; → ../../blobs/&lt;etag&gt;, refs/&lt;revision&gt;, .no_exist/&lt;commit&gt;/&lt;file&gt;}</c>.
/// Every path it builds is checked to stay inside the repository folder.
/// </summary>
internal sealed partial class HubCache
{
    private readonly bool _useSymbolicLinks;
    private readonly string _folderName;
    private readonly string _cacheRoot;

    public HubCache(string cacheRoot, string repoId, bool useSymbolicLinks)
    {
        RepoId = repoId;
        _useSymbolicLinks = useSymbolicLinks;
        _cacheRoot = Path.GetFullPath(cacheRoot);
        _folderName = "models--" + repoId.Replace("/", "--", StringComparison.Ordinal);
        RepoFolder = Path.Combine(_cacheRoot, _folderName);
    }

    public string RepoId { get; }

    /// <summary>The <c>models--org--name</c> folder.</summary>
    public string RepoFolder { get; }

    public string BlobsFolder => Path.Combine(RepoFolder, "blobs");

    /// <summary>Whether <paramref name="value"/> is a full 40-hex commit hash (lowercase, as huggingface_hub requires).</summary>
    public static bool IsCommitHash(string value) => CommitHash().IsMatch(value);

    /// <summary>Whether <paramref name="value"/> is a 64-hex SHA-256, the ETag of an LFS file.</summary>
    public static bool IsSha256(string value) => Sha256().IsMatch(value);

    /// <summary>Whether <paramref name="reference"/> has the shape of a Hub repository id (<c>org/name</c> or <c>name</c>).</summary>
    public static bool IsValidRepoId(string reference) => RepoIdProblem(reference) is null;

    /// <summary>
    /// Why <paramref name="reference"/> is not a Hub repository id, in huggingface_hub's words, or null when it is one.
    /// The rules of <c>huggingface_hub/utils/_validators.py</c> <c>validate_repo_id</c>, in its order: at most one '/';
    /// <c>REPO_ID_REGEX</c> (an optional namespace and a name of 1 to 96 of letters, digits, '-', '_', '.', each starting
    /// and ending at a word boundary, so not with '-' or '.'); no "--" or ".."; no ".git" at the end.
    /// </summary>
    public static string? RepoIdProblem(string reference) =>
        reference.Count(c => c == '/') > 1
            ? $"Repo id must be in the form 'repo_name' or 'namespace/repo_name': '{reference}'."
        : !RepoIdPattern().IsMatch(reference) || reference[(reference.IndexOf('/') + 1)..].Length > 96
            ? "Repo id must use alphanumeric chars or '-', '_', '.', '--' and '..' are forbidden, '-' and '.' cannot start or end "
                + $"the name, max length is 96: '{reference}'."
        : reference.Contains("--", StringComparison.Ordinal) || reference.Contains("..", StringComparison.Ordinal)
            ? $"Cannot have -- or .. in repo_id: '{reference}'."
        : reference.EndsWith(".git", StringComparison.Ordinal)
            ? $"Repo_id cannot end by '.git': '{reference}'."
        : null;

    public string SnapshotFolder(string commit) => Inside(Path.Combine(RepoFolder, "snapshots", CheckCommit(commit)), null);

    public string SnapshotFile(string commit, string fileName) => Inside(Path.Combine(SnapshotFolder(commit), CheckFileName(fileName)), fileName);

    public string NoExistMarker(string commit, string fileName) =>
        Inside(Path.Combine(RepoFolder, ".no_exist", CheckCommit(commit), CheckFileName(fileName)), fileName);

    public string BlobPath(string etag, string fileName)
    {
        if (etag.Length is 0 or > 200 || etag[0] == '.' || !SafeEtag().IsMatch(etag))
        {
            throw new HubException(HubErrorKind.UnsafePath, RepoId, fileName, null,
                $"The server gave {RepoId}/{fileName} the ETag '{etag}', which is not a plain blob name (letters, digits, '-', '_', '.'; no separators or '..'): refusing to write it into the cache.");
        }
        return Inside(Path.Combine(BlobsFolder, etag), fileName);
    }

    /// <summary>
    /// The lock huggingface_hub itself takes for the blob (<c>.locks/models--org--name/&lt;etag&gt;.lock</c>, flock on Unix,
    /// as .NET's <see cref="FileShare.None"/>), so a Python process downloading the same blob is waited for too.
    /// </summary>
    public string PythonLockPath(string etag, string fileName)
    {
        BlobPath(etag, fileName);
        return Path.Combine(_cacheRoot, ".locks", _folderName, etag + ".lock");
    }

    /// <summary>The commit <c>refs/&lt;revision&gt;</c> points to, or <see langword="null"/>.</summary>
    public string? ReadRef(string revision)
    {
        var path = RefPath(revision);
        if (!File.Exists(path))
        {
            return null;
        }
        var commit = File.ReadAllText(path).Trim();
        return IsCommitHash(commit) ? commit : null;
    }

    /// <summary>Points <c>refs/&lt;revision&gt;</c> at <paramref name="commit"/> (no trailing newline, as huggingface_hub writes it).</summary>
    public void WriteRef(string revision, string commit)
    {
        if (revision == commit || ReadRef(revision) == commit)
        {
            return;
        }
        AtomicFile.WriteText(RefPath(revision), CheckCommit(commit));
    }

    /// <summary>Remembers that <paramref name="fileName"/> does not exist at <paramref name="commit"/>.</summary>
    public void MarkMissing(string commit, string fileName)
    {
        var marker = NoExistMarker(commit, fileName);
        Directory.CreateDirectory(Path.GetDirectoryName(marker)!);
        using (File.Create(marker))
        {
        }
    }

    /// <summary>
    /// Makes <c>snapshots/&lt;commit&gt;/&lt;file&gt;</c> a relative symbolic link to the blob, or a copy where links cannot be
    /// made; created under a temporary name and renamed over any previous entry, so concurrent callers never collide.
    /// </summary>
    public void LinkIntoSnapshot(string blobPath, string commit, string fileName)
    {
        var target = SnapshotFile(commit, fileName);
        var folder = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(folder);
        var temporary = Path.Combine(folder, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");
        if (_useSymbolicLinks)
        {
            try
            {
                File.CreateSymbolicLink(temporary, Path.GetRelativePath(folder, blobPath));
                File.Move(temporary, target, overwrite: true);
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
            {
                // Windows without developer mode, FAT/exFAT or some network shares: fall back to a copy.
                TryDelete(temporary);
            }
        }
        try
        {
            File.Copy(blobPath, temporary);
            File.Move(temporary, target, overwrite: true);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>Whether the snapshot entry exists and its content is reachable (a dangling link does not count).</summary>
    public static bool IsPresent(string snapshotFile) => File.Exists(snapshotFile);

    private string RefPath(string revision)
    {
        if (revision.Length == 0 || Path.IsPathRooted(revision) || revision.Contains('\\', StringComparison.Ordinal)
            || revision.Split('/').Any(s => s is "" or "." or ".."))
        {
            throw new HubException(HubErrorKind.UnsafePath, RepoId, null, null,
                $"Revision '{revision}' is not a branch, tag or commit name that can be stored under refs/ (no '..', empty parts, backslashes or absolute paths).");
        }
        return Inside(Path.Combine(RepoFolder, "refs", revision), null);
    }

    private string CheckCommit(string commit) =>
        IsCommitHash(commit)
            ? commit
            : throw new HubException(HubErrorKind.InvalidResponse, RepoId, null, null,
                $"'{commit}' is not a 40-hex commit hash; the server's X-Repo-Commit cannot name a snapshot folder.");

    private string CheckFileName(string fileName)
    {
        if (!IsSafeFileName(fileName))
        {
            throw new HubException(HubErrorKind.UnsafePath, RepoId, fileName, null,
                $"'{fileName}' in {RepoId} is not a relative file name inside the repository (no '..', '.', empty parts, backslashes, drive letters or absolute paths): refusing to write it.");
        }
        return fileName;
    }

    /// <summary>A repository-relative name with '/' separators that cannot leave its folder.</summary>
    public static bool IsSafeFileName(string fileName) =>
        fileName.Length is > 0 and <= 1000 && !Path.IsPathRooted(fileName)
        && fileName.IndexOfAny(['\\', ':', '\0']) < 0
        && fileName.Split('/').All(s => s is not ("" or "." or ".."));

    private string Inside(string path, string? fileName)
    {
        var full = Path.GetFullPath(path);
        if (!full.StartsWith(RepoFolder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new HubException(HubErrorKind.UnsafePath, RepoId, fileName, null,
                $"'{path}' would lie outside the cache folder {RepoFolder}: refusing to write it.");
        }
        return full;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a stray temporary name is harmless.
        }
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHash();

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256();

    [GeneratedRegex(@"^(\b[\w\-.]+\b/)?\b[\w\-.]+\b$")]
    private static partial Regex RepoIdPattern();

    [GeneratedRegex(@"^[A-Za-z0-9._\-]+$")]
    private static partial Regex SafeEtag();
}
