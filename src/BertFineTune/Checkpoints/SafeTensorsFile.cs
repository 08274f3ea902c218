using System.Collections.ObjectModel;
using Microsoft.Win32.SafeHandles;
using System.Text;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace BertFineTune.Checkpoints;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The tensor's key.</param>
/// <param name="DType">Its element type.</param>
/// <param name="Shape">Its dimensions (empty for a scalar).</param>
/// <param name="DataOffset">Start of its bytes, relative to the data buffer after the header.</param>
/// <param name="ByteLength">Number of bytes it occupies.</param>
internal sealed record SafeTensorInfo(string Name, SafeTensorsDType DType, IReadOnlyList<long> Shape, long DataOffset, long ByteLength);

/// <summary>
/// A validated safetensors file. Opening it reads and checks only the header and keeps the file open; each tensor is
/// read on demand with a positioned read (<c>pread</c>) straight into its TorchSharp storage, so a large checkpoint is
/// never held twice in memory.
/// </summary>
/// <remarks>
/// The format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON starting with <c>{</c>, then the data
/// buffer. Every rule of the format is checked before any size taken from the file is used to allocate.
/// The file is not memory-mapped: a mapped file that another process truncates kills the reader with SIGBUS when it
/// touches a page past the new end, whereas a read returns short. Before each tensor the file's length is compared with
/// the length the header was validated against, and a short read is an error too, so a file that changes size while
/// loading gives a <see cref="SafeTensorsFormatException"/> naming the file and tensor (docs/file-formats.md).
/// Only regular files are opened: a FIFO, device, socket or directory is refused before opening, by kind.
/// Instances are safe to read from several threads at once.
/// </remarks>
internal sealed class SafeTensorsFile : IDisposable
{
    /// <summary>The largest header the reader accepts (the reference implementation's limit).</summary>
    public const long MaxHeaderLength = 100_000_000;

    private readonly SafeFileHandle _handle;
    private readonly long _fileLength;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _byName;

    private SafeTensorsFile(string path, SafeFileHandle handle, long fileLength, long dataStart,
        List<SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        FilePath = path;
        _handle = handle;
        _fileLength = fileLength;
        _dataStart = dataStart;
        Tensors = tensors.AsReadOnly();
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Metadata = new ReadOnlyDictionary<string, string>(metadata);
    }

    /// <summary>The file this instance reads.</summary>
    public string FilePath { get; }

    /// <summary>The header's <c>__metadata__</c> map (empty when the file has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor in the file, in data order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>Whether the file holds a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The header entry of <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    public SafeTensorInfo GetInfo(string name) =>
        _byName.TryGetValue(name, out var info)
            ? info
            : throw new KeyNotFoundException($"{FilePath}: no tensor named '{name}'.");

