using BertFineTune.Builder;
using BertFineTune.Checkpoints.Hub;

namespace BertFineTune.Tests.Hub;

public class HubCacheTests
{
    /// <summary>Lays out the seq_cls fixture exactly as huggingface_hub does after <c>from_pretrained</c>.</summary>
    private static (string Commit, string Snapshot) LayOutAsPython(string cacheRoot, string repoFolderName)
    {
        var source = Fixtures.Model("seq_cls");
        var commit = "0123456789abcdef0123456789abcdef01234567";
        var repo = Path.Combine(cacheRoot, repoFolderName);
        var snapshot = Path.Combine(repo, "snapshots", commit);
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(snapshot);
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json" })
        {
            var content = File.ReadAllBytes(Path.Combine(source, file));
            var etag = ServedRepo.IsLfs(file) ? ServedRepo.Sha256(content) : ServedRepo.GitBlobSha1(content);
            File.WriteAllBytes(Path.Combine(repo, "blobs", etag), content);
            File.CreateSymbolicLink(Path.Combine(snapshot, file), $"../../blobs/{etag}");
        }
        File.WriteAllText(Path.Combine(repo, "refs", "main"), commit);
        Directory.CreateDirectory(Path.Combine(repo, ".no_exist", commit));
        foreach (var missing in new[] { "vocab.txt", "special_tokens_map.json" })
        {
            File.WriteAllBytes(Path.Combine(repo, ".no_exist", commit, missing), []);
        }
        return (commit, snapshot);
    }

    [Fact]
    public void A_cache_laid_out_by_huggingface_hub_is_used_offline_without_any_request()
    {
        using var hub = new HubTestContext();
        var (_, snapshot) = LayOutAsPython(hub.Cache.Path, "models--python-org--tiny-bert");
        using var resolver = new HubModelResolver(hub.Options with { Offline = true });

        var folder = resolver.Resolve("python-org/tiny-bert");

        Assert.Equal(snapshot, folder);
        Assert.Empty(hub.Server.Requests);
        using var model = BertModelBuilder.FromPretrained("python-org/tiny-bert", hub.Options with { Offline = true }).Build();
        Assert.Equal(["negative", "neutral", "positive"], model.Labels);
        Assert.True(model.Model.LoadReport!.IsExactMatch);
        Assert.Empty(hub.Server.Requests);
    }

    [Fact]
    public void A_commit_hash_revision_in_the_cache_is_used_online_without_any_request()
    {
        using var hub = new HubTestContext();
        var (commit, snapshot) = LayOutAsPython(hub.Cache.Path, "models--python-org--tiny-bert");
        File.Delete(Path.Combine(hub.Cache.Path, "models--python-org--tiny-bert", "refs", "main"));
        using var resolver = new HubModelResolver(hub.Options with { Revision = commit });

        Assert.Equal(snapshot, resolver.Resolve("python-org/tiny-bert"));
        Assert.Empty(hub.Server.Requests);
    }

    [Fact]
    public void A_model_without_a_namespace_uses_the_hubs_legacy_layout()
    {
        using var hub = new HubTestContext();
        var (_, snapshot) = LayOutAsPython(hub.Cache.Path, "models--bert-tiny");
        using var resolver = new HubModelResolver(hub.Options with { Offline = true });

        Assert.Equal(snapshot, resolver.Resolve("bert-tiny"));
    }

