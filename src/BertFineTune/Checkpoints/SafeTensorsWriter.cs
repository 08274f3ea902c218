using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace BertFineTune.Checkpoints;

/// <summary>Writes tensors to a safetensors file, atomically.</summary>
internal static class SafeTensorsWriter
{
    private const string MetadataKey = "__metadata__";

    /// <summary>
    /// Writes <paramref name="tensors"/> (sorted by name) and optional <paramref name="metadata"/> to
    /// <paramref name="path"/>. The file is written under a temporary name in the same folder and renamed into place, so
    /// a reader never sees a half-written file and an interrupted write leaves any previous file intact.
    /// </summary>
    /// <exception cref="ArgumentException">Two tensors share a name, or a tensor is named <c>__metadata__</c>.</exception>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        var ordered = tensors.OrderBy(t => t.Key, StringComparer.Ordinal).ToList();
        var duplicate = ordered.Zip(ordered.Skip(1)).FirstOrDefault(p => p.First.Key == p.Second.Key);
        if (duplicate.First.Key is not null)
        {
            throw new ArgumentException($"Tensor name '{duplicate.First.Key}' is given twice.", nameof(tensors));
        }

        if (ordered.Any(t => t.Key == MetadataKey))
        {
            throw new ArgumentException($"'{MetadataKey}' is reserved for the header's metadata and cannot name a tensor.", nameof(tensors));
        }

        var header = BuildHeader(ordered, metadata);
        AtomicFile.Write(path, stream =>
        {
            stream.Write(BitConverter.GetBytes((ulong)header.Length));
            stream.Write(header);
            foreach (var (_, tensor) in ordered)
            {
                using var scope = NewDisposeScope();
                var cpu = tensor.detach().cpu().contiguous();
                stream.Write(cpu.bytes);
            }
        });
    }

    private static byte[] BuildHeader(List<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(MetadataKey);
                foreach (var (key, value) in metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
                {
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in tensors)
            {
                var dtype = SafeTensorsDTypes.FromScalarType(tensor.dtype);
                long length = tensor.numel() * SafeTensorsDTypes.SizeOf(dtype);
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype.ToString());
                json.WriteStartArray("shape");
                foreach (var dim in tensor.shape)
                {
                    json.WriteNumberValue(dim);
                }
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += length;
            }
            json.WriteEndObject();
        }
        // Pad with spaces to a multiple of 8 so the data buffer is aligned, as the reference writer does.
        var bytes = buffer.ToArray();
        int padded = (bytes.Length + 7) / 8 * 8;
        var result = new byte[padded];
        bytes.CopyTo(result, 0);
        Array.Fill(result, (byte)' ', bytes.Length, padded - bytes.Length);
        return result;
    }
}
