using static TorchSharp.torch;

namespace BertFineTune.Checkpoints;

/// <summary>
/// The weights of a checkpoint folder: either one <c>model.safetensors</c> or shards listed by
/// <c>model.safetensors.index.json</c>, read through one name → tensor view.
/// </summary>
internal sealed class SafeTensorsCheckpoint : ICheckpointTensors, IDisposable
{
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

    /// <inheritdoc />
    public long[] ShapeOf(string name) => GetInfo(name).Shape.ToArray();

    /// <summary>Reads <paramref name="name"/>, converted to <paramref name="convertTo"/> when given.</summary>
    public Tensor ReadTensor(string name, ScalarType? convertTo = null) => FileOf(name).ReadTensor(name, convertTo);

    /// <summary>Opens the weights in <paramref name="folder"/>, preferring the single file over an index (<see cref="WeightsFiles"/>).</summary>
    /// <exception cref="FileNotFoundException">The folder holds neither file (the message says what else it found).</exception>
    /// <exception cref="SafeTensorsFormatException">A file or the index breaks the format.</exception>
    public static SafeTensorsCheckpoint OpenFolder(string folder)
    {
        var single = Path.Combine(folder, WeightsFiles.SafeWeightsName);
        switch (WeightsFiles.InFolder(folder))
        {
            case WeightsLayout.SingleFile:
                var file = SafeTensorsFile.Open(single);
                return new SafeTensorsCheckpoint([file], file.Tensors.ToDictionary(t => t.Name, _ => file, StringComparer.Ordinal));
            case WeightsLayout.Sharded:
                return OpenSharded(Path.Combine(folder, WeightsFiles.SafeWeightsIndexName));
            case WeightsLayout.PickleOnly:
                throw new FileNotFoundException(
                    $"{folder}: no {WeightsFiles.SafeWeightsName} or {WeightsFiles.SafeWeightsIndexName}, only {WeightsFiles.PickleWeightsName}. "
                    + WeightsFiles.PickleConversionHint, single);
            default:
                throw new FileNotFoundException($"{folder}: no {WeightsFiles.SafeWeightsName} or {WeightsFiles.SafeWeightsIndexName}.", single);
        }
    }

    /// <summary>Opens a sharded checkpoint from its index file.</summary>
    /// <exception cref="SafeTensorsFormatException">
    /// The index breaks a rule (<see cref="SafeTensorsIndex.Read"/>), names a shard that is not a plain file name beside
    /// it or does not exist, or disagrees with the shards about which holds a tensor; or a shard breaks the format.
    /// </exception>
    public static SafeTensorsCheckpoint OpenSharded(string indexPath)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var index = SafeTensorsIndex.Read(indexPath);
        if (index.FirstNonPlainShardName is { } unsafeName)
        {
            throw new SafeTensorsFormatException(indexPath, null, $"shard '{unsafeName}' is not a plain file name in the checkpoint folder.");
        }

        var files = new List<SafeTensorsFile>();
        var byShard = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        var fileByTensor = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        try
        {
            foreach (var shard in index.ShardNames)
            {
                var path = Path.Combine(folder, shard);
                if (FileKinds.Of(path) == FileKind.Missing)
                {
                    throw new SafeTensorsFormatException(indexPath, null, $"shard '{shard}' listed in weight_map does not exist.");
                }
                var file = SafeTensorsFile.Open(path);
                files.Add(file);
                byShard[shard] = file;
            }
            foreach (var (tensor, shard) in index.WeightMap)
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
                var unlisted = file.Tensors.FirstOrDefault(t => !index.WeightMap.TryGetValue(t.Name, out var s) || byShard[s] != file);
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
