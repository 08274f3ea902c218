using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;

namespace BertFineTune.Checkpoints.Hub;

/// <summary>
/// Downloads one blob into <c>blobs/&lt;etag&gt;</c>: under a per-blob lock file, through <c>&lt;etag&gt;.incomplete</c> resumed
/// with <c>Range</c>, checked against the announced size and SHA-256, and renamed into place.
/// </summary>
internal sealed class BlobDownloader
{
    private const int BufferSize = 1 << 16;
    private readonly HubHttp _http;
    private readonly HubOptions _options;

    public BlobDownloader(HubHttp http, HubOptions options)
    {
        _http = http;
        _options = options;
    }

    /// <summary>Makes sure the blob of <paramref name="metadata"/> is complete in the cache and returns its path.</summary>
    public async Task<string> EnsureAsync(HubCache cache, HubFileMetadata metadata, string fileName, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        var blob = cache.BlobPath(metadata.Etag, fileName);
        if (File.Exists(blob))
        {
            return blob;
        }
        var pythonLock = cache.PythonLockPath(metadata.Etag, fileName);
        try
        {
            Directory.CreateDirectory(cache.BlobsFolder);
            Directory.CreateDirectory(Path.GetDirectoryName(pythonLock)!);
        }
        catch (IOException e) when (IsDiskFull(e))
        {
            throw DiskFull(e, cache, fileName);
        }
        // blobs/<etag>.lock serialises processes of this library; huggingface_hub's own lock keeps Python out meanwhile.
        using (await AcquireLockAsync(blob + ".lock", cache, fileName, cancellationToken).ConfigureAwait(false))
        using (await AcquireLockAsync(pythonLock, cache, fileName, cancellationToken).ConfigureAwait(false))
        {
            if (!File.Exists(blob))
            {
                await DownloadAsync(blob, cache, metadata, fileName, progress, cancellationToken).ConfigureAwait(false);
            }
        }
        return blob;
    }

    /// <summary>Whether <paramref name="e"/> reports a full disk or an exhausted quota (ENOSPC/EDQUOT, ERROR_DISK_FULL/ERROR_HANDLE_DISK_FULL).</summary>
    internal static bool IsDiskFull(IOException e) =>
        OperatingSystem.IsWindows()
            ? e.HResult is unchecked((int)0x80070070) or unchecked((int)0x80070027)
            : e.HResult == 28 || e.HResult == (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD() ? 69 : 122);

    internal static HubException DiskFull(IOException e, HubCache cache, string fileName) =>
        new(HubErrorKind.DiskFull, cache.RepoId, fileName, null,
            $"The disk is full while writing {cache.RepoId}/{fileName} into {cache.RepoFolder}. Free space there, or point HF_HUB_CACHE "
            + "(HubOptions.CacheDirectory) at a disk with room; the part already downloaded is kept and resumed.", e);

