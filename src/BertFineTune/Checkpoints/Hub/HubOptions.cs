namespace BertFineTune.Checkpoints.Hub;

/// <summary>
/// How <see cref="HubModelResolver"/> reaches the Hugging Face Hub and where it caches models. A property left
/// <see langword="null"/> takes the value of the environment variable huggingface_hub reads for it, so .NET and Python
/// share one cache, one token and one offline switch.
/// </summary>
public sealed record HubOptions
{
    /// <summary>
    /// Ask the Hub which commit a branch or tag points to even when the cache already holds a complete snapshot of it.
    /// Off by default (offline-first: a cached revision is used without any request); a commit-hash revision never asks.
    /// </summary>
    public bool CheckForUpdates { get; init; }

    /// <summary>The default endpoint when neither <see cref="Endpoint"/> nor <c>HF_ENDPOINT</c> is set.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>Branch, tag or 40-hex commit to resolve (default <c>main</c>). A commit already in the cache is used without any request.</summary>
    public string Revision { get; init; } = "main";

    /// <summary>The Hub's base address; <see langword="null"/>: <c>HF_ENDPOINT</c>, else <see cref="DefaultEndpoint"/>.</summary>
    public string? Endpoint { get; init; }

    /// <summary>
    /// Access token sent as <c>Authorization: Bearer</c> for private and gated models; <see langword="null"/>: <c>HF_TOKEN</c>,
    /// else <c>HUGGING_FACE_HUB_TOKEN</c>, else the token file <c>huggingface-cli login</c> writes (<c>HF_TOKEN_PATH</c> or
    /// <c>HF_HOME/token</c>). An empty string sends no token.
    /// </summary>
    public string? Token { get; init; }

    /// <summary>Never touch the network, use the cache only; <see langword="null"/>: <c>HF_HUB_OFFLINE</c> (<c>1</c>, <c>true</c>, <c>yes</c>, <c>on</c>).</summary>
    public bool? Offline { get; init; }

    /// <summary>
    /// The cache root (the folder holding <c>models--org--name</c>); <see langword="null"/>: <c>HF_HUB_CACHE</c>, else
    /// <c>HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c> (as huggingface_hub).
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>How long to wait for another process downloading the same file (default 10 minutes).</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long one request may wait for response headers, and a download for its next bytes (default 30 seconds).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times a download that broke off (connection dropped or stalled) is resumed within one call (default 5).</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>Links snapshot files to blobs (as huggingface_hub); off copies them. Tests use it; links fall back to copies on their own.</summary>
    internal bool UseSymbolicLinks { get; init; } = true;

    /// <summary>Pause before resuming after a broken download, multiplied by the attempt number.</summary>
    internal TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);
}

/// <summary>The environment <see cref="HubOptions"/> fall back to: variables and the home folder, replaceable in tests.</summary>
internal sealed class HubEnvironment
{
    public HubEnvironment(Func<string, string?> variable, string homeDirectory)
    {
        Variable = variable;
        HomeDirectory = homeDirectory;
    }

    /// <summary>The process environment.</summary>
    public static HubEnvironment Process { get; } =
        new(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    public Func<string, string?> Variable { get; }

    public string HomeDirectory { get; }

    private string? Get(string name) => Variable(name) is { Length: > 0 } value ? value : null;

    /// <summary>HF_HOME, else XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.</summary>
    public string HfHome =>
        Expand(Get("HF_HOME") ?? Path.Combine(Get("XDG_CACHE_HOME") ?? Path.Combine(HomeDirectory, ".cache"), "huggingface"));

    /// <summary>Fills every unset option from the environment.</summary>
    public ResolvedHubSettings Resolve(HubOptions options)
    {
        var cache = options.CacheDirectory ?? Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(HfHome, "hub");
        var endpoint = (options.Endpoint ?? Get("HF_ENDPOINT") ?? HubOptions.DefaultEndpoint).TrimEnd('/');
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var endpointUri) || (endpointUri.Scheme != Uri.UriSchemeHttp && endpointUri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"The Hub endpoint '{endpoint}' is not an http(s) address; set HubOptions.Endpoint or HF_ENDPOINT to one such as {HubOptions.DefaultEndpoint}.", nameof(options));
        }
        var offline = options.Offline ?? IsTrue(Get("HF_HUB_OFFLINE"));
        var token = options.Token ?? Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN") ?? ReadTokenFile();
        return new ResolvedHubSettings(Path.GetFullPath(Expand(cache)), endpoint, string.IsNullOrWhiteSpace(token) ? null : token.Trim(), offline);
    }

    private string? ReadTokenFile()
    {
        var path = Expand(Get("HF_TOKEN_PATH") ?? Path.Combine(HfHome, "token"));
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private string Expand(string path) =>
        path == "~" ? HomeDirectory
        : path.StartsWith("~/", StringComparison.Ordinal) || path.StartsWith("~\\", StringComparison.Ordinal) ? Path.Combine(HomeDirectory, path[2..])
        : path;

    private static bool IsTrue(string? value) =>
        value is not null && value.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";
}

/// <summary>Options with every environment fallback applied.</summary>
internal sealed record ResolvedHubSettings(string CacheDirectory, string Endpoint, string? Token, bool Offline);