    /// <summary>Opens and validates <paramref name="path"/>.</summary>
    /// <exception cref="SafeTensorsFormatException">The file breaks a rule of the format; the message says which.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="IOException">The path is a directory, FIFO, device or socket (<see cref="FileKinds.RequireRegular"/>).</exception>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        // By kind, before opening: opening a FIFO blocks until a writer comes, and a directory is no file.
        FileKinds.RequireRegular(path, "a safetensors weights file");
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("Reading safetensors requires a little-endian machine.");
        }

        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        try
        {
            long fileLength = RandomAccess.GetLength(handle);
            if (fileLength < 8)
            {
                throw new SafeTensorsFormatException(path, null,
                    $"the file is {fileLength} bytes long, shorter than the 8-byte header length that must start it.");
            }
            Span<byte> lengthBytes = stackalloc byte[8];
            ReadExactly(path, handle, lengthBytes, 0, fileLength, "the header length");
            ulong headerLength = BitConverter.ToUInt64(lengthBytes);
            if (headerLength > MaxHeaderLength)
            {
                throw new SafeTensorsFormatException(path, null,
                    $"the header length {headerLength} exceeds the limit of {MaxHeaderLength} bytes.");
            }
            if ((long)headerLength > fileLength - 8)
            {
                throw new SafeTensorsFormatException(path, null,
                    $"the header length {headerLength} reaches beyond the end of the file ({fileLength - 8} bytes follow the length).");
            }
            var header = new byte[headerLength];
            ReadExactly(path, handle, header, 8, fileLength, "the header");

            long dataStart = 8 + header.Length;
            var (tensors, metadata) = ParseHeader(path, header, fileLength - dataStart);
            return new SafeTensorsFile(path, handle, fileLength, dataStart, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads <paramref name="name"/> into a new CPU tensor of the stored type, or converted to <paramref name="convertTo"/>
    /// (for example F16/BF16 up-cast to <see cref="ScalarType.Float32"/>).
    /// </summary>
    /// <exception cref="KeyNotFoundException">No tensor has that name.</exception>
    /// <exception cref="SafeTensorsFormatException">The file changed size since it was opened (another process is writing it).</exception>
    public Tensor ReadTensor(string name, ScalarType? convertTo = null)
    {
        var info = GetInfo(name);
        var stored = SafeTensorsDTypes.ToScalarType(info.DType);
        var tensor = torch.empty(info.Shape.ToArray(), stored, device: CPU);
        try
        {
            CopyInto(info, tensor);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
        if (convertTo is { } target && target != stored)
        {
            using (tensor)
            {
                return tensor.to_type(target);
            }
        }
        return tensor;
    }

    /// <summary>Reads the bytes of <paramref name="info"/> into the storage of a contiguous CPU tensor of the same size.</summary>
    private void CopyInto(SafeTensorInfo info, Tensor destination)
    {
        if (info.ByteLength == 0)
        {
            return;
        }
        // The header was validated against _fileLength; a file that has since changed size is being rewritten, and its
        // bytes, wherever they still exist, may belong to another version of the checkpoint.
        long now = RandomAccess.GetLength(_handle);
        if (now != _fileLength)
        {
            throw ChangedSize(info.Name, now);
        }
        if (info.ByteLength > int.MaxValue)
        {
            throw new NotSupportedException(
                $"{FilePath}: tensor '{info.Name}' is {info.ByteLength} bytes; tensors over 2 GiB are not supported.");
        }
        ReadExactly(FilePath, _handle, destination.bytes, _dataStart + info.DataOffset, _fileLength, $"tensor '{info.Name}'");
    }

    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/>; a short read means the file shrank.</summary>
    private static void ReadExactly(string path, SafeFileHandle handle, Span<byte> buffer, long offset, long expectedLength, string what)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = RandomAccess.Read(handle, buffer[read..], offset + read);
            if (n == 0)
            {
                long now = RandomAccess.GetLength(handle);
                throw new SafeTensorsFormatException(path, null,
                    $"reading {what} ended at byte {offset + read} of a file that was {expectedLength} bytes long when opened and is {now} now: "
                    + "another process changed it while it was being loaded. Load it again once that process has finished writing.");
            }
            read += n;
        }
    }

    private SafeTensorsFormatException ChangedSize(string tensor, long now) =>
        new(FilePath, tensor,
            $"the file was {_fileLength} bytes long when opened and is {now} now: another process changed it while it was being loaded. "
            + "Load it again once that process has finished writing (writers should write a new file and rename it over the old one).");

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

    private static (List<SafeTensorInfo> Tensors, Dictionary<string, string> Metadata) ParseHeader(
        string path, byte[] header, long dataLength)
    {
        string json;
        try
        {
            json = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(header);
        }
        catch (DecoderFallbackException e)
        {
            throw new SafeTensorsFormatException(path, null, $"the header is not valid UTF-8 ({e.Message}).");
        }
        if (json.Length == 0 || json[0] != '{')
        {
            throw new SafeTensorsFormatException(path, null, "the header must be a JSON object starting with '{'.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new SafeTensorsFormatException(path, null, $"the header is not valid JSON: {e.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new SafeTensorsFormatException(path, null, "the header must be a JSON object.");
            }
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<SafeTensorInfo>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    throw new SafeTensorsFormatException(path, property.Name, "the name appears more than once in the header.");
                }
                if (property.Name == "__metadata__")
                {
                    ReadMetadata(path, property.Value, metadata);
                    continue;
                }
                tensors.Add(ReadEntry(path, property.Name, property.Value));
            }
            CheckLayout(path, tensors, dataLength);
            tensors.Sort((a, b) => a.DataOffset.CompareTo(b.DataOffset));
            return (tensors, metadata);
        }
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafeTensorsFormatException(path, null, "__metadata__ must be an object mapping strings to strings.");
        }
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw new SafeTensorsFormatException(path, null,
                    $"__metadata__ value of '{entry.Name}' must be a string, found {entry.Value.ValueKind}.");
            }
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
            {
                throw new SafeTensorsFormatException(path, null, $"__metadata__ key '{entry.Name}' appears more than once.");
            }
        }
    }

    private static SafeTensorInfo ReadEntry(string path, string name, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new SafeTensorsFormatException(path, name, "the entry must be an object with dtype, shape and data_offsets.");
        }
        if (!value.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
        {
            throw new SafeTensorsFormatException(path, name, "'dtype' is missing or not a string.");
        }
        var dtypeText = dtypeElement.GetString()!;
        if (!SafeTensorsDTypes.TryParse(dtypeText, out var dtype))
        {
            throw new SafeTensorsFormatException(path, name,
                $"unknown dtype '{dtypeText}' (supported: {string.Join(", ", Enum.GetNames<SafeTensorsDType>())}).");
        }
        if (!value.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw new SafeTensorsFormatException(path, name, "'shape' is missing or not an array.");
        }
        var shape = new List<long>();
        foreach (var dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out var size) || size < 0)
            {
                throw new SafeTensorsFormatException(path, name, $"shape dimension {dim} is not a non-negative integer.");
            }
            shape.Add(size);
        }
        if (!value.TryGetProperty("data_offsets", out var offsetsElement) || offsetsElement.ValueKind != JsonValueKind.Array
            || offsetsElement.GetArrayLength() != 2)
        {
            throw new SafeTensorsFormatException(path, name, "'data_offsets' must be an array [begin, end].");
        }
        var begin = ReadOffset(path, name, offsetsElement[0]);
        var end = ReadOffset(path, name, offsetsElement[1]);
        if (end < begin)
        {
            throw new SafeTensorsFormatException(path, name, $"data_offsets [{begin}, {end}] end before they begin.");
        }

        long expected;
        try
        {
            expected = checked(shape.Aggregate(1L, (acc, d) => checked(acc * d)) * SafeTensorsDTypes.SizeOf(dtype));
        }
        catch (OverflowException)
        {
            throw new SafeTensorsFormatException(path, name,
                $"shape [{string.Join(", ", shape)}] of {dtype} overflows a 64-bit byte count.");
        }
        if (expected != end - begin)
        {
            throw new SafeTensorsFormatException(path, name,
                $"shape [{string.Join(", ", shape)}] of {dtype} needs {expected} bytes but data_offsets [{begin}, {end}] hold {end - begin}.");
        }
        return new SafeTensorInfo(name, dtype, shape.AsReadOnly(), begin, end - begin);
    }

    private static long ReadOffset(string path, string name, JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt64(out var offset) || offset < 0)
        {
            throw new SafeTensorsFormatException(path, name, $"data offset {element} is not a non-negative 64-bit integer.");
        }
        return offset;
    }

    /// <summary>The tensors must tile the data buffer: contiguous from 0, no overlap, no gap, nothing after the last.</summary>
    private static void CheckLayout(string path, List<SafeTensorInfo> tensors, long dataLength)
    {
        var ordered = tensors.OrderBy(t => t.DataOffset).ThenBy(t => t.ByteLength).ToList();
        long position = 0;
        foreach (var tensor in ordered)
        {
            if (tensor.DataOffset < position)
            {
                throw new SafeTensorsFormatException(path, tensor.Name,
                    $"data_offsets [{tensor.DataOffset}, {tensor.DataOffset + tensor.ByteLength}] overlap the previous tensor, which ends at {position}.");
            }
            if (tensor.DataOffset > position)
            {
                throw new SafeTensorsFormatException(path, tensor.Name,
                    $"data_offsets start at {tensor.DataOffset} but the previous tensor ends at {position}: the offsets must be contiguous from 0.");
            }
            position = tensor.DataOffset + tensor.ByteLength;
            if (position > dataLength)
            {
                throw new SafeTensorsFormatException(path, tensor.Name,
                    $"data_offsets end at {position}, beyond the {dataLength}-byte data buffer after the header.");
            }
        }
        if (position != dataLength)
        {
            throw new SafeTensorsFormatException(path, null,
                $"the tensors cover {position} bytes of the data buffer but {dataLength - position} trailing bytes follow them.");
        }
    }
}
