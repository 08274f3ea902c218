using System.Text.Json;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Hub;

namespace BertFineTune.Tests.Hub;

public class HubDownloadTests
{
    [Fact]
    public void Download_lays_out_the_cache_as_huggingface_hub_does()
    {
        using var hub = new HubTestContext();
        var progress = new RecordingProgress();

        var folder = hub.Resolve(progress: progress);

        var commit = hub.Repo.Commit;
        Assert.Equal(Path.Combine(hub.RepoFolder, "snapshots", commit), folder);
        foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" })
        {
            var entry = new FileInfo(Path.Combine(folder, file));
            Assert.Equal($"../../blobs/{hub.Repo.Etag(file)}", entry.LinkTarget);
            Assert.Equal(hub.Repo.Files[file], File.ReadAllBytes(entry.FullName));
            Assert.True(File.Exists(hub.Blob(file)));
        }
        Assert.Equal(commit, File.ReadAllText(Path.Combine(hub.RepoFolder, "refs", "main")));
        Assert.Equal(0, new FileInfo(Path.Combine(hub.RepoFolder, ".no_exist", commit, "vocab.txt")).Length);
        Assert.True(File.Exists(Path.Combine(hub.RepoFolder, ".no_exist", commit, "special_tokens_map.json")));
        Assert.Empty(Directory.GetFiles(Path.Combine(hub.RepoFolder, "blobs"), "*.incomplete"));

        var requests = hub.Server.Snapshot();
        var sha = hub.Repo.Etag("model.safetensors");
        Assert.Contains(requests, r => r.Method == "GET" && r.Path == $"/lfs/{sha}");
        Assert.DoesNotContain(requests, r => r.Method == "HEAD" && r.Path.StartsWith("/lfs/", StringComparison.Ordinal));
        var size = hub.Repo.Files["model.safetensors"].Length;
        Assert.Contains(progress.Reports, p => p == new DownloadProgress("model.safetensors", size, size));
        Assert.All(progress.Reports, p => Assert.InRange(p.BytesDone, 0, p.BytesTotal!.Value));

        using var model = BertModelBuilder.FromPretrained(folder).Build();
        Assert.Equal(["negative", "neutral", "positive"], model.Labels);
        Assert.True(model.Model.LoadReport!.IsExactMatch);
    }