    private async Task<FileStream> AcquireLockAsync(string path, HubCache cache, string fileName, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            IOException failure;
            try
            {
                // FileShare.None takes an exclusive lock (flock on Unix) that the OS releases if the process dies.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e) when (IsDiskFull(e))
            {
                throw DiskFull(e, cache, fileName);
            }
            catch (IOException e)
            {
                failure = e;
            }
            var left = _options.LockTimeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
            {
                throw new HubException(HubErrorKind.LockTimeout, cache.RepoId, fileName, null,
                    $"Another process has been downloading {cache.RepoId}/{fileName} for over {_options.LockTimeout} (it holds {path}). "
                    + "Wait for it to finish or stop it (the lock is released when it exits), or raise HubOptions.LockTimeout.", failure);
            }
            await Task.Delay(left < TimeSpan.FromMilliseconds(100) ? left : TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task DownloadAsync(string blob, HubCache cache, HubFileMetadata metadata, string fileName, IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        var incomplete = blob + ".incomplete";
        var size = metadata.Size;
        for (int attempt = 0; ; attempt++)
        {
            long offset = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
            if (size is { } total && offset > total)
            {
                File.Delete(incomplete);
                offset = 0;
            }
            if (size is { } complete && offset == complete && offset > 0)
            {
                break;
            }
            HubException? failure = null;
            try
            {
                if (await ReceiveAsync(incomplete, offset, cache, metadata, fileName, progress, cancellationToken).ConfigureAwait(false))
                {
                    break;
                }
            }
            catch (HubException e) when (e.Kind == HubErrorKind.Network)
            {
                // The connection dropped or stalled: resume from what is on disk.
                failure = e;
            }
            if (attempt >= _options.MaxRetries)
            {
                long kept = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
                var cause = failure?.InnerException?.Message ?? "the server's answer did not fit the part on disk";
                throw new HubException(HubErrorKind.Network, cache.RepoId, fileName, null,
                    $"The download of {cache.RepoId}/{fileName} broke off ({cause}){(attempt > 0 ? $", {attempt + 1} attempts in all" : string.Empty)}. "
                    + $"The {kept} bytes received are kept in {incomplete} and resumed by the next call. Check the network, or set "
                    + "HF_HUB_OFFLINE=1 (HubOptions.Offline) to use only cached models.", failure?.InnerException ?? failure);
            }
            await Task.Delay(_options.RetryDelay * (attempt + 1), cancellationToken).ConfigureAwait(false);
        }
        Verify(incomplete, cache, metadata, fileName);
        File.Move(incomplete, blob, overwrite: true);
    }

    /// <summary>One GET from <paramref name="offset"/>; true when the body was received whole.</summary>
    private async Task<bool> ReceiveAsync(string incomplete, long offset, HubCache cache, HubFileMetadata metadata, string fileName,
        IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(metadata.DownloadUri, offset, cache.RepoId, fileName, cancellationToken).ConfigureAwait(false);
        var status = response.StatusCode;
        if (status == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // What is on disk does not fit the file on the server: start over.
            File.Delete(incomplete);
            return false;
        }
        if (!response.IsSuccessStatusCode)
        {
            throw _http.Error(response, cache.RepoId, metadata.Commit, fileName);
        }
        bool append = offset > 0 && status == HttpStatusCode.PartialContent;
        if (append && response.Content.Headers.ContentRange is { From: { } from } && from != offset)
        {
            File.Delete(incomplete);
            return false;
        }
        if (!append)
        {
            offset = 0; // 200 to a Range request: the server sends the whole file, so the part on disk is replaced.
        }
        progress?.Report(new DownloadProgress(fileName, offset, metadata.Size));

        using var readTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Stream body;
        try
        {
            readTimeout.CancelAfter(_http.Timeout);
            body = await response.Content.ReadAsStreamAsync(readTimeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            throw _http.NetworkError(e, cache.RepoId, fileName);
        }
        await using var _ = body.ConfigureAwait(false);
        FileStream file;
        try
        {
            file = new FileStream(incomplete, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0, useAsync: true);
        }
        catch (IOException e) when (IsDiskFull(e))
        {
            throw DiskFull(e, cache, fileName);
        }
        await using (file.ConfigureAwait(false))
        {
            var buffer = new byte[BufferSize];
            long done = offset;
            while (true)
            {
                int read;
                try
                {
                    readTimeout.CancelAfter(_http.Timeout);
                    read = await body.ReadAsync(buffer, readTimeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
                {
                    throw _http.NetworkError(new TimeoutException($"no bytes within {_http.Timeout.TotalSeconds:0.#} s", e), cache.RepoId, fileName);
                }
                catch (Exception e) when (e is IOException or HttpRequestException)
                {
                    throw _http.NetworkError(e, cache.RepoId, fileName);
                }
                if (read == 0)
                {
                    break;
                }
                try
                {
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
                catch (IOException e) when (IsDiskFull(e))
                {
                    throw DiskFull(e, cache, fileName);
                }
                done += read;
                progress?.Report(new DownloadProgress(fileName, done, metadata.Size));
            }
            try
            {
                file.Flush(flushToDisk: true);
            }
            catch (IOException e) when (IsDiskFull(e))
            {
                throw DiskFull(e, cache, fileName);
            }
            // A body that ended cleanly but short (the server closed early) is resumed like a dropped connection.
            return metadata.Size is not { } expected || done >= expected
                ? true
                : throw _http.NetworkError(new IOException($"the body ended after {done} of {expected} bytes"), cache.RepoId, fileName);
        }
    }

    private static void Verify(string incomplete, HubCache cache, HubFileMetadata metadata, string fileName)
    {
        var length = new FileInfo(incomplete).Length;
        if (metadata.Size is { } size && length != size)
        {
            File.Delete(incomplete);
            throw new HubException(HubErrorKind.SizeMismatch, cache.RepoId, fileName, null,
                $"{cache.RepoId}/{fileName} arrived with {length} bytes but the Hub announced {size}; the file was deleted. Retry; "
                + "if it persists, a proxy or mirror (HF_ENDPOINT) is altering downloads.");
        }
        if (HubCache.IsSha256(metadata.Etag))
        {
            string actual;
            using (var stream = new FileStream(incomplete, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize))
            {
                actual = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
            }
            if (!string.Equals(actual, metadata.Etag, StringComparison.OrdinalIgnoreCase))
            {
                File.Delete(incomplete);
                throw new HubException(HubErrorKind.HashMismatch, cache.RepoId, fileName, null,
                    $"{cache.RepoId}/{fileName} does not match its SHA-256: expected {metadata.Etag.ToLowerInvariant()}, got {actual}. The corrupt "
                    + "download was deleted; retry. If it persists, a proxy or mirror (HF_ENDPOINT) is altering downloads.");
            }
        }
    }
}
