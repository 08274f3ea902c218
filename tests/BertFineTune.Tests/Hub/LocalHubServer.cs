using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace BertFineTune.Tests.Hub;

/// <summary>One request the server received.</summary>
internal sealed record RecordedRequest(string Method, string Path, string? Range, string? Authorization, string Host);

/// <summary>A model repository the server serves: files at one commit, reachable by branch names and the commit itself.</summary>
internal sealed class ServedRepo
{
    public ServedRepo(string repoId, IReadOnlyDictionary<string, byte[]> files)
    {
        RepoId = repoId;
        Files = new Dictionary<string, byte[]>(files, StringComparer.Ordinal);
        Commit = Convert.ToHexString(SHA1.HashData(Encoding.UTF8.GetBytes("commit:" + repoId + Guid.NewGuid()))).ToLowerInvariant();
        Branches["main"] = Commit;
    }

    public string RepoId { get; }

    public string Commit { get; }

    public Dictionary<string, byte[]> Files { get; }

    public ConcurrentDictionary<string, string> Branches { get; } = new(StringComparer.Ordinal);

    /// <summary>When set, requests without <c>Bearer {RequiredToken}</c> get 401 GatedRepo.</summary>
    public string? RequiredToken { get; set; }

    public static bool IsLfs(string fileName) => fileName.EndsWith(".safetensors", StringComparison.Ordinal) || fileName.EndsWith(".bin", StringComparison.Ordinal);

    /// <summary>The Hub's ETag: SHA-256 for LFS files, the git blob SHA-1 for the others.</summary>
    public string Etag(string fileName) => IsLfs(fileName) ? Sha256(Files[fileName]) : GitBlobSha1(Files[fileName]);

    public static string Sha256(byte[] data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();

    public static string GitBlobSha1(byte[] data) =>
        Convert.ToHexString(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {data.Length}\0"), .. data])).ToLowerInvariant();
}

/// <summary>
/// A real HTTP server on 127.0.0.1 (System.Net.HttpListener) speaking the Hugging Face Hub's download protocol:
/// <c>HEAD/GET /{repo}/resolve/{revision}/{file}</c> with X-Repo-Commit, ETag, X-Linked-Etag/X-Linked-Size and a 302 to
/// <c>/lfs/&lt;sha256&gt;</c> for LFS files, Range support on the LFS content, the Hub's error codes, and fault injection.
/// </summary>
internal sealed class LocalHubServer : IDisposable
{
    private readonly HttpListener _listener;
    private readonly ConcurrentDictionary<string, ServedRepo> _repos = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string FileName, byte[] Content)> _lfs = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public LocalHubServer()
    {
        for (int attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            _listener = new HttpListener();
            _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
            _listener.Prefixes.Add($"http://localhost:{Port}/");
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 10)
            {
                _listener.Close();
            }
        }
        _loop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    // Fault injection -------------------------------------------------------------------------------------------------

    /// <summary>The next <c>Times</c> GETs of this file's content send <c>Bytes</c> bytes and drop the connection.</summary>
    public ConcurrentDictionary<string, (long Bytes, int Times)> DropAfter { get; } = new(StringComparer.Ordinal);

    /// <summary>Answer Range requests with 200 and the whole file.</summary>
    public bool IgnoreRange { get; set; }

    /// <summary>Files whose content is served altered (same headers, same length).</summary>
    public ConcurrentDictionary<string, bool> Corrupt { get; } = new(StringComparer.Ordinal);

    /// <summary>Files whose resolve requests (HEAD and GET) answer this status.</summary>
    public ConcurrentDictionary<string, int> FailWith { get; } = new(StringComparer.Ordinal);

    /// <summary>ETags announced instead of the real ones.</summary>
    public ConcurrentDictionary<string, string> EtagOverride { get; } = new(StringComparer.Ordinal);

    /// <summary>Content bodies are sent in chunks of this many bytes with this pause between them.</summary>
    public (int ChunkBytes, TimeSpan Pause)? Slow { get; set; }

    /// <summary>Redirect LFS content to this host (e.g. <c>localhost</c>) instead of a relative <c>/lfs/…</c>.</summary>
    public string? LfsHost { get; set; }

    /// <summary>Old repository ids answering a relative 307 to the new id (as the Hub does for renamed repositories).</summary>
    public ConcurrentDictionary<string, string> Renamed { get; } = new(StringComparer.Ordinal);

    public ServedRepo Add(string repoId, IReadOnlyDictionary<string, byte[]> files)
    {
        var repo = new ServedRepo(repoId, files);
        foreach (var (name, content) in repo.Files.Where(f => ServedRepo.IsLfs(f.Key)))
        {
            _lfs[ServedRepo.Sha256(content)] = (name, content);
        }
        _repos[repoId] = repo;
        return repo;
    }

    /// <summary>Serves the files of a fixture folder (reference_io.safetensors left out).</summary>
    public ServedRepo AddFolder(string repoId, string folder) =>
        Add(repoId, Directory.GetFiles(folder)
            .Where(f => Path.GetFileName(f) != "reference_io.safetensors")
            .ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes));

