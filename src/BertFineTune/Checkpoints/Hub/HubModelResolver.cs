namespace BertFineTune.Checkpoints.Hub;

/// <summary>
/// Turns a model reference into a local folder: an existing folder is returned as is; a Hugging Face Hub id
/// (<c>org/name</c> or <c>name</c>) at <see cref="HubOptions.Revision"/> is found in the cache huggingface_hub uses
/// (shared with Python) or downloaded into it. Offline mode reads the cache only; a revision that is a commit hash already
/// in the cache needs no request at all.
/// </summary>
/// <remarks>
/// Files fetched: <c>config.json</c> (required); <c>model.safetensors</c>, else <c>model.safetensors.index.json</c> and its
/// shards; <c>tokenizer.json</c>, <c>tokenizer_config.json</c>, <c>vocab.txt</c> and <c>special_tokens_map.json</c> when the
/// repository has them (an absent one is remembered under <c>.no_exist</c> and not asked for again). Downloads resume
/// after a dropped connection, a cancellation or a process restart, are checked against the Hub's SHA-256, and are
/// serialised across processes by a lock file per blob. An instance is safe to use from several threads.
/// </remarks>
/// <example>
/// <code>
/// using var resolver = new HubModelResolver(new HubOptions { Revision = "main" });
/// string folder = await resolver.ResolveAsync("google-bert/bert-base-uncased");
/// </code>
/// </example>
public sealed class HubModelResolver : IDisposable
{
    private readonly HubOptions _options;
    private readonly ResolvedHubSettings _settings;
    private readonly HubHttp _http;
    private readonly BlobDownloader _downloader;

    /// <summary>Creates a resolver; options left unset come from the environment variables huggingface_hub reads.</summary>
    /// <exception cref="ArgumentException">The endpoint is not an http(s) address, or a numeric option is out of range.</exception>
    public HubModelResolver(HubOptions? options = null)
        : this(options ?? new HubOptions(), HubEnvironment.Process)
    {
    }