    [Fact]
    public void Offline_a_snapshot_without_weights_is_not_cached_and_pickle_weights_are_explained()
    {
        using var hub = new HubTestContext();
        var (_, snapshot) = LayOutAsPython(hub.Cache.Path, "models--python-org--tiny-bert");
        File.Delete(Path.Combine(snapshot, "model.safetensors"));
        using var resolver = new HubModelResolver(hub.Options with { Offline = true });

        Assert.Equal(HubErrorKind.NotCached, Assert.Throws<HubException>(() => resolver.Resolve("python-org/tiny-bert")).Kind);

        File.WriteAllBytes(Path.Combine(snapshot, "pytorch_model.bin"), [0]);
        var error = Assert.Throws<HubException>(() => resolver.Resolve("python-org/tiny-bert"));
        Assert.Equal(HubErrorKind.UnsupportedFormat, error.Kind);
        Assert.Contains("safetensors only", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_cache_root_follows_HF_HUB_CACHE_then_HF_HOME_then_the_home_folder()
    {
        static string Root(Dictionary<string, string> variables, HubOptions? options = null) =>
            new HubEnvironment(n => variables.GetValueOrDefault(n), "/home/someone").Resolve(options ?? new HubOptions()).CacheDirectory;

        Assert.Equal(Path.GetFullPath("/home/someone/.cache/huggingface/hub"), Root([]));
        Assert.Equal(Path.GetFullPath("/x/hf/hub"), Root(new() { ["HF_HOME"] = "/x/hf" }));
        Assert.Equal(Path.GetFullPath("/home/someone/hf/hub"), Root(new() { ["HF_HOME"] = "~/hf" }));
        Assert.Equal(Path.GetFullPath("/xdg/huggingface/hub"), Root(new() { ["XDG_CACHE_HOME"] = "/xdg" }));
        Assert.Equal(Path.GetFullPath("/y/cache"), Root(new() { ["HF_HOME"] = "/x/hf", ["HF_HUB_CACHE"] = "/y/cache" }));
        Assert.Equal(Path.GetFullPath("/z"), Root(new() { ["HF_HUB_CACHE"] = "/y/cache" }, new HubOptions { CacheDirectory = "/z" }));
    }

    [Fact]
    public void Endpoint_token_and_offline_come_from_the_environment_unless_an_option_is_set()
    {
        using var home = new TempFolder();
        Directory.CreateDirectory(Path.Combine(home.Path, ".cache", "huggingface"));
        File.WriteAllText(Path.Combine(home.Path, ".cache", "huggingface", "token"), "hf_from_file\n");
        var variables = new Dictionary<string, string>();
        var environment = new HubEnvironment(n => variables.GetValueOrDefault(n), home.Path);

        var defaults = environment.Resolve(new HubOptions());
        Assert.Equal("https://huggingface.co", defaults.Endpoint);
        Assert.Equal("hf_from_file", defaults.Token);
        Assert.False(defaults.Offline);

        variables["HF_ENDPOINT"] = "https://mirror.example/";
        variables["HF_TOKEN"] = "hf_from_env";
        variables["HF_HUB_OFFLINE"] = "1";
        var fromEnvironment = environment.Resolve(new HubOptions());
        Assert.Equal("https://mirror.example", fromEnvironment.Endpoint);
        Assert.Equal("hf_from_env", fromEnvironment.Token);
        Assert.True(fromEnvironment.Offline);

        var explicitOptions = environment.Resolve(new HubOptions { Endpoint = "http://127.0.0.1:1", Token = "", Offline = false });
        Assert.Equal("http://127.0.0.1:1", explicitOptions.Endpoint);
        Assert.Null(explicitOptions.Token);
        Assert.False(explicitOptions.Offline);

        Assert.Throws<ArgumentException>(() => environment.Resolve(new HubOptions { Endpoint = "ftp://example" }));
    }

    [Theory]
    [InlineData("google-bert/bert-base-uncased", true)]
    [InlineData("bert-base-uncased", true)]
    [InlineData("org_1/model.v2", true)]
    [InlineData("./model", false)]
    [InlineData("../model", false)]
    [InlineData("/abs/model", false)]
    [InlineData("a/b/c", false)]
    [InlineData("org--x/name", false)]
    [InlineData("org/na..me", false)]
    [InlineData("org\\name", false)]
    [InlineData("org/name/", false)]
    public void Hub_ids_are_told_from_paths(string reference, bool isHubId)
    {
        Assert.Equal(isHubId, HubModelResolver.IsHubId(reference));
    }

    [Fact]
    public void File_names_and_revisions_that_would_escape_the_repository_folder_are_refused()
    {
        var cache = new HubCache("/tmp/hub-cache", "org/name", true);
        var commit = new string('a', 40);

        Assert.Throws<HubException>(() => cache.SnapshotFile(commit, "../../x"));
        Assert.Throws<HubException>(() => cache.SnapshotFile(commit, "/etc/passwd"));
        Assert.Throws<HubException>(() => cache.SnapshotFile(commit, "a\\..\\b"));
        Assert.Throws<HubException>(() => cache.SnapshotFile("../../x", "config.json"));
        Assert.Throws<HubException>(() => cache.BlobPath("a/b", "config.json"));
        Assert.Throws<HubException>(() => cache.BlobPath("..", "config.json"));
        Assert.Throws<HubException>(() => cache.WriteRef("../escape", commit));
        Assert.Equal(Path.GetFullPath("/tmp/hub-cache/models--org--name/snapshots/" + commit + "/onnx/model.onnx"), cache.SnapshotFile(commit, "onnx/model.onnx"));
    }
}