    public RecordedRequest[] Snapshot() => [.. Requests];

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loop ends with the listener.
        }
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            _ = Task.Run(() => HandleAsync(context));
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var path = request.Url!.AbsolutePath;
        Requests.Enqueue(new RecordedRequest(request.HttpMethod, path, request.Headers["Range"], request.Headers["Authorization"], request.Url.Host));
        try
        {
            if (path.StartsWith("/lfs/", StringComparison.Ordinal))
            {
                await ServeLfsAsync(request, response, path["/lfs/".Length..]);
            }
            else
            {
                await ServeResolveAsync(request, response, request.RawUrl!.Split('?')[0]);
            }
        }
        catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The client went away (cancellation) or the connection was dropped on purpose.
        }
    }

    private async Task ServeResolveAsync(HttpListenerRequest request, HttpListenerResponse response, string rawPath)
    {
        var parts = rawPath.Trim('/').Split('/');
        int at = Array.IndexOf(parts, "resolve");
        if (at is < 1 or > 2 || parts.Length < at + 3)
        {
            Finish(response, 404);
            return;
        }
        var repoId = string.Join('/', parts[..at]);
        var revision = Uri.UnescapeDataString(parts[at + 1]);
        var fileName = string.Join('/', parts[(at + 2)..].Select(Uri.UnescapeDataString));
        if (Renamed.TryGetValue(repoId, out var newId))
        {
            response.StatusCode = 307;
            response.RedirectLocation = $"/{newId}/resolve/{parts[at + 1]}/{string.Join('/', parts[(at + 2)..])}";
            Finish(response, 307);
            return;
        }
        if (!_repos.TryGetValue(repoId, out var repo))
        {
            response.Headers["X-Error-Code"] = "RepositoryNotFound";
            response.Headers["X-Error-Message"] = "Repository not found";
            Finish(response, 401);
            return;
        }
        if (repo.RequiredToken is { } token && request.Headers["Authorization"] != $"Bearer {token}")
        {
            response.Headers["X-Error-Code"] = "GatedRepo";
            response.Headers["X-Error-Message"] = "Access to model is restricted.";
            Finish(response, 401);
            return;
        }
        var commit = repo.Branches.TryGetValue(revision, out var c) ? c : revision == repo.Commit ? repo.Commit : null;
        if (commit is null)
        {
            response.Headers["X-Error-Code"] = "RevisionNotFound";
            Finish(response, 404);
            return;
        }
        if (FailWith.TryGetValue(fileName, out var status))
        {
            Finish(response, status);
            return;
        }
        response.Headers["X-Repo-Commit"] = commit;
        if (!repo.Files.TryGetValue(fileName, out var content))
        {
            response.Headers["X-Error-Code"] = "EntryNotFound";
            Finish(response, 404);
            return;
        }
        var etag = EtagOverride.TryGetValue(fileName, out var forced) ? forced : repo.Etag(fileName);
        if (ServedRepo.IsLfs(fileName))
        {
            var sha = ServedRepo.Sha256(content);
            response.Headers["X-Linked-Etag"] = $"\"{etag}\"";
            response.Headers["X-Linked-Size"] = content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
            response.Headers["ETag"] = $"\"{ServedRepo.GitBlobSha1(Encoding.ASCII.GetBytes("version https://git-lfs.github.com/spec/v1\n" + sha))}\"";
            response.RedirectLocation = LfsHost is null ? $"/lfs/{sha}" : $"http://{LfsHost}:{Port}/lfs/{sha}";
            Finish(response, 302);
            return;
        }
        response.Headers["ETag"] = $"W/\"{etag}\"";
        await SendContentAsync(request, response, fileName, content, ranges: false);
    }

    private async Task ServeLfsAsync(HttpListenerRequest request, HttpListenerResponse response, string sha)
    {
        if (!_lfs.TryGetValue(sha, out var entry))
        {
            Finish(response, 404);
            return;
        }
        response.Headers["ETag"] = $"\"{sha}\"";
        response.Headers["Accept-Ranges"] = "bytes";
        await SendContentAsync(request, response, entry.FileName, entry.Content, ranges: true);
    }

    private async Task SendContentAsync(HttpListenerRequest request, HttpListenerResponse response, string fileName, byte[] content, bool ranges)
    {
        if (Corrupt.ContainsKey(fileName))
        {
            content = (byte[])content.Clone();
            for (int i = content.Length / 2; i < content.Length; i += 997)
            {
                content[i] ^= 0x5A;
            }
        }
        long start = 0;
        if (ranges && !IgnoreRange && request.Headers["Range"] is { } range && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = long.Parse(range["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (start >= content.Length)
            {
                response.Headers["Content-Range"] = $"bytes */{content.Length}";
                Finish(response, 416);
                return;
            }
            response.StatusCode = 206;
            response.Headers["Content-Range"] = $"bytes {start}-{content.Length - 1}/{content.Length}";
        }
        else
        {
            response.StatusCode = 200;
        }
        response.ContentLength64 = content.Length - start;
        if (request.HttpMethod == "HEAD")
        {
            response.Close();
            return;
        }
        long end = content.Length;
        bool drop = false;
        if (request.HttpMethod == "GET" && DropAfter.TryGetValue(fileName, out var fault) && fault.Times > 0)
        {
            DropAfter[fileName] = (fault.Bytes, fault.Times - 1);
            end = Math.Min(end, start + fault.Bytes);
            drop = true;
        }
        var output = response.OutputStream;
        int chunk = Slow?.ChunkBytes ?? 1 << 16;
        for (long position = start; position < end; position += chunk)
        {
            int count = (int)Math.Min(chunk, end - position);
            await output.WriteAsync(content.AsMemory((int)position, count));
            await output.FlushAsync();
            if (Slow is { } slow && position + count < end)
            {
                await Task.Delay(slow.Pause);
            }
        }
        if (drop)
        {
            response.Abort();
            return;
        }
        response.Close();
    }

    private static void Finish(HttpListenerResponse response, int status)
    {
        response.StatusCode = status;
        response.ContentLength64 = 0;
        response.Close();
    }
}
