using System.Net;
using System.Net.Http.Headers;
using System.Reflection;

namespace BertFineTune.Checkpoints.Hub;

/// <summary>What a <c>HEAD …/resolve/…</c> said about a file.</summary>
/// <param name="Commit">The commit the revision resolved to (<c>X-Repo-Commit</c>).</param>
/// <param name="Etag">The blob name: <c>X-Linked-Etag</c> (LFS SHA-256) else <c>ETag</c>, without quotes or <c>W/</c>.</param>
/// <param name="Size"><c>X-Linked-Size</c> else <c>Content-Length</c>.</param>
/// <param name="DownloadUri">Where to GET the bytes: a redirect's target, else the address asked.</param>
internal sealed record HubFileMetadata(string Commit, string Etag, long? Size, Uri DownloadUri);

/// <summary>The Hub's HTTP protocol: metadata through HEAD without automatic redirects, GET with manual redirects, error mapping.</summary>
internal sealed class HubHttp : IDisposable
{
    private const int MaxRedirects = 10;
    private static readonly string Version =
        typeof(HubHttp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    private readonly HttpClient _client;
    private readonly Uri _endpoint;

    public HubHttp(ResolvedHubSettings settings, TimeSpan timeout)
    {
        Settings = settings;
        Timeout = timeout;
        _endpoint = new Uri(settings.Endpoint + "/");
        _client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
    }

    public ResolvedHubSettings Settings { get; }

    public TimeSpan Timeout { get; }

    /// <summary><c>{endpoint}/{repo}/resolve/{revision}/{file}</c>, revision escaped whole (a branch may hold '/').</summary>
    public Uri ResolveUri(string repoId, string revision, string fileName) =>
        new(_endpoint, $"{repoId}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', fileName.Split('/').Select(Uri.EscapeDataString))}");

    /// <summary>
    /// HEADs <paramref name="uri"/>. Returns the metadata, or <see langword="null"/> with the commit (when the server
    /// named it) if the file does not exist at the revision; throws <see cref="HubException"/> for every other failure.
    /// A 3xx that carries the Hub's headers (the LFS redirect) is read as is; one that does not (a renamed repository)
    /// is followed, its Location resolved against the request.
    /// </summary>
    public async Task<(HubFileMetadata? Metadata, string? MissingCommit)> HeadAsync(Uri uri, string repoId, string revision, string fileName, CancellationToken cancellationToken)
    {
        for (int hop = 0; hop <= MaxRedirects; hop++)
        {
            using var request = NewRequest(HttpMethod.Head, uri);
            using var response = await SendAsync(request, repoId, fileName, cancellationToken).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400)
            {
                var location = response.Headers.Location is { } l ? new Uri(uri, l) : null;
                if (Header(response, "X-Repo-Commit") is not null && (Header(response, "X-Linked-Etag") ?? Header(response, "ETag")) is not null)
                {
                    return (ReadMetadata(response, location ?? uri, repoId, fileName), null);
                }
                uri = location ?? throw new HubException(HubErrorKind.InvalidResponse, repoId, fileName, status,
                    $"{uri} answered {status} without a Location header or the Hub's X-Repo-Commit/ETag headers.");
                continue;
            }
            if (response.IsSuccessStatusCode)
            {
                return (ReadMetadata(response, uri, repoId, fileName), null);
            }
            if (status == 404 && Header(response, "X-Error-Code") is null or "EntryNotFound")
            {
                return (null, Header(response, "X-Repo-Commit"));
            }
            throw Error(response, repoId, revision, fileName);
        }
        throw new HubException(HubErrorKind.InvalidResponse, repoId, fileName, null, $"More than {MaxRedirects} redirects for {repoId}/{fileName}.");
    }

