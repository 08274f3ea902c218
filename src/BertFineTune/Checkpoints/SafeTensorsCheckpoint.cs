using System.Text.Json;
using static TorchSharp.torch;

namespace BertFineTune.Checkpoints;

/// <summary>
/// The weights of a checkpoint folder: either one <c>model.safetensors</c> or shards listed by
/// <c>model.safetensors.index.json</c>, read through one name → tensor view.
/// </summary>
public sealed class SafeTensorsCheckpoint : IDisposable
{
    /// <summary>File name of a single-file checkpoint.</summary>
    public const string WeightsFileName = "model.safetensors";

    /// <summary>File name of the index of a sharded checkpoint.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files;
    private readonly Dictionary<string, SafeTensorsFile> _fileByTensor;

    private SafeTensorsCheckpoint(List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> fileByTensor)
    {
        _files = files;
        _fileByTensor = fileByTensor;
    }

    /// <summary>Every tensor name in the checkpoint.</summary>
    public IReadOnlyCollection<string> Names => _fileByTensor.Keys;

    /// <summary>The header entry of <paramref name="name"/>.</summary>
    public SafeTensorInfo GetInfo(string name) => FileOf(name).GetInfo(name);

    /// <summary>Reads <paramref name="name"/>, converted to <paramref name="convertTo"/> when given.</summary>
    public Tensor ReadTensor(string name, ScalarType? convertTo = null) => FileOf(name).ReadTensor(name, convertTo);

    /// <summary>Whether <paramref name="folder"/> holds safetensors weights (single or sharded).</summary>
    public static bool ExistsIn(string folder) =>
        File.Exists(Path.Combine(folder, WeightsFileName)) || File.Exists(Path.Combine(folder, IndexFileName));

    /// <summary>Opens the weights in <paramref name="folder"/>, preferring the single file over an index.</summary>
    /// <exception cref="FileNotFoundException">The folder holds neither file (the message says what else it found).</exception>
    /// <exception cref="SafeTensorsFormatException">A file or the index breaks the format.</exception>
    public static SafeTensorsCheckpoint OpenFolder(string folder)
    {
        var single = Path.Combine(folder, WeightsFileName);
        if (File.Exists(single))
        {
            var file = SafeTensorsFile.Open(single);
            return new SafeTensorsCheckpoint([file], file.Tensors.ToDictionary(t => t.Name, _ => file, StringComparer.Ordinal));
        }
        var index = Path.Combine(folder, IndexFileName);
        if (File.Exists(index))
        {
            return OpenSharded(index);
        }
        var hint = File.Exists(Path.Combine(folder, "pytorch_model.bin"))
            ? " It holds pytorch_model.bin, a pickle checkpoint this library does not read: convert it in Python with "
              + "model.save_pretrained(folder, safe_serialization=True)."
            : string.Empty;
        throw new FileNotFoundException($"{folder}: no {WeightsFileName} or {IndexFileName}.{hint}", single);
    }

    /// <summary>Opens a sharded checkpoint from its index file.</summary>
    public static SafeTensorsCheckpoint OpenSharded(string indexPath)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        Dictionary<string, string> weightMap;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(indexPath));
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
            {
                throw new SafeTensorsFormatException(indexPath, null, "the index has no 'weight_map' object.");
            }
            weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                {
                    throw new SafeTensorsFormatException(indexPath, entry.Name, "the weight_map value must be a shard file name.");
                }
                if (!weightMap.TryAdd(entry.Name, entry.Value.GetString()!))
                {
                    throw new SafeTensorsFormatException(indexPath, entry.Name, "the name appears more than once in weight_map.");
                }
            }
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException(indexPath, null, $"the index is not valid JSON: {e.Message}");
        }

        var files = new List<SafeTensorsFile>();
        var byShard = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        var fileByTensor = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in weightMap.Values.Distinct(StringComparer.Ordinal))
            {
                // A shard name is a file in the same folder; anything that would step outside it is refused.
                if (shard.Length == 0 || Path.GetFileName(shard) != shard || shard is "." or "..")
                {
                    throw new SafeTensorsFormatException(indexPath, null, $"shard '{shard}' is not a plain file name in the checkpoint folder.");
                }
                var path = Path.Combine(folder, shard);
                if (!File.Exists(path))
                {
                    throw new SafeTensorsFormatException(indexPath, null, $"shard '{shard}' listed in weight_map does not exist.");
                }
                var file = SafeTensorsFile.Open(path);
                files.Add(file);
                byShard[shard] = file;
            }
            foreach (var (tensor, shard) in weightMap)
            {
                var file = byShard[shard];
                if (!file.Contains(tensor))
                {
                    throw new SafeTensorsFormatException(indexPath, tensor, $"weight_map places it in '{shard}', which does not hold it.");
                }
                fileByTensor[tensor] = file;
            }
            foreach (var file in files)
            {
                var unlisted = file.Tensors.FirstOrDefault(t => !weightMap.TryGetValue(t.Name, out var s) || byShard[s] != file);
                if (unlisted is not null)
                {
                    throw new SafeTensorsFormatException(indexPath, unlisted.Name,
                        $"shard '{Path.GetFileName(file.FilePath)}' holds it but weight_map does not place it there.");
                }
            }
            return new SafeTensorsCheckpoint(files, fileByTensor);
        }
        catch
        {
            files.ForEach(f => f.Dispose());
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _files.ForEach(f => f.Dispose());

    private SafeTensorsFile FileOf(string name) =>
        _fileByTensor.TryGetValue(name, out var file) ? file : throw new KeyNotFoundException($"The checkpoint has no tensor named '{name}'.");
}
