using BertFineTune.Checkpoints;

namespace BertFineTune.Tests.Checkpoints;

public class WeightsFilesTests
{
    /// <summary>
    /// Every combination of the three files and the layout transformers picks for it (modeling_utils.py,
    /// _get_resolved_checkpoint_files: SAFE_WEIGHTS_NAME, else SAFE_WEIGHTS_INDEX_NAME, else WEIGHTS_NAME). The layout is
    /// given by name because <see cref="WeightsLayout"/> is internal and xunit's test methods are public.
    /// </summary>
    public static TheoryData<bool, bool, bool, string> Combinations() => new()
    {
        { false, false, false, nameof(WeightsLayout.None) },
        { false, false, true, nameof(WeightsLayout.PickleOnly) },
        { false, true, false, nameof(WeightsLayout.Sharded) },
        { false, true, true, nameof(WeightsLayout.Sharded) },
        { true, false, false, nameof(WeightsLayout.SingleFile) },
        { true, false, true, nameof(WeightsLayout.SingleFile) },
        { true, true, false, nameof(WeightsLayout.SingleFile) },
        { true, true, true, nameof(WeightsLayout.SingleFile) },
    };

    private static HashSet<string> Present(bool single, bool index, bool pickle) =>
        new[] { (single, "model.safetensors"), (index, "model.safetensors.index.json"), (pickle, "pytorch_model.bin") }
            .Where(p => p.Item1).Select(p => p.Item2).ToHashSet(StringComparer.Ordinal);

    [Theory]
    [MemberData(nameof(Combinations))]
    public void The_layout_follows_the_transformers_order_of_preference(bool single, bool index, bool pickle, string expectedName)
    {
        var present = Present(single, index, pickle);

        Assert.Equal(Enum.Parse<WeightsLayout>(expectedName), WeightsFiles.Choose(present.Contains));
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void A_local_folder_gets_the_same_layout_as_the_file_list(bool single, bool index, bool pickle, string expectedName)
    {
        using var folder = new TempFolder();
        foreach (var name in Present(single, index, pickle))
        {
            File.WriteAllBytes(folder.File(name), [0]);
        }

        Assert.Equal(Enum.Parse<WeightsLayout>(expectedName), WeightsFiles.InFolder(folder.Path));
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public async Task No_file_after_the_first_one_present_is_asked_about(bool single, bool index, bool pickle, string expectedName)
    {
        // The Hub resolver's "has" downloads the file it is asked about, so asking past the chosen one would download it.
        var expected = Enum.Parse<WeightsLayout>(expectedName);
        var present = Present(single, index, pickle);
        var asked = new List<string>();

        var layout = await WeightsFiles.ChooseAsync(name =>
        {
            asked.Add(name);
            return Task.FromResult(present.Contains(name));
        });

        Assert.Equal(expected, layout);
        string[] order = ["model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"];
        int stop = expected switch
        {
            WeightsLayout.SingleFile => 1,
            WeightsLayout.Sharded => 2,
            _ => 3,
        };
        Assert.Equal(order[..stop], asked);
    }

    [Theory]
    [InlineData("model-00001-of-00002.safetensors", true)]
    [InlineData("shard", true)]
    [InlineData("..shard", true)]
    [InlineData("", false)]
    [InlineData(".", false)]
    [InlineData("..", false)]
    [InlineData("sub/shard", false)]
    [InlineData("../shard", false)]
    [InlineData("/etc/passwd", false)]
    [InlineData("sub\\shard", false)]
    [InlineData("C:shard", false)]
    [InlineData("sha\0rd", false)]
    public void A_shard_name_is_plain_only_when_it_names_a_file_beside_the_index_on_every_platform(string name, bool plain)
    {
        // Backslashes and drive colons are separators on Windows, so a folder moved there would resolve them elsewhere.
        Assert.Equal(plain, SafeTensorsIndex.IsPlainFileName(name));
    }

    [Fact]
    public void The_index_lists_each_shard_once_in_ordinal_order_as_transformers_fetches_them()
    {
        // transformers: shard_filenames = sorted(set(index["weight_map"].values())) (utils/hub.py, get_checkpoint_shard_files).
        using var folder = new TempFolder();
        var path = folder.File("model.safetensors.index.json");
        File.WriteAllText(path, """{"metadata": {}, "weight_map": {"z": "b.safetensors", "y": "a.safetensors", "x": "b.safetensors", "w": "B.safetensors"}}""");

        var index = SafeTensorsIndex.Read(path);

        Assert.Equal(["B.safetensors", "a.safetensors", "b.safetensors"], index.ShardNames);
        Assert.Equal("a.safetensors", index.WeightMap["y"]);
        Assert.Equal(4, index.WeightMap.Count);
        Assert.Null(index.FirstNonPlainShardName);
    }

    [Fact]
    public void The_first_non_plain_shard_name_is_reported_before_any_shard_is_opened()
    {
        using var folder = new TempFolder();
        var path = folder.File("model.safetensors.index.json");
        File.WriteAllText(path, """{"weight_map": {"a": "ok.safetensors", "b": "sub\\x.safetensors"}}""");

        Assert.Equal("sub\\x.safetensors", SafeTensorsIndex.Read(path).FirstNonPlainShardName);
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsCheckpoint.OpenSharded(path).Dispose());
        Assert.Contains("shard 'sub\\x.safetensors' is not a plain file name in the checkpoint folder", error.Message, StringComparison.Ordinal);
    }
}