    internal HubModelResolver(HubOptions options, HubEnvironment environment)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Revision, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxRetries, nameof(options));
        if (options.Timeout <= TimeSpan.Zero || options.LockTimeout < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "HubOptions.Timeout must be positive and LockTimeout not negative.");
        }
        _options = options;
        _settings = environment.Resolve(options);
        _http = new HubHttp(_settings, options.Timeout);
        _downloader = new BlobDownloader(_http, options);
    }

    /// <summary>The cache root in use (the folder holding <c>models--org--name</c>).</summary>
    public string CacheDirectory => _settings.CacheDirectory;

    /// <summary>The Hub endpoint in use.</summary>
    public string Endpoint => _settings.Endpoint;

    /// <summary>Whether this resolver only reads the cache.</summary>
    public bool IsOffline => _settings.Offline;

    /// <summary>Whether <paramref name="reference"/> has the shape of a Hub repository id (<c>org/name</c> or <c>name</c>; letters, digits, '-', '_', '.').</summary>
    public static bool IsHubId(string reference) => reference is not null && HubCache.IsValidRepoId(reference);

    /// <summary>
    /// Returns the folder of <paramref name="reference"/>: the folder itself when it exists, else the cache snapshot of the
    /// Hub model (downloaded first unless it is there or offline mode is on).
    /// </summary>
    /// <param name="reference">A local folder, or a Hub id such as <c>google-bert/bert-base-uncased</c>.</param>
    /// <param name="progress">Told about each file download (not about cache hits).</param>
    /// <param name="cancellationToken">Stops the download; the part received stays as <c>.incomplete</c> and a later call resumes it.</param>
    /// <exception cref="DirectoryNotFoundException"><paramref name="reference"/> is neither an existing folder nor a Hub id.</exception>
    /// <exception cref="HubException">The model cannot be found, reached, downloaded or verified; the message says what to do.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<string> ResolveAsync(string reference, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reference);
        if (Directory.Exists(reference))
        {
            return Path.GetFullPath(reference);
        }
        if (!IsHubId(reference))
        {
            throw new DirectoryNotFoundException(
                $"'{reference}' is neither an existing folder nor a Hugging Face Hub id (org/name). Give a folder with config.json and "
                + "model.safetensors, or a Hub model id.");
        }
        return await FromHubAsync(reference, progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Returns the cache snapshot folder of the Hub model <paramref name="repoId"/>, downloading what is missing (as
    /// <c>huggingface-cli download</c>); unlike <see cref="Resolve"/>, a local folder of that name is never used.
    /// </summary>
    /// <param name="repoId">A Hub id such as <c>google-bert/bert-base-uncased</c>.</param>
    /// <param name="progress">Told about each file download (not about cache hits).</param>
    /// <param name="cancellationToken">Stops the download; the part received stays as <c>.incomplete</c> and a later call resumes it.</param>
    /// <exception cref="ArgumentException"><paramref name="repoId"/> is not a Hub id by huggingface_hub's <c>validate_repo_id</c> rules
    /// (at most one '/', letters, digits, '-', '_', '.', no "--" or "..", a name of at most 96 characters); the message says which.</exception>
    /// <exception cref="HubException">The model cannot be found, reached, downloaded or verified; the message says what to do.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public string Download(string repoId, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(repoId);
        if (HubCache.RepoIdProblem(repoId) is { } problem)
        {
            throw new ArgumentException($"'{repoId}' is not a Hugging Face Hub id: {problem} Give an id such as google-bert/bert-base-uncased.", nameof(repoId));
        }
        return Task.Run(() => FromHubAsync(repoId, progress, cancellationToken), cancellationToken).GetAwaiter().GetResult();
    }

    private async Task<string> FromHubAsync(string reference, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        var cache = new HubCache(_settings.CacheDirectory, reference, _options.UseSymbolicLinks);
        var revision = _options.Revision;
        try
        {
            if (_settings.Offline)
            {
                return FromCache(cache, revision, "offline mode is on (HF_HUB_OFFLINE or HubOptions.Offline)");
            }
            // Offline-first: a complete snapshot of the revision answers without any request unless updates are wanted.
            if (!_options.CheckForUpdates && TryFromCache(cache, revision, "it is not cached", out var cachedFirst))
            {
                return cachedFirst;
            }
            try
            {
                return await DownloadAsync(cache, revision, progress, cancellationToken).ConfigureAwait(false);
            }
            catch (HubException e) when (e.Kind is HubErrorKind.Network or HubErrorKind.ServerError && TryFromCache(cache, revision, e.Message, out var cached))
            {
                // As huggingface_hub: when the Hub cannot be reached, a complete cached snapshot of the revision is used.
                return cached;
            }
        }
        catch (HubException e) when (e.Kind is HubErrorKind.RepositoryNotFound or HubErrorKind.NotCached)
        {
            throw new HubException(e.Kind, e.RepoId, e.FileName, e.StatusCode,
                $"{e.Message} (No local folder '{Path.GetFullPath(reference)}' exists either.)", e.InnerException);
        }
    }

    /// <summary>Synchronous <see cref="ResolveAsync"/>, for callers that cannot await (such as <c>BertModelBuilder.FromPretrained</c>).</summary>
    /// <inheritdoc cref="ResolveAsync" path="/param"/>
    /// <inheritdoc cref="ResolveAsync" path="/exception"/>
    public string Resolve(string reference, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => ResolveAsync(reference, progress, cancellationToken), cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    private async Task<string> DownloadAsync(HubCache cache, string revision, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        var session = new Session(this, cache, revision, progress, cancellationToken);
        await session.FetchAsync(BertConfig.FileName, required: true).ConfigureAwait(false);
        // The safetensors files are fetched as they are found; the pickle file is only asked about, never downloaded.
        var layout = await WeightsFiles.ChooseAsync(name => name == WeightsFiles.PickleWeightsName
            ? session.ExistsAsync(name)
            : session.FetchAsync(name, required: false)).ConfigureAwait(false);
        switch (layout)
        {
            case WeightsLayout.Sharded:
                foreach (var shard in ShardNames(cache, session.SnapshotFile(WeightsFiles.SafeWeightsIndexName)))
                {
                    await session.FetchAsync(shard, required: true).ConfigureAwait(false);
                }
                break;
            case WeightsLayout.PickleOnly:
                throw PickleOnly(cache, revision);
            case WeightsLayout.None:
                throw new HubException(HubErrorKind.EntryNotFound, cache.RepoId, WeightsFiles.SafeWeightsName, 404,
                    $"{cache.RepoId} at revision '{revision}' has no weights: neither {WeightsFiles.SafeWeightsName} nor "
                    + $"{WeightsFiles.SafeWeightsIndexName}. Check the repository id and revision.");
        }
        foreach (var file in TokenizerFiles.Names)
        {
            await session.FetchAsync(file, required: false).ConfigureAwait(false);
        }
        var commit = session.Commit!;
        cache.WriteRef(revision, commit);
        return cache.SnapshotFolder(commit);
    }

    private bool TryFromCache(HubCache cache, string revision, string why, out string folder)
    {
        try
        {
            folder = FromCache(cache, revision, why);
            return true;
        }
        catch (HubException e) when (e.Kind == HubErrorKind.NotCached)
        {
            folder = string.Empty;
            return false;
        }
    }

    /// <summary>The snapshot of <paramref name="revision"/> as the cache holds it, or <see cref="HubErrorKind.NotCached"/>.</summary>
    private string FromCache(HubCache cache, string revision, string why)
    {
        var commit = HubCache.IsCommitHash(revision) ? revision : cache.ReadRef(revision);
        HubException NotCached(string what) => new(HubErrorKind.NotCached, cache.RepoId, null, null,
            $"{cache.RepoId} at revision '{revision}' is not in the cache at {_settings.CacheDirectory} ({what}) and {why}. Download it "
            + "once with network access (unset HF_HUB_OFFLINE), or point HF_HUB_CACHE (HubOptions.CacheDirectory) at a cache that holds it.");
        if (commit is null)
        {
            throw NotCached($"no refs/{revision}");
        }
        var folder = cache.SnapshotFolder(commit);
        if (!HubCache.IsPresent(Path.Combine(folder, BertConfig.FileName)))
        {
            throw NotCached($"snapshot {commit} has no {BertConfig.FileName}");
        }
        switch (WeightsFiles.Choose(name => HubCache.IsPresent(Path.Combine(folder, name))))
        {
            case WeightsLayout.SingleFile:
                return folder;
            case WeightsLayout.Sharded:
                var index = Path.Combine(folder, WeightsFiles.SafeWeightsIndexName);
                var missing = ShardNames(cache, index).FirstOrDefault(s => !HubCache.IsPresent(Path.Combine(folder, s)));
                return missing is null ? folder : throw NotCached($"shard {missing} is missing");
            case WeightsLayout.PickleOnly:
                throw PickleOnly(cache, revision);
            default:
                throw NotCached($"snapshot {commit} has no {WeightsFiles.SafeWeightsName}");
        }
    }

    private static HubException PickleOnly(HubCache cache, string revision) =>
        new(HubErrorKind.UnsupportedFormat, cache.RepoId, WeightsFiles.PickleWeightsName, null,
            $"{cache.RepoId} at revision '{revision}' has its weights only as {WeightsFiles.PickleWeightsName}. {WeightsFiles.PickleConversionHint} "
            + $"Or pick a revision with {WeightsFiles.SafeWeightsName} (the Hub's conversion bot opens one as a pull request, refs/pr/N).");

    /// <summary>The shard file names the index at <paramref name="indexPath"/> lists, refused unless each is a plain file name beside it.</summary>
    private static IReadOnlyList<string> ShardNames(HubCache cache, string indexPath)
    {
        SafeTensorsIndex index;
        try
        {
            index = SafeTensorsIndex.Read(indexPath);
        }
        catch (SafeTensorsFormatException e)
        {
            throw new HubException(HubErrorKind.InvalidResponse, cache.RepoId, WeightsFiles.SafeWeightsIndexName, null,
                $"{cache.RepoId}/{WeightsFiles.SafeWeightsIndexName} is not a valid index: {e.Message}", e);
        }
        if (index.FirstNonPlainShardName is { } unsafeName)
        {
            throw new HubException(HubErrorKind.UnsafePath, cache.RepoId, unsafeName, null,
                $"{cache.RepoId}/{WeightsFiles.SafeWeightsIndexName} lists shard '{unsafeName}', which is not a plain file name beside the index: refusing to fetch it.");
        }
        return index.ShardNames;
    }

    /// <summary>One resolution: the commit the revision pinned to once the first HEAD answered, and the files fetched for it.</summary>
    private sealed class Session(HubModelResolver owner, HubCache cache, string revision, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        public string? Commit { get; private set; } = HubCache.IsCommitHash(revision) ? revision : null;

        public string SnapshotFile(string fileName) => cache.SnapshotFile(Commit!, fileName);

        /// <summary>Brings <paramref name="fileName"/> into the snapshot; false when an optional file does not exist.</summary>
        public async Task<bool> FetchAsync(string fileName, bool required)
        {
            if (Commit is not null)
            {
                if (HubCache.IsPresent(cache.SnapshotFile(Commit, fileName)))
                {
                    return true;
                }
                if (!required && File.Exists(cache.NoExistMarker(Commit, fileName)))
                {
                    return false;
                }
            }
            var uri = owner._http.ResolveUri(cache.RepoId, Commit ?? revision, fileName);
            var (metadata, missingCommit) = await owner._http.HeadAsync(uri, cache.RepoId, revision, fileName, cancellationToken).ConfigureAwait(false);
            if (metadata is null)
            {
                if (Commit is null && missingCommit is not null && HubCache.IsCommitHash(missingCommit))
                {
                    Commit = missingCommit;
                }
                if (required)
                {
                    throw new HubException(HubErrorKind.EntryNotFound, cache.RepoId, fileName, 404,
                        $"{cache.RepoId} has no {fileName} at revision '{revision}' on {owner._settings.Endpoint}. Check the repository id and "
                        + $"revision; a BERT model needs {BertConfig.FileName} and safetensors weights.");
                }
                if (Commit is not null)
                {
                    cache.MarkMissing(Commit, fileName);
                }
                return false;
            }
            Commit ??= metadata.Commit;
            if (HubCache.IsPresent(cache.SnapshotFile(Commit, fileName)))
            {
                return true;
            }
            var blob = await owner._downloader.EnsureAsync(cache, metadata, fileName, progress, cancellationToken).ConfigureAwait(false);
            cache.LinkIntoSnapshot(blob, Commit, fileName);
            return true;
        }

        /// <summary>Whether the repository has <paramref name="fileName"/> at the pinned commit, without downloading it.</summary>
        public async Task<bool> ExistsAsync(string fileName)
        {
            var uri = owner._http.ResolveUri(cache.RepoId, Commit ?? revision, fileName);
            var (metadata, _) = await owner._http.HeadAsync(uri, cache.RepoId, revision, fileName, cancellationToken).ConfigureAwait(false);
            return metadata is not null;
        }
    }
}
