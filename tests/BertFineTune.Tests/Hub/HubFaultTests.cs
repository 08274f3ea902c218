using System.Net;
using System.Net.Sockets;
using System.Text;
using BertFineTune.Checkpoints.Hub;

namespace BertFineTune.Tests.Hub;

public class HubFaultTests
{
    private const string Weights = "model.safetensors";

    [Fact]
    public void A_connection_dropped_half_way_is_resumed_with_a_range_request_in_the_same_call()
    {
        using var hub = new HubTestContext();
        hub.Server.DropAfter[Weights] = (400_000, 1);

        var folder = hub.Resolve();

        Assert.Equal(hub.Repo.Files[Weights], File.ReadAllBytes(Path.Combine(folder, Weights)));
        var gets = hub.Server.Snapshot().Where(r => r.Method == "GET" && r.Path.StartsWith("/lfs/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, gets.Count);
        Assert.Null(gets[0].Range);
        Assert.Matches(@"^bytes=[1-9]\d*-$", gets[1].Range);
    }

    [Fact]
    public void A_download_broken_off_is_kept_as_incomplete_and_resumed_by_the_next_call()
    {
        using var hub = new HubTestContext();
        hub.Server.DropAfter[Weights] = (400_000, 1);

        var error = Assert.Throws<HubException>(() => hub.Resolve(hub.Options with { MaxRetries = 0 }));

        Assert.Equal(HubErrorKind.Network, error.Kind);
        Assert.Equal(Weights, error.FileName);
        Assert.Contains("resumed by the next call", error.Message, StringComparison.Ordinal);
        var incomplete = hub.Blob(Weights) + ".incomplete";
        long kept = new FileInfo(incomplete).Length;
        Assert.InRange(kept, 1, 400_000);
        Assert.False(File.Exists(hub.Blob(Weights)));

        // A new resolver, as after a process restart.
        var folder = hub.Resolve();

        Assert.Equal(hub.Repo.Files[Weights], File.ReadAllBytes(Path.Combine(folder, Weights)));
        var last = hub.Server.Snapshot().Last(r => r.Method == "GET" && r.Path.StartsWith("/lfs/", StringComparison.Ordinal));
        Assert.Equal($"bytes={kept}-", last.Range);
        Assert.False(File.Exists(incomplete));
    }

    [Fact]
    public void A_server_answering_200_to_a_range_request_restarts_the_file()
    {
        using var hub = new HubTestContext();
        hub.Server.IgnoreRange = true;
        Directory.CreateDirectory(Path.GetDirectoryName(hub.Blob(Weights))!);
        File.WriteAllBytes(hub.Blob(Weights) + ".incomplete", Enumerable.Repeat((byte)0xEE, 1000).ToArray());

        var folder = hub.Resolve();

        Assert.Equal(hub.Repo.Files[Weights], File.ReadAllBytes(Path.Combine(folder, Weights)));
        Assert.Contains(hub.Server.Snapshot(), r => r.Path.StartsWith("/lfs/", StringComparison.Ordinal) && r.Range == "bytes=1000-");
    }

    [Fact]
    public void Content_that_does_not_match_its_sha256_is_rejected_and_not_kept()
    {
        using var hub = new HubTestContext();
        hub.Server.Corrupt[Weights] = true;

        var error = Assert.Throws<HubException>(() => hub.Resolve());

        Assert.Equal(HubErrorKind.HashMismatch, error.Kind);
        Assert.Equal(Weights, error.FileName);
        Assert.Contains(hub.Repo.Etag(Weights), error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(hub.Blob(Weights)));
        Assert.False(File.Exists(hub.Blob(Weights) + ".incomplete"));
        Assert.False(File.Exists(Path.Combine(hub.RepoFolder, "snapshots", hub.Repo.Commit, Weights)));

        hub.Server.Corrupt.Clear();
        Assert.Equal(hub.Repo.Files[Weights], File.ReadAllBytes(Path.Combine(hub.Resolve(), Weights)));
    }

    [Fact]
    public void An_unknown_repository_says_so_and_how_to_reach_a_private_one()
    {
        using var hub = new HubTestContext();
        using var resolver = new HubModelResolver(hub.Options);

        var error = Assert.Throws<HubException>(() => resolver.Resolve("test-org/no-such-model"));

        Assert.Equal(HubErrorKind.RepositoryNotFound, error.Kind);
        Assert.Equal("test-org/no-such-model", error.RepoId);
        Assert.Equal(401, error.StatusCode);
        Assert.Contains("HF_TOKEN", error.Message, StringComparison.Ordinal);
        Assert.Contains("No local folder", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(hub.Cache.Path, "models--test-org--no-such-model", "snapshots")));
    }

    [Fact]
    public void An_unknown_revision_says_so()
    {
        using var hub = new HubTestContext();

        var error = Assert.Throws<HubException>(() => hub.Resolve(hub.Options with { Revision = "v9.9" }));

        Assert.Equal(HubErrorKind.RevisionNotFound, error.Kind);
        Assert.Equal(404, error.StatusCode);
        Assert.Contains("v9.9", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gated_repository_without_a_token_asks_for_HF_TOKEN()
    {
        using var hub = new HubTestContext();
        hub.Repo.RequiredToken = "hf_secret";

        var error = Assert.Throws<HubException>(() => hub.Resolve());

        Assert.Equal(HubErrorKind.Unauthorized, error.Kind);
        Assert.Equal(401, error.StatusCode);
        Assert.Equal("config.json", error.FileName);
        Assert.Contains("HF_TOKEN", error.Message, StringComparison.Ordinal);
        Assert.Contains("gated", error.Message, StringComparison.Ordinal);

        var wrong = Assert.Throws<HubException>(() => hub.Resolve(hub.Options with { Token = "hf_wrong" }));
        Assert.Contains("does not grant access", wrong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_forbidden_file_is_unauthorized()
    {
        using var hub = new HubTestContext();
        hub.Server.FailWith[Weights] = 403;

        var error = Assert.Throws<HubException>(() => hub.Resolve());

        Assert.Equal(HubErrorKind.Unauthorized, error.Kind);
        Assert.Equal(403, error.StatusCode);
        Assert.Contains("HF_TOKEN", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_repository_without_config_json_is_an_entry_not_found()
    {
        using var hub = new HubTestContext();
        hub.Repo.Files.Remove("config.json");

        var error = Assert.Throws<HubException>(() => hub.Resolve());

        Assert.Equal(HubErrorKind.EntryNotFound, error.Kind);
        Assert.Equal("config.json", error.FileName);
    }

    [Fact]
    public void A_repository_without_any_weights_is_an_entry_not_found()
    {
        using var hub = new HubTestContext();
        hub.Repo.Files.Remove(Weights);

        var error = Assert.Throws<HubException>(() => hub.Resolve());

        Assert.Equal(HubErrorKind.EntryNotFound, error.Kind);
        Assert.Contains("model.safetensors.index.json", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_repository_with_only_pytorch_model_bin_is_refused_with_how_to_convert_it()
    {
        using var hub = new HubTestContext();
        hub.Repo.Files["pytorch_model.bin"] = hub.Repo.Files[Weights];
        hub.Repo.Files.Remove(Weights);

        var error = Assert.Throws<HubException>(() => hub.Resolve());

        Assert.Equal(HubErrorKind.UnsupportedFormat, error.Kind);
        Assert.Contains("safetensors only", error.Message, StringComparison.Ordinal);
        Assert.Contains("safe_serialization=True", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(hub.Server.Snapshot(), r => r.Method == "GET" && r.Path.Contains("pytorch_model.bin", StringComparison.Ordinal));
    }

    [Fact]
    public void A_server_error_is_reported_with_its_status_when_nothing_is_cached()
    {
        using var hub = new HubTestContext();
        hub.Server.FailWith[Weights] = 500;

        var error = Assert.Throws<HubException>(() => hub.Resolve());

        Assert.Equal(HubErrorKind.ServerError, error.Kind);
        Assert.Equal(500, error.StatusCode);
        Assert.Equal(Weights, error.FileName);
        Assert.Contains("Retry later", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void When_the_hub_fails_a_complete_cached_snapshot_is_used()
    {
        using var hub = new HubTestContext();
        var folder = hub.Resolve();
        hub.Server.FailWith["config.json"] = 503;

        Assert.Equal(folder, hub.Resolve());
    }

    [Fact]
    public void An_unreachable_hub_is_a_network_error_naming_HF_HUB_OFFLINE()
    {
        using var hub = new HubTestContext();
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        int port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();

        var error = Assert.Throws<HubException>(() => hub.Resolve(hub.Options with { Endpoint = $"http://127.0.0.1:{port}" }));

        Assert.Equal(HubErrorKind.Network, error.Kind);
        Assert.Contains("HF_HUB_OFFLINE", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Offline_a_model_not_in_the_cache_is_a_clear_error_without_any_request()
    {
        using var hub = new HubTestContext();

        var error = Assert.Throws<HubException>(() => hub.Resolve(hub.Options with { Offline = true }));

        Assert.Equal(HubErrorKind.NotCached, error.Kind);
        Assert.Contains("HF_HUB_OFFLINE", error.Message, StringComparison.Ordinal);
        Assert.Contains(hub.Cache.Path, error.Message, StringComparison.Ordinal);
        Assert.Empty(hub.Server.Requests);
    }

    [Fact]
    public void A_slow_download_cancelled_keeps_its_part_and_the_next_call_resumes_it()
    {
        using var hub = new HubTestContext();
        hub.Server.Slow = (8 * 1024, TimeSpan.FromMilliseconds(20));
        using var cancel = new CancellationTokenSource();
        var progress = new RecordingProgress(p =>
        {
            if (p.FileName == Weights && p.BytesDone >= 64 * 1024)
            {
                cancel.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() => hub.Resolve(progress: progress, cancellationToken: cancel.Token));

        var incomplete = hub.Blob(Weights) + ".incomplete";
        long kept = new FileInfo(incomplete).Length;
        Assert.InRange(kept, 64 * 1024, hub.Repo.Files[Weights].Length - 1);
        Assert.False(File.Exists(hub.Blob(Weights)));

        hub.Server.Slow = null;
        var folder = hub.Resolve();

        Assert.Equal(hub.Repo.Files[Weights], File.ReadAllBytes(Path.Combine(folder, Weights)));
        var last = hub.Server.Snapshot().Last(r => r.Method == "GET" && r.Path.StartsWith("/lfs/", StringComparison.Ordinal));
        Assert.Equal($"bytes={kept}-", last.Range);
    }

    [Fact]
    public void A_stalled_download_times_out_and_is_resumed()
    {
        using var hub = new HubTestContext();
        hub.Server.Slow = (256 * 1024, TimeSpan.FromSeconds(3));

        var error = Assert.Throws<HubException>(() => hub.Resolve(hub.Options with { Timeout = TimeSpan.FromMilliseconds(500), MaxRetries = 0 }));

        Assert.Equal(HubErrorKind.Network, error.Kind);
        Assert.IsType<TimeoutException>(error.InnerException);
        hub.Server.Slow = null;
        Assert.Equal(hub.Repo.Files[Weights], File.ReadAllBytes(Path.Combine(hub.Resolve(), Weights)));
        Assert.Contains(hub.Server.Snapshot(), r => r.Path.StartsWith("/lfs/", StringComparison.Ordinal) && r.Range == "bytes=262144-");
    }

    [Fact]
    public void An_etag_that_would_leave_the_blobs_folder_is_refused()
    {
        using var hub = new HubTestContext();
        hub.Server.EtagOverride["config.json"] = "../../../escaped";

        var error = Assert.Throws<HubException>(() => hub.Resolve());

        Assert.Equal(HubErrorKind.UnsafePath, error.Kind);
        Assert.False(File.Exists(Path.Combine(hub.Cache.Path, "escaped")));
        Assert.False(File.Exists(Path.Combine(hub.RepoFolder, "escaped")));
    }

    [Fact]
    public void A_shard_name_that_would_leave_the_snapshot_is_refused()
    {
        using var hub = new HubTestContext();
        hub.Repo.Files.Remove(Weights);
        hub.Repo.Files["model.safetensors.index.json"] = Encoding.UTF8.GetBytes("""{"weight_map": {"a": "../escape.safetensors", "b": "/etc/passwd"}}""");
        hub.Repo.Files["../escape.safetensors"] = [1, 2, 3];

        var error = Assert.Throws<HubException>(() => hub.Resolve());

        Assert.Equal(HubErrorKind.UnsafePath, error.Kind);
        Assert.DoesNotContain(hub.Server.Snapshot(), r => r.Path.Contains("escape", StringComparison.Ordinal));
        Assert.False(File.Exists(Path.Combine(hub.RepoFolder, "snapshots", "escape.safetensors")));
    }

    [Theory]
    [InlineData("""{"weight_map": ["a"]}""", "no 'weight_map' object")]
    [InlineData("""{"weight_map": {"a": 1}}""", "must be a shard file name")]
    [InlineData("not json", "not valid JSON")]
    public void A_malformed_shard_index_is_an_invalid_response_naming_the_rule(string index, string rule)
    {
        // The index is read by the same SafeTensorsIndex the local loader uses, so the same rules refuse it.
        using var hub = new HubTestContext();
        hub.Repo.Files.Remove(Weights);
        hub.Repo.Files["model.safetensors.index.json"] = Encoding.UTF8.GetBytes(index);

        var error = Assert.Throws<HubException>(() => hub.Resolve());

        Assert.Equal(HubErrorKind.InvalidResponse, error.Kind);
        Assert.Equal("model.safetensors.index.json", error.FileName);
        Assert.Contains(rule, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_download_lock_held_by_another_process_is_waited_for_then_timed_out()
    {
        using var hub = new HubTestContext();
        Directory.CreateDirectory(Path.Combine(hub.RepoFolder, "blobs"));
        using (new FileStream(hub.Blob(Weights) + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var error = Assert.Throws<HubException>(() => hub.Resolve(hub.Options with { LockTimeout = TimeSpan.FromMilliseconds(300) }));

            Assert.Equal(HubErrorKind.LockTimeout, error.Kind);
            Assert.Equal(Weights, error.FileName);
            Assert.DoesNotContain(hub.Server.Snapshot(), r => r.Path.StartsWith("/lfs/", StringComparison.Ordinal));
        }

        // huggingface_hub's own lock (.locks/models--org--name/<etag>.lock) is honoured as well.
        var pythonLock = Path.Combine(hub.Cache.Path, ".locks", "models--test-org--tiny-bert", hub.Repo.Etag(Weights) + ".lock");
        Directory.CreateDirectory(Path.GetDirectoryName(pythonLock)!);
        using (new FileStream(pythonLock, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var error = Assert.Throws<HubException>(() => hub.Resolve(hub.Options with { LockTimeout = TimeSpan.FromMilliseconds(300) }));
            Assert.Equal(HubErrorKind.LockTimeout, error.Kind);
        }

        Assert.True(File.Exists(Path.Combine(hub.Resolve(), Weights)));
    }

    [Fact]
    public void A_full_disk_is_recognised_and_explained()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists("/dev/full"))
        {
            return;
        }
        IOException? full = null;
        try
        {
            using var stream = new FileStream("/dev/full", FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            stream.Write(new byte[4096]);
        }
        catch (IOException e)
        {
            full = e;
        }

        Assert.NotNull(full);
        Assert.True(BlobDownloader.IsDiskFull(full));
        Assert.False(BlobDownloader.IsDiskFull(new IOException("other")));
        var error = BlobDownloader.DiskFull(full, new HubCache("/tmp/cache", "org/name", true), Weights);
        Assert.Equal(HubErrorKind.DiskFull, error.Kind);
        Assert.Contains("HF_HUB_CACHE", error.Message, StringComparison.Ordinal);
    }
}