    /// <summary>
    /// GETs <paramref name="uri"/> from byte <paramref name="offset"/> on, following redirects by hand (relative ones resolved
    /// against the request; the token kept only on the endpoint's host). The caller owns the response and checks its status.
    /// </summary>
    public async Task<HttpResponseMessage> GetAsync(Uri uri, long offset, string repoId, string fileName, CancellationToken cancellationToken)
    {
        for (int hop = 0; hop <= MaxRedirects; hop++)
        {
            using var request = NewRequest(HttpMethod.Get, uri);
            if (offset > 0)
            {
                request.Headers.Range = new RangeHeaderValue(offset, null);
            }
            var response = await SendAsync(request, repoId, fileName, cancellationToken).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status is >= 300 and < 400 && response.Headers.Location is { } location)
            {
                response.Dispose();
                uri = new Uri(uri, location);
                continue;
            }
            return response;
        }
        throw new HubException(HubErrorKind.InvalidResponse, repoId, fileName, null, $"More than {MaxRedirects} redirects for {repoId}/{fileName}.");
    }

    /// <summary>The exception for an error status: what failed and what to do about it.</summary>
    public HubException Error(HttpResponseMessage response, string repoId, string revision, string? fileName)
    {
        int status = (int)response.StatusCode;
        var code = Header(response, "X-Error-Code");
        var serverSaid = Header(response, "X-Error-Message") is { } m ? $" The server said: {m}" : string.Empty;
        var what = fileName is null ? repoId : $"{repoId}/{fileName}";
        var tokenHint = Settings.Token is null
            ? "No token was sent: set HF_TOKEN (or HubOptions.Token) to a Hugging Face access token with read access."
            : "The token sent (HF_TOKEN or HubOptions.Token) does not grant access: check it and its permissions.";
        return code switch
        {
            "GatedRepo" => new HubException(HubErrorKind.Unauthorized, repoId, fileName, status,
                $"{repoId} is a gated model (HTTP {status}): accept its conditions at {Settings.Endpoint}/{repoId} while logged in, "
                + $"then set HF_TOKEN (or HubOptions.Token) to a token of that account. {tokenHint}{serverSaid}"),
            "RepositoryNotFound" => new HubException(HubErrorKind.RepositoryNotFound, repoId, fileName, status,
                $"Repository {repoId} was not found on {Settings.Endpoint} (HTTP {status}). Check the id (org/name, as on the model page); "
                + $"if it is private or gated, {char.ToLowerInvariant(tokenHint[0])}{tokenHint[1..]}{serverSaid}"),
            "RevisionNotFound" => new HubException(HubErrorKind.RevisionNotFound, repoId, fileName, status,
                $"Revision '{revision}' was not found in {repoId} (HTTP {status}): check the branch, tag or commit (HubOptions.Revision).{serverSaid}"),
            _ when status == 404 => new HubException(HubErrorKind.EntryNotFound, repoId, fileName, status,
                $"{what} was not found at revision '{revision}' on {Settings.Endpoint} (HTTP 404). Check the repository id and revision; "
                + $"a BERT model needs config.json and model.safetensors.{serverSaid}"),
            _ when status is 401 or 403 => new HubException(HubErrorKind.Unauthorized, repoId, fileName, status,
                $"Access to {what} was denied (HTTP {status}): the repository is private or gated. {tokenHint}{serverSaid}"),
            _ when status >= 500 => new HubException(HubErrorKind.ServerError, repoId, fileName, status,
                $"{Settings.Endpoint} answered {status} {response.ReasonPhrase} for {what}: a problem on the server's side. "
                + $"Retry later; a partial download is kept and resumed. Set HF_HUB_OFFLINE=1 to use only cached models meanwhile.{serverSaid}"),
            _ => new HubException(HubErrorKind.HttpError, repoId, fileName, status,
                $"{Settings.Endpoint} answered {status} {response.ReasonPhrase} for {what}.{serverSaid}"),
        };
    }

    /// <summary>The exception for a request that never got an answer.</summary>
    public HubException NetworkError(Exception cause, string repoId, string? fileName) =>
        new(HubErrorKind.Network, repoId, fileName, null,
            $"Could not reach {Settings.Endpoint} for {(fileName is null ? repoId : $"{repoId}/{fileName}")} ({cause.Message}). "
            + "Check the network or proxy, set HF_ENDPOINT for a mirror, or set HF_HUB_OFFLINE=1 (HubOptions.Offline) to use only models already in "
            + $"the cache at {Settings.CacheDirectory}.", cause);

    public static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    /// <summary>An ETag without <c>W/</c> and quotes.</summary>
    public static string NormalizeEtag(string etag)
    {
        var value = etag.Trim();
        if (value.StartsWith("W/", StringComparison.Ordinal))
        {
            value = value[2..];
        }
        return value.Trim('"');
    }

    public void Dispose() => _client.Dispose();

    private HubFileMetadata ReadMetadata(HttpResponseMessage response, Uri downloadUri, string repoId, string fileName)
    {
        var commit = Header(response, "X-Repo-Commit");
        var etag = Header(response, "X-Linked-Etag") ?? Header(response, "ETag");
        if (commit is null || etag is null)
        {
            throw new HubException(HubErrorKind.InvalidResponse, repoId, fileName, (int)response.StatusCode,
                $"{Settings.Endpoint} answered for {repoId}/{fileName} without {(commit is null ? "X-Repo-Commit" : "an ETag")}: "
                + "it does not speak the Hugging Face Hub protocol. Check HF_ENDPOINT (HubOptions.Endpoint).");
        }
        commit = commit.Trim();
        if (!HubCache.IsCommitHash(commit))
        {
            throw new HubException(HubErrorKind.InvalidResponse, repoId, fileName, (int)response.StatusCode,
                $"The server named commit '{commit}' for {repoId}/{fileName}, which is not a 40-hex commit hash.");
        }
        long? size = long.TryParse(Header(response, "X-Linked-Size"), out var linked) ? linked
            : response.Content.Headers.ContentLength ?? (long.TryParse(Header(response, "Content-Length"), out var length) ? length : null);
        return new HubFileMetadata(commit, NormalizeEtag(etag), size, downloadUri);
    }

    private HttpRequestMessage NewRequest(HttpMethod method, Uri uri)
    {
        var request = new HttpRequestMessage(method, uri);
        request.Headers.UserAgent.Add(new ProductInfoHeaderValue("BertFineTune", Version));
        request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
        if (Settings.Token is { } token && IsEndpointHost(uri))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return request;
    }

    private bool IsEndpointHost(Uri uri) =>
        string.Equals(uri.Scheme, _endpoint.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(uri.Host, _endpoint.Host, StringComparison.OrdinalIgnoreCase)
        && uri.Port == _endpoint.Port;

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string repoId, string fileName, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            return await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw NetworkError(new TimeoutException($"no answer within {Timeout.TotalSeconds:0.#} s", e), repoId, fileName);
        }
        catch (HttpRequestException e)
        {
            throw NetworkError(e, repoId, fileName);
        }
    }
}
