using BertFineTune.Checkpoints.Hub;

namespace BertFineTune.Tests.Hub;

/// <summary>A served fixture model, a temporary cache and options that read nothing from the environment.</summary>
internal sealed class HubTestContext : IDisposable
{
    public const string RepoId = "test-org/tiny-bert";

    public HubTestContext(string fixture = "seq_cls")
    {
        Repo = Server.AddFolder(RepoId, Fixtures.Model(fixture));
    }

    public LocalHubServer Server { get; } = new();

    public TempFolder Cache { get; } = new();

    public ServedRepo Repo { get; }

    /// <summary>Explicit endpoint, cache, token (none) and offline switch, so no environment variable is consulted.</summary>
    public HubOptions Options => new()
    {
        Endpoint = Server.Endpoint,
        CacheDirectory = Cache.Path,
        Token = string.Empty,
        Offline = false,
        Timeout = TimeSpan.FromSeconds(10),
        RetryDelay = TimeSpan.FromMilliseconds(10),
    };

    public string RepoFolder => Path.Combine(Cache.Path, "models--test-org--tiny-bert");

    public string Blob(string fileName) => Path.Combine(RepoFolder, "blobs", Repo.Etag(fileName));

    public string Resolve(HubOptions? options = null, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        using var resolver = new HubModelResolver(options ?? Options);
        return resolver.Resolve(RepoId, progress, cancellationToken);
    }

    public void Dispose()
    {
        Server.Dispose();
        Cache.Dispose();
    }
}

/// <summary>Records progress reports synchronously (Progress&lt;T&gt; would post them to the thread pool).</summary>
internal sealed class RecordingProgress(Action<DownloadProgress>? onReport = null) : IProgress<DownloadProgress>
{
    public System.Collections.Concurrent.ConcurrentQueue<DownloadProgress> Reports { get; } = new();

    public void Report(DownloadProgress value)
    {
        Reports.Enqueue(value);
        onReport?.Invoke(value);
    }
}
