namespace BertFineTune.Checkpoints.Hub;

/// <summary>What went wrong while resolving or downloading a model from the Hugging Face Hub.</summary>
public enum HubErrorKind
{
    /// <summary>The repository does not exist (or is private and no valid token was sent).</summary>
    RepositoryNotFound,

    /// <summary>The branch, tag or commit does not exist in the repository.</summary>
    RevisionNotFound,

    /// <summary>A required file does not exist at the revision.</summary>
    EntryNotFound,

    /// <summary>The repository is private or gated (HTTP 401/403): a token with access is needed.</summary>
    Unauthorized,

    /// <summary>Offline mode is on (or the Hub cannot be reached) and the model is not in the cache.</summary>
    NotCached,

    /// <summary>The Hub could not be reached (connection refused, reset or timed out).</summary>
    Network,

    /// <summary>The server answered 5xx.</summary>
    ServerError,

    /// <summary>The server answered an unexpected HTTP status.</summary>
    HttpError,

    /// <summary>The server's answer lacks what the Hub protocol promises (commit, ETag) or is malformed.</summary>
    InvalidResponse,

    /// <summary>The downloaded bytes do not hash to the SHA-256 the Hub announced; the file was deleted.</summary>
    HashMismatch,

    /// <summary>The downloaded file does not have the size the Hub announced; the file was deleted.</summary>
    SizeMismatch,

    /// <summary>The disk holding the cache is full (or the quota is exhausted).</summary>
    DiskFull,

    /// <summary>A file name, revision or ETag would place a file outside its cache folder; nothing was written.</summary>
    UnsafePath,

    /// <summary>The repository holds only weights this library cannot read (pytorch_model.bin).</summary>
    UnsupportedFormat,

    /// <summary>Another process held the download lock of a file for longer than <see cref="HubOptions.LockTimeout"/>.</summary>
    LockTimeout,
}

/// <summary>
/// A model could not be resolved from the Hugging Face Hub or its cache. The message says what to do;
/// <see cref="Kind"/>, <see cref="RepoId"/>, <see cref="FileName"/> and <see cref="StatusCode"/> say what failed.
/// </summary>
public sealed class HubException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HubException(HubErrorKind kind, string repoId, string? fileName, int? statusCode, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        RepoId = repoId;
        FileName = fileName;
        StatusCode = statusCode;
    }

    /// <summary>What went wrong.</summary>
    public HubErrorKind Kind { get; }

    /// <summary>The repository id (<c>org/name</c> or <c>name</c>).</summary>
    public string RepoId { get; }

    /// <summary>The file in the repository, when the failure concerns one.</summary>
    public string? FileName { get; }

    /// <summary>The HTTP status the server answered, when there was one.</summary>
    public int? StatusCode { get; }
}
