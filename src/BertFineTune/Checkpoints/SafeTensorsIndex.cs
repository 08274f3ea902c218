using System.Collections.ObjectModel;
using System.Text.Json;

namespace BertFineTune.Checkpoints;

/// <summary>
/// The index of a sharded safetensors checkpoint (<c>model.safetensors.index.json</c>): the shard file that holds each
/// tensor. Read in one place for the local loader (<see cref="SafeTensorsCheckpoint"/>) and the Hub resolver, which
/// fetches the shards it lists.
/// </summary>
internal sealed class SafeTensorsIndex
{
    private SafeTensorsIndex(string filePath, Dictionary<string, string> weightMap)
    {
        FilePath = filePath;
        WeightMap = new ReadOnlyDictionary<string, string>(weightMap);
        // transformers fetches and opens sorted(set(weight_map.values())) (utils/hub.py, get_checkpoint_shard_files).
        ShardNames = weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList().AsReadOnly();
    }

    /// <summary>The index file that was read.</summary>
    public string FilePath { get; }

    /// <summary>Tensor name → the shard file name that holds it (<c>weight_map</c>).</summary>
    public IReadOnlyDictionary<string, string> WeightMap { get; }

    /// <summary>Each shard file name once, in ordinal order.</summary>
    public IReadOnlyList<string> ShardNames { get; }

    /// <summary>
    /// The first shard name that is not a plain file name beside the index (see <see cref="IsPlainFileName"/>), or null.
    /// Such a name could reach outside the checkpoint folder; every reader refuses it before touching any shard.
    /// </summary>
    public string? FirstNonPlainShardName => ShardNames.FirstOrDefault(s => !IsPlainFileName(s));

    /// <summary>
    /// Whether <paramref name="name"/> names a file directly in the index's folder on every platform: not empty, not
    /// <c>.</c> or <c>..</c>, no <c>/</c>, <c>\</c>, <c>:</c> or NUL, not rooted.
    /// </summary>
    public static bool IsPlainFileName(string name) =>
        name.Length is > 0 and <= 1000 && name is not ("." or "..") && name.IndexOfAny(['/', '\\', ':', '\0']) < 0
        && !Path.IsPathRooted(name);

    /// <summary>Reads and checks the index at <paramref name="path"/>.</summary>
    /// <exception cref="SafeTensorsFormatException">
    /// The file is not JSON, has no <c>weight_map</c> object, maps a tensor to something other than a file name, or names
    /// a tensor twice; the message names the file and, where there is one, the tensor.
    /// </exception>
    /// <exception cref="IOException">The path is a directory, FIFO, device or socket.</exception>
    public static SafeTensorsIndex Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        // By kind, before reading: a FIFO would block the read until a writer comes.
        FileKinds.RequireRegular(path, "a sharded checkpoint index (" + WeightsFiles.SafeWeightsIndexName + ")");
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new SafeTensorsFormatException(path, null, "the index has no 'weight_map' object.");
            }
            var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                {
                    throw new SafeTensorsFormatException(path, entry.Name, "the weight_map value must be a shard file name.");
                }
                if (!weightMap.TryAdd(entry.Name, entry.Value.GetString()!))
                {
                    throw new SafeTensorsFormatException(path, entry.Name, "the name appears more than once in weight_map.");
                }
            }
            return new SafeTensorsIndex(path, weightMap);
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException(path, null, $"the index is not valid JSON: {e.Message}");
        }
    }
}