    [Fact]
    public void A_second_resolve_by_commit_hash_makes_no_request()
    {
        using var hub = new HubTestContext();
        var first = hub.Resolve();
        int before = hub.Server.Requests.Count;

        var second = hub.Resolve(hub.Options with { Revision = hub.Repo.Commit });

        Assert.Equal(first, second);
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    [Fact]
    public void A_second_resolve_on_a_branch_is_answered_from_the_cache_without_any_request()
    {
        using var hub = new HubTestContext();
        var first = hub.Resolve();
        int before = hub.Server.Requests.Count;

        var second = hub.Resolve();

        Assert.Equal(first, second);
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    [Fact]
    public void Checking_for_updates_on_a_branch_only_asks_for_the_commit_and_downloads_nothing()
    {
        using var hub = new HubTestContext();
        var first = hub.Resolve();
        int before = hub.Server.Requests.Count;

        var second = hub.Resolve(hub.Options with { CheckForUpdates = true });

        Assert.Equal(first, second);
        var added = hub.Server.Snapshot()[before..];
        var only = Assert.Single(added);
        Assert.Equal("HEAD", only.Method);
        Assert.EndsWith("/resolve/main/config.json", only.Path, StringComparison.Ordinal);
    }

    [Fact]
    public void Offline_a_downloaded_model_is_a_cache_hit_without_any_request()
    {
        using var hub = new HubTestContext();
        var first = hub.Resolve();
        int before = hub.Server.Requests.Count;

        var offline = hub.Resolve(hub.Options with { Offline = true });

        Assert.Equal(first, offline);
        Assert.Equal(before, hub.Server.Requests.Count);
    }

    [Fact]
    public void The_builder_accepts_a_hub_id_and_builds_the_downloaded_model()
    {
        using var hub = new HubTestContext();

        using var model = BertModelBuilder.FromPretrained(HubTestContext.RepoId, hub.Options).Build();

        Assert.Equal(["negative", "neutral", "positive"], model.Labels);
        Assert.True(model.Model.LoadReport!.IsExactMatch);
        Assert.True(File.Exists(hub.Blob("model.safetensors")));
    }

    [Fact]
    public void The_builder_still_prefers_an_existing_folder_and_refuses_a_path_that_is_no_hub_id()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls"), new HubOptions { Offline = true }).Build();
        Assert.Equal(3, model.Labels.Count);

        var error = Assert.Throws<DirectoryNotFoundException>(() => BertModelBuilder.FromPretrained("./no/such/model/folder"));
        Assert.Contains("Hub id", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sharded_weights_are_fetched_through_their_index_and_load()
    {
        using var temp = new TempFolder();
        using var hub = new HubTestContext();
        hub.Server.Add("test-org/sharded", ShardedFiles(temp));
        using var resolver = new HubModelResolver(hub.Options);

        var folder = resolver.Resolve("test-org/sharded");

        Assert.False(File.Exists(Path.Combine(folder, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(folder, "model-00001-of-00002.safetensors")));
        Assert.True(File.Exists(Path.Combine(folder, "model-00002-of-00002.safetensors")));
        var noExist = Path.Combine(hub.Cache.Path, "models--test-org--sharded", ".no_exist");
        Assert.True(File.Exists(Path.Combine(Directory.GetDirectories(noExist).Single(), "model.safetensors")));
        using var model = BertModelBuilder.FromPretrained(folder).Build();
        Assert.True(model.Model.LoadReport!.IsExactMatch);
        Assert.Equal(folder, resolver.Resolve("test-org/sharded"));
    }

    [Fact]
    public void Without_symbolic_links_snapshot_files_are_plain_copies()
    {
        using var hub = new HubTestContext();

        var folder = hub.Resolve(hub.Options with { UseSymbolicLinks = false });

        var weights = new FileInfo(Path.Combine(folder, "model.safetensors"));
        Assert.Null(weights.LinkTarget);
        Assert.Equal(hub.Repo.Files["model.safetensors"], File.ReadAllBytes(weights.FullName));
        Assert.True(File.Exists(hub.Blob("model.safetensors")));
    }

    [Fact]
    public async Task Concurrent_resolves_into_one_cache_download_each_blob_once()
    {
        using var hub = new HubTestContext();
        hub.Server.Slow = (64 * 1024, TimeSpan.FromMilliseconds(20));
        using var first = new HubModelResolver(hub.Options);
        using var second = new HubModelResolver(hub.Options);

        var folders = await Task.WhenAll(
            Task.Run(() => first.ResolveAsync(HubTestContext.RepoId)),
            Task.Run(() => second.ResolveAsync(HubTestContext.RepoId)));

        Assert.Equal(folders[0], folders[1]);
        var sha = hub.Repo.Etag("model.safetensors");
        Assert.Single(hub.Server.Snapshot(), r => r.Method == "GET" && r.Path == $"/lfs/{sha}");
        Assert.Equal(hub.Repo.Files["model.safetensors"], File.ReadAllBytes(Path.Combine(folders[0], "model.safetensors")));
    }

    [Fact]
    public void A_renamed_repository_is_followed_through_its_relative_redirect()
    {
        using var hub = new HubTestContext();
        hub.Server.Renamed["old-org/tiny-bert"] = HubTestContext.RepoId;
        using var resolver = new HubModelResolver(hub.Options);

        var folder = resolver.Resolve("old-org/tiny-bert");

        Assert.Equal(Path.Combine(hub.Cache.Path, "models--old-org--tiny-bert", "snapshots", hub.Repo.Commit), folder);
        var requests = hub.Server.Snapshot();
        Assert.Contains(requests, r => r.Method == "HEAD" && r.Path == "/old-org/tiny-bert/resolve/main/config.json");
        Assert.Contains(requests, r => r.Method == "HEAD" && r.Path == "/test-org/tiny-bert/resolve/main/config.json");
    }

    [Fact]
    public void The_token_is_sent_to_the_hub_but_not_to_the_host_a_download_is_redirected_to()
    {
        using var hub = new HubTestContext();
        hub.Repo.RequiredToken = "hf_secret";
        hub.Server.LfsHost = "localhost";

        var folder = hub.Resolve(hub.Options with { Token = "hf_secret" });

        Assert.True(File.Exists(Path.Combine(folder, "model.safetensors")));
        var requests = hub.Server.Snapshot();
        Assert.All(requests.Where(r => r.Path.Contains("/resolve/", StringComparison.Ordinal)), r => Assert.Equal("Bearer hf_secret", r.Authorization));
        var lfs = Assert.Single(requests, r => r.Path.StartsWith("/lfs/", StringComparison.Ordinal));
        Assert.Equal("localhost", lfs.Host);
        Assert.Null(lfs.Authorization);
    }

    [Fact]
    public void A_local_folder_is_returned_as_is_without_any_request()
    {
        using var hub = new HubTestContext();
        using var resolver = new HubModelResolver(hub.Options);

        Assert.Equal(Path.GetFullPath(Fixtures.Model("seq_cls")), resolver.Resolve(Fixtures.Model("seq_cls")));
        Assert.Empty(hub.Server.Requests);
    }

    /// <summary>The seq_cls fixture with its weights split into two shards and an index.</summary>
    internal static Dictionary<string, byte[]> ShardedFiles(TempFolder temp)
    {
        var source = Fixtures.Model("seq_cls");
        var files = new[] { "config.json", "tokenizer.json", "tokenizer_config.json" }
            .ToDictionary(f => f, f => File.ReadAllBytes(Path.Combine(source, f)), StringComparer.Ordinal);
        using var weights = SafeTensorsFile.Open(Path.Combine(source, "model.safetensors"));
        var names = weights.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal).ToList();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var halves = new[] { names.Take(names.Count / 2).ToList(), names.Skip(names.Count / 2).ToList() };
        for (int i = 0; i < 2; i++)
        {
            var shard = $"model-0000{i + 1}-of-00002.safetensors";
            var tensors = halves[i].Select(n => KeyValuePair.Create(n, weights.ReadTensor(n))).ToList();
            SafeTensorsWriter.Write(temp.File(shard), tensors);
            tensors.ForEach(t => t.Value.Dispose());
            files[shard] = File.ReadAllBytes(temp.File(shard));
            halves[i].ForEach(n => weightMap[n] = shard);
        }
        files["model.safetensors.index.json"] = JsonSerializer.SerializeToUtf8Bytes(new { metadata = new { total_size = 0 }, weight_map = weightMap });
        return files;
    }
}
