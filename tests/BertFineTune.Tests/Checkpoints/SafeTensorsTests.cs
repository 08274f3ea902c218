using System.Diagnostics;
using System.Text;
using System.Text.Json;
using BertFineTune.Checkpoints;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints;

/// <summary>
/// The safetensors reader, writer and checkpoint view against the format's rules. Malformed files are built byte by byte
/// so that each test breaks exactly one rule.
/// </summary>
public sealed class SafeTensorsTests : IDisposable
{
    private const string Shard1 = "model-00001-of-00002.safetensors";
    private const string Shard2 = "model-00002-of-00002.safetensors";

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    // ------------------------------------------------------------------------------------------------------------
    // Raw-byte helpers.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>An 8-byte little-endian length prefix for <paramref name="header"/>, the header, then <paramref name="data"/>.</summary>
    private static byte[] RawFile(byte[] header, byte[]? data = null) =>
        RawFile((ulong)header.Length, header, data);

    private static byte[] RawFile(string header, byte[]? data = null) => RawFile(Encoding.UTF8.GetBytes(header), data);

    /// <summary>A declared header length that may disagree with the bytes that follow.</summary>
    private static byte[] RawFile(ulong declaredLength, byte[] header, byte[]? data = null)
    {
        data ??= [];
        var bytes = new byte[8 + header.Length + data.Length];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), declaredLength);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return bytes;
    }

    /// <summary>One header entry: <c>"name":{"dtype":…,"shape":[…],"data_offsets":[begin,end]}</c>.</summary>
    private static string Entry(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{shape}],\"data_offsets\":[{begin},{end}]}}";

    private string WriteRaw(byte[] bytes, string name = "raw.safetensors")
    {
        var path = _folder.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>
    /// Asserts that opening <paramref name="bytes"/> fails with the given rule text, naming the file and (when given)
    /// the tensor.
    /// </summary>
    private SafeTensorsFormatException AssertRejected(byte[] bytes, string rule, string? tensor = null)
    {
        var path = WriteRaw(bytes);
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(rule, error.Message, StringComparison.Ordinal);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Equal(path, error.FilePath);
        if (tensor is null)
        {
            Assert.Null(error.TensorName);
        }
        else
        {
            Assert.Equal(tensor, error.TensorName);
            Assert.Contains($"tensor '{tensor}'", error.Message, StringComparison.Ordinal);
        }
        return error;
    }

    private static Tensor FromBytes(ScalarType type, long[] shape, byte[] bytes)
    {
        var result = empty(shape, type, device: CPU);
        result.bytes = bytes;
        return result;
    }

    private static byte[] BitsOf(params ushort[] values) =>
        values.SelectMany(v => BitConverter.GetBytes(v)).ToArray();

    /// <summary>A [2, 4] tensor of <paramref name="dtype"/> holding its awkward values (extremes, signed zero, NaN with payload, …).</summary>
    private static Tensor Sample(SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F64 => tensor(new[]
        {
            0.0, -0.0, 1.0 / 3, BitConverter.Int64BitsToDouble(0x7FF0_0000_0000_0123), double.PositiveInfinity,
            double.NegativeInfinity, double.Epsilon, double.MaxValue,
        }).reshape(2, 4),
        SafeTensorsDType.F32 => tensor(new[]
        {
            0f, -0f, 1f / 3, BitConverter.Int32BitsToSingle(0x7FC0_0123), float.PositiveInfinity,
            float.NegativeInfinity, float.Epsilon, float.MaxValue,
        }).reshape(2, 4),
        // 0, -0, 1/3, NaN with payload, +inf, -inf, smallest subnormal, largest finite.
        SafeTensorsDType.F16 => FromBytes(ScalarType.Float16, [2, 4],
            BitsOf(0x0000, 0x8000, 0x3555, 0x7E01, 0x7C00, 0xFC00, 0x0001, 0x7BFF)),
        SafeTensorsDType.BF16 => FromBytes(ScalarType.BFloat16, [2, 4],
            BitsOf(0x0000, 0x8000, 0x3EAB, 0x7FC1, 0x7F80, 0xFF80, 0x0001, 0x7F7F)),
        SafeTensorsDType.I64 => tensor(new[] { long.MinValue, long.MaxValue, -1L, 0L, 1L, 1L << 40, -(1L << 40), 12345L }).reshape(2, 4),
        SafeTensorsDType.I32 => tensor(new[] { int.MinValue, int.MaxValue, -1, 0, 1, 1 << 20, -(1 << 20), 12345 }).reshape(2, 4),
        SafeTensorsDType.I16 => tensor(new short[] { short.MinValue, short.MaxValue, -1, 0, 1, 256, -256, 1234 }).reshape(2, 4),
        SafeTensorsDType.I8 => tensor(new sbyte[] { sbyte.MinValue, sbyte.MaxValue, -1, 0, 1, 16, -16, 42 }).reshape(2, 4),
        SafeTensorsDType.U8 => tensor(new byte[] { 0, 255, 1, 128, 127, 16, 200, 42 }).reshape(2, 4),
        SafeTensorsDType.BOOL => tensor(new[] { true, false, false, true, true, true, false, false }).reshape(2, 4),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    private static KeyValuePair<string, Tensor> Named(string name, Tensor value) => new(name, value);

    private string[] FolderEntries(string? folder = null) =>
        Directory.GetFileSystemEntries(folder ?? _folder.Path).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToArray();

    // ------------------------------------------------------------------------------------------------------------
    // Malformed files: the length prefix.
    // ------------------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void Rejects_a_file_shorter_than_the_8_byte_length_prefix(int length)
    {
        AssertRejected(new byte[length], $"the file is {length} bytes long, shorter than the 8-byte header length");
    }

    [Fact]
    public void Rejects_a_header_length_over_100_000_000_bytes()
    {
        AssertRejected(RawFile(100_000_001, Encoding.UTF8.GetBytes("{}")),
            "the header length 100000001 exceeds the limit of 100000000 bytes");
    }

    [Fact]
    public void Rejects_a_header_length_with_the_top_bit_set_as_too_large_rather_than_negative()
    {
        AssertRejected(RawFile(ulong.MaxValue, Encoding.UTF8.GetBytes("{}")),
            $"the header length {ulong.MaxValue} exceeds the limit of 100000000 bytes");
    }

    [Fact]
    public void Accepts_a_header_length_of_exactly_the_limit_as_not_too_large()
    {
        // 100,000,000 is allowed by the limit, so a short file gets the "beyond the end" error instead.
        AssertRejected(RawFile(100_000_000, Encoding.UTF8.GetBytes("{}")),
            "the header length 100000000 reaches beyond the end of the file");
    }

    [Fact]
    public void Rejects_header_length_beyond_the_end_of_the_file()
    {
        var header = Encoding.UTF8.GetBytes("{}        ");
        AssertRejected(RawFile((ulong)header.Length + 1, header),
            $"the header length {header.Length + 1} reaches beyond the end of the file ({header.Length} bytes follow the length)");
    }

    [Fact]
    public void Rejects_a_huge_header_length_in_a_tiny_file_quickly_without_allocating_it()
    {
        // Warm up the code path so the measurement sees no JIT work.
        var warmUp = WriteRaw(RawFile("{}"), "warm-up.safetensors");
        SafeTensorsFile.Open(warmUp).Dispose();
        var path = WriteRaw(RawFile(99_999_999, new byte[12]));
        Assert.Equal(20, new FileInfo(path).Length);

        var stopwatch = Stopwatch.StartNew();
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path).Dispose());
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        stopwatch.Stop();

        Assert.Contains("the header length 99999999 reaches beyond the end of the file", error.Message, StringComparison.Ordinal);
        Assert.True(allocated < 1_000_000, $"Opening allocated {allocated} bytes; the header length must not be trusted.");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(2), $"Rejecting took {stopwatch.Elapsed}.");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Malformed files: the header text.
    // ------------------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(new byte[] { 0xFF })] // never valid in UTF-8
    [InlineData(new byte[] { 0xC0, 0xAF })] // overlong encoding of '/'
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })] // encoded UTF-16 surrogate
    [InlineData(new byte[] { 0xE2, 0x82 })] // truncated sequence
    [InlineData(new byte[] { 0x80 })] // lone continuation byte
    public void Rejects_a_header_that_is_invalid_UTF_8(byte[] invalid)
    {
        var header = Encoding.UTF8.GetBytes("{\"a").Concat(invalid).Concat(Encoding.UTF8.GetBytes("\":{}}")).ToArray();
        AssertRejected(RawFile(header), "the header is not valid UTF-8");
    }

    [Theory]
    [InlineData(" {}")]
    [InlineData("\n{}")]
    [InlineData("[]")]
    [InlineData("\"{}\"")]
    [InlineData("\uFEFF{}")] // a byte-order mark is not '{'
    [InlineData("")]
    public void Rejects_a_header_not_starting_with_an_open_brace(string header)
    {
        AssertRejected(RawFile(header), "the header must be a JSON object starting with '{'");
    }

    [Theory]
    [InlineData("{")]
    [InlineData("{\"a\":}")]
    [InlineData("{} {}")]
    [InlineData("{}x")]
    [InlineData("{\"a\":{},}")]
    [InlineData("{/* comment */}")]
    [InlineData("{'a':{}}")]
    public void Rejects_a_header_that_is_invalid_JSON(string header)
    {
        AssertRejected(RawFile(header), "the header is not valid JSON");
    }

    [Fact]
    public void Rejects_a_header_nested_deeper_than_the_parser_allows()
    {
        var header = "{\"__metadata__\":" + new string('[', 40) + new string(']', 40) + "}";
        AssertRejected(RawFile(header), "the header is not valid JSON");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Malformed files: header entries.
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public void Rejects_duplicate_tensor_names_in_the_header()
    {
        var header = "{" + Entry("dup", "F32", "1", 0, 4) + "," + Entry("dup", "F32", "1", 4, 8) + "}";
        AssertRejected(RawFile(header, new byte[8]), "the name appears more than once in the header", "dup");
    }

    [Fact]
    public void Rejects_a_duplicate_metadata_object()
    {
        var header = "{\"__metadata__\":{\"a\":\"1\"},\"__metadata__\":{\"b\":\"2\"}}";
        AssertRejected(RawFile(header), "the name appears more than once in the header", "__metadata__");
    }

    [Fact]
    public void Rejects_a_duplicate_metadata_key()
    {
        var header = "{\"__metadata__\":{\"format\":\"pt\",\"format\":\"tf\"}}";
        AssertRejected(RawFile(header), "__metadata__ key 'format' appears more than once");
    }

    [Theory]
    [InlineData("F8")]
    [InlineData("f32")] // the spelling is exact
    [InlineData("float32")]
    [InlineData("0")] // not an enum number either
    [InlineData("")]
    public void Rejects_an_unknown_dtype(string dtype)
    {
        var header = "{" + Entry("w", dtype, "1", 0, 1) + "}";
        AssertRejected(RawFile(header, new byte[1]), $"unknown dtype '{dtype}'", "w");
    }

    [Fact]
    public void Rejects_a_byte_length_that_differs_from_shape_times_dtype_size()
    {
        var header = "{" + Entry("w", "F32", "2,3", 0, 20) + "}";
        AssertRejected(RawFile(header, new byte[20]),
            "shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] hold 20", "w");
    }

    [Fact]
    public void Rejects_a_scalar_whose_byte_length_is_not_one_element()
    {
        var header = "{" + Entry("s", "F64", "", 0, 4) + "}";
        AssertRejected(RawFile(header, new byte[4]), "shape [] of F64 needs 8 bytes but data_offsets [0, 4] hold 4", "s");
    }

    [Fact]
    public void Rejects_data_offsets_with_a_gap_at_the_start()
    {
        var header = "{" + Entry("w", "F32", "1", 4, 8) + "}";
        AssertRejected(RawFile(header, new byte[8]),
            "data_offsets start at 4 but the previous tensor ends at 0: the offsets must be contiguous from 0", "w");
    }

    [Fact]
    public void Rejects_data_offsets_with_a_gap_between_tensors()
    {
        var header = "{" + Entry("a", "F32", "1", 0, 4) + "," + Entry("b", "F32", "1", 8, 12) + "}";
        AssertRejected(RawFile(header, new byte[12]),
            "data_offsets start at 8 but the previous tensor ends at 4: the offsets must be contiguous from 0", "b");
    }

    [Fact]
    public void Rejects_overlapping_data_offsets()
    {
        var header = "{" + Entry("a", "F32", "2", 0, 8) + "," + Entry("b", "F32", "2", 4, 12) + "}";
        AssertRejected(RawFile(header, new byte[12]),
            "data_offsets [4, 12] overlap the previous tensor, which ends at 8", "b");
    }

    [Fact]
    public void Rejects_two_tensors_sharing_the_same_bytes()
    {
        var header = "{" + Entry("a", "F32", "1", 0, 4) + "," + Entry("b", "F32", "1", 0, 4) + "}";
        AssertRejected(RawFile(header, new byte[4]), "data_offsets [0, 4] overlap the previous tensor, which ends at 4", "b");
    }

    [Fact]
    public void Rejects_an_empty_tensor_placed_inside_another_tensor()
    {
        var header = "{" + Entry("a", "F32", "2", 0, 8) + "," + Entry("e", "F32", "0", 4, 4) + "}";
        AssertRejected(RawFile(header, new byte[8]), "data_offsets [4, 4] overlap the previous tensor, which ends at 8", "e");
    }

    [Fact]
    public void Rejects_data_offsets_beyond_the_data_buffer()
    {
        var header = "{" + Entry("a", "F32", "1", 0, 4) + "," + Entry("b", "F32", "2", 4, 12) + "}";
        AssertRejected(RawFile(header, new byte[8]), "data_offsets end at 12, beyond the 8-byte data buffer after the header", "b");
    }

    [Fact]
    public void Rejects_a_huge_tensor_in_a_tiny_file_before_reading_any_data()
    {
        // 2^40 F32 elements: the sizes agree with each other but not with the 4 bytes that exist.
        const long elements = 1L << 40;
        var header = "{" + Entry("huge", "F32", elements.ToString(System.Globalization.CultureInfo.InvariantCulture), 0, elements * 4) + "}";
        AssertRejected(RawFile(header, new byte[4]), $"data_offsets end at {elements * 4}, beyond the 4-byte data buffer", "huge");
    }

    [Fact]
    public void Rejects_trailing_bytes_after_the_last_tensor()
    {
        var header = "{" + Entry("a", "F32", "1", 0, 4) + "}";
        AssertRejected(RawFile(header, new byte[6]), "the tensors cover 4 bytes of the data buffer but 2 trailing bytes follow them");
    }

    [Fact]
    public void Rejects_data_after_a_header_with_no_tensors()
    {
        AssertRejected(RawFile("{}", new byte[3]), "the tensors cover 0 bytes of the data buffer but 3 trailing bytes follow them");
    }

    [Theory]
    [InlineData("4294967296, 4294967296, 8", "F32")] // the element count overflows
    [InlineData("4611686018427387904", "F32")] // 2^62 elements fit, 2^64 bytes do not
    [InlineData("9223372036854775807, 2", "U8")]
    public void Rejects_a_shape_whose_byte_count_overflows(string shape, string dtype)
    {
        var header = "{" + Entry("w", dtype, shape, 0, 4) + "}";
        AssertRejected(RawFile(header, new byte[4]), "overflows a 64-bit byte count", "w");
    }

    [Theory]
    [InlineData("-1, 4")]
    [InlineData("2, -3")]
    [InlineData("1.5")]
    [InlineData("\"2\"")]
    [InlineData("null")]
    [InlineData("18446744073709551616")] // 2^64
    public void Rejects_a_shape_dimension_that_is_not_a_non_negative_integer(string shape)
    {
        var header = "{" + Entry("w", "F32", shape, 0, 0) + "}";
        AssertRejected(RawFile(header), "is not a non-negative integer", "w");
    }

    [Fact]
    public void Rejects_data_offsets_that_end_before_they_begin()
    {
        var header = "{" + Entry("w", "U8", "0", 8, 4) + "}";
        AssertRejected(RawFile(header, new byte[8]), "data_offsets [8, 4] end before they begin", "w");
    }

    [Theory]
    [InlineData("-4", "0")]
    [InlineData("0", "-4")]
    [InlineData("0", "4.0")]
    [InlineData("\"0\"", "4")]
    [InlineData("0", "9223372036854775808")] // 2^63
    public void Rejects_a_data_offset_that_is_not_a_non_negative_64_bit_integer(string begin, string end)
    {
        var header = $"{{\"w\":{{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[{begin},{end}]}}}}";
        AssertRejected(RawFile(header, new byte[4]), "is not a non-negative 64-bit integer", "w");
    }

    [Theory]
    [InlineData("[0]")]
    [InlineData("[0, 4, 8]")]
    [InlineData("{\"begin\":0,\"end\":4}")]
    public void Rejects_data_offsets_that_are_not_a_pair(string offsets)
    {
        var header = $"{{\"w\":{{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":{offsets}}}}}";
        AssertRejected(RawFile(header, new byte[4]), "'data_offsets' must be an array [begin, end]", "w");
    }

    [Theory]
    [InlineData("{\"shape\":[1],\"data_offsets\":[0,1]}", "'dtype' is missing or not a string")]
    [InlineData("{\"dtype\":8,\"shape\":[1],\"data_offsets\":[0,1]}", "'dtype' is missing or not a string")]
    [InlineData("{\"dtype\":\"U8\",\"data_offsets\":[0,1]}", "'shape' is missing or not an array")]
    [InlineData("{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}", "'shape' is missing or not an array")]
    [InlineData("{\"dtype\":\"U8\",\"shape\":[1]}", "'data_offsets' must be an array [begin, end]")]
    [InlineData("[\"U8\",[1],[0,1]]", "the entry must be an object with dtype, shape and data_offsets")]
    [InlineData("\"U8\"", "the entry must be an object with dtype, shape and data_offsets")]
    public void Rejects_a_tensor_entry_missing_a_required_field(string entry, string rule)
    {
        AssertRejected(RawFile("{\"w\":" + entry + "}", new byte[1]), rule, "w");
    }

    [Theory]
    [InlineData("1", "Number")]
    [InlineData("null", "Null")]
    [InlineData("true", "True")]
    [InlineData("[\"pt\"]", "Array")]
    [InlineData("{\"nested\":\"pt\"}", "Object")]
    public void Rejects_metadata_with_a_non_string_value(string value, string kind)
    {
        var header = "{\"__metadata__\":{\"ok\":\"fine\",\"format\":" + value + "}}";
        AssertRejected(RawFile(header), $"__metadata__ value of 'format' must be a string, found {kind}");
    }

    [Theory]
    [InlineData("\"pt\"")]
    [InlineData("[]")]
    [InlineData("null")]
    public void Rejects_metadata_that_is_not_an_object(string value)
    {
        AssertRejected(RawFile("{\"__metadata__\":" + value + "}"), "__metadata__ must be an object mapping strings to strings");
    }

    [Fact]
    public void Open_throws_FileNotFoundException_for_a_missing_file()
    {
        var path = _folder.File("absent.safetensors");

        var error = Assert.Throws<FileNotFoundException>(() => SafeTensorsFile.Open(path));

        Assert.Equal(path, error.FileName);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Valid files built by hand.
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public void Reads_a_hand_built_file_with_little_endian_values()
    {
        var header = "{" + Entry("ints", "I32", "2", 0, 8) + "}";
        var path = WriteRaw(RawFile(header, [0x01, 0x00, 0x00, 0x00, 0xFE, 0xFF, 0xFF, 0xFF]));
        using var file = SafeTensorsFile.Open(path);
        using var ints = file.ReadTensor("ints");

        Assert.Equal(ScalarType.Int32, ints.dtype);
        Assert.Equal([2L], ints.shape);
        Assert.Equal([1, -2], ints.data<int>().ToArray());
    }

    [Fact]
    public void Accepts_a_header_padded_with_trailing_spaces()
    {
        var header = "{" + Entry("b", "U8", "3", 0, 3) + "}     ";
        var path = WriteRaw(RawFile(header, [7, 8, 9]));
        using var file = SafeTensorsFile.Open(path);
        using var bytes = file.ReadTensor("b");

        Assert.Equal(new byte[] { 7, 8, 9 }, bytes.data<byte>().ToArray());
    }

    [Fact]
    public void Accepts_a_file_that_is_only_an_empty_header()
    {
        var path = WriteRaw(RawFile("{}"));
        using var file = SafeTensorsFile.Open(path);

        Assert.Empty(file.Tensors);
        Assert.Empty(file.Metadata);
        Assert.Equal(path, file.FilePath);
    }

    [Fact]
    public void Lists_tensors_in_data_order_whatever_the_header_order()
    {
        var header = "{" + Entry("z_first", "U8", "2", 0, 2) + "," + Entry("c_third", "U8", "1", 5, 6) + ","
            + Entry("a_second", "U8", "3", 2, 5) + "}";
        var path = WriteRaw(RawFile(header, [1, 2, 3, 4, 5, 6]));
        using var file = SafeTensorsFile.Open(path);

        Assert.Equal(["z_first", "a_second", "c_third"], file.Tensors.Select(t => t.Name));
        Assert.Equal([0L, 2L, 5L], file.Tensors.Select(t => t.DataOffset));
        Assert.Equal([2L, 3L, 1L], file.Tensors.Select(t => t.ByteLength));
        using var second = file.ReadTensor("a_second");
        Assert.Equal(new byte[] { 3, 4, 5 }, second.data<byte>().ToArray());
    }

    [Fact]
    public void Unknown_tensor_names_throw_KeyNotFoundException()
    {
        var path = WriteRaw(RawFile("{" + Entry("a", "U8", "1", 0, 1) + "}", [1]));
        using var file = SafeTensorsFile.Open(path);

        Assert.False(file.Contains("b"));
        Assert.True(file.Contains("a"));
        var read = Assert.Throws<KeyNotFoundException>(() => file.ReadTensor("b"));
        Assert.Contains("'b'", read.Message, StringComparison.Ordinal);
        var info = Assert.Throws<KeyNotFoundException>(() => file.GetInfo("b"));
        Assert.Contains(path, info.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Reading_F16_with_convertTo_Float32_upcasts_every_bit_pattern_exactly()
    {
        var patterns = Enumerable.Range(0, 1 << 16).Select(i => (ushort)i).ToArray();
        var header = "{" + Entry("h", "F16", "65536", 0, 1 << 17) + "}";
        var path = WriteRaw(RawFile(header, BitsOf(patterns)));
        using var file = SafeTensorsFile.Open(path);
        using var upcast = file.ReadTensor("h", ScalarType.Float32);

        Assert.Equal(ScalarType.Float32, upcast.dtype);
        var values = upcast.data<float>().ToArray();
        for (var i = 0; i < patterns.Length; i++)
        {
            var expected = (float)BitConverter.UInt16BitsToHalf(patterns[i]);
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(values[i]), $"F16 0x{patterns[i]:X4} should stay NaN, got {values[i]}.");
            }
            else
            {
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(values[i]),
                    $"F16 0x{patterns[i]:X4} should up-cast to {expected:R}, got {values[i]:R}.");
            }
        }
    }

    [Fact]
    public void Reading_BF16_with_convertTo_Float32_upcasts_every_bit_pattern_exactly()
    {
        var patterns = Enumerable.Range(0, 1 << 16).Select(i => (ushort)i).ToArray();
        var header = "{" + Entry("b", "BF16", "256, 256", 0, 1 << 17) + "}";
        var path = WriteRaw(RawFile(header, BitsOf(patterns)));
        using var file = SafeTensorsFile.Open(path);
        using var upcast = file.ReadTensor("b", ScalarType.Float32);

        Assert.Equal(ScalarType.Float32, upcast.dtype);
        Assert.Equal([256L, 256L], upcast.shape);
        var values = upcast.data<float>().ToArray();
        for (var i = 0; i < patterns.Length; i++)
        {
            // BF16 is the upper half of an F32.
            var expected = BitConverter.Int32BitsToSingle(patterns[i] << 16);
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(values[i]), $"BF16 0x{patterns[i]:X4} should stay NaN, got {values[i]}.");
            }
            else
            {
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(values[i]),
                    $"BF16 0x{patterns[i]:X4} should up-cast to {expected:R}, got {values[i]:R}.");
            }
        }
    }

    [Fact]
    public void Reading_without_convertTo_keeps_the_stored_type()
    {
        var header = "{" + Entry("h", "F16", "2", 0, 4) + "}";
        var path = WriteRaw(RawFile(header, BitsOf(0x3C00, 0xC000)));
        using var file = SafeTensorsFile.Open(path);
        using var stored = file.ReadTensor("h");
        using var same = file.ReadTensor("h", ScalarType.Float16);

        Assert.Equal(ScalarType.Float16, stored.dtype);
        Assert.Equal(ScalarType.Float16, same.dtype);
        Assert.Equal(BitsOf(0x3C00, 0xC000), stored.bytes.ToArray());
        Assert.Equal(BitsOf(0x3C00, 0xC000), same.bytes.ToArray());
    }

    // ------------------------------------------------------------------------------------------------------------
    // Writer → reader round trips.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// The ten dtypes of the format (a subset of the safetensors crate's <c>Dtype</c>) this library reads and writes, by
    /// header spelling. By name, because the enum is internal and xunit's test methods are public.
    /// </summary>
    public static TheoryData<string> EveryDType() => new() { "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL" };

    [Theory]
    [MemberData(nameof(EveryDType))]
    public void Round_trips_every_dtype_bit_for_bit(string dtypeName)
    {
        var dtype = Enum.Parse<SafeTensorsDType>(dtypeName);
        using var scope = NewDisposeScope();
        var original = Sample(dtype);
        var path = _folder.File("roundtrip.safetensors");
        SafeTensorsWriter.Write(path, [Named("t", original)]);

        using var file = SafeTensorsFile.Open(path);
        var info = file.GetInfo("t");
        var read = file.ReadTensor("t");

        Assert.Equal(dtype, info.DType);
        Assert.Equal([2L, 4L], info.Shape);
        Assert.Equal(8L * SafeTensorsDTypes.SizeOf(dtype), info.ByteLength);
        Assert.Equal(SafeTensorsDTypes.ToScalarType(dtype), read.dtype);
        Assert.Equal([2L, 4L], read.shape);
        Assert.Equal(original.bytes.ToArray(), read.bytes.ToArray());
    }

    [Theory]
    [MemberData(nameof(EveryDType))]
    public void Round_trips_a_scalar_of_every_dtype(string dtypeName)
    {
        var dtype = Enum.Parse<SafeTensorsDType>(dtypeName);
        using var scope = NewDisposeScope();
        var scalar = Sample(dtype).reshape(-1)[2].clone();
        Assert.Empty(scalar.shape);
        var path = _folder.File("scalar.safetensors");
        SafeTensorsWriter.Write(path, [Named("s", scalar)]);

        using var file = SafeTensorsFile.Open(path);
        var info = file.GetInfo("s");
        var read = file.ReadTensor("s");

        Assert.Equal(dtype, info.DType);
        Assert.Empty(info.Shape);
        Assert.Equal(SafeTensorsDTypes.SizeOf(dtype), info.ByteLength);
        Assert.Empty(read.shape);
        Assert.Equal(SafeTensorsDTypes.ToScalarType(dtype), read.dtype);
        Assert.Equal(scalar.bytes.ToArray(), read.bytes.ToArray());
    }

    [Theory]
    [MemberData(nameof(EveryDType))]
    public void Round_trips_an_empty_tensor_of_every_dtype_between_non_empty_ones(string dtypeName)
    {
        var dtype = Enum.Parse<SafeTensorsDType>(dtypeName);
        using var scope = NewDisposeScope();
        var type = SafeTensorsDTypes.ToScalarType(dtype);
        var before = Sample(dtype);
        var after = Sample(dtype).flip(0);
        var path = _folder.File("empty.safetensors");
        SafeTensorsWriter.Write(path, [Named("a", before), Named("b_empty", empty([0], type)), Named("c", after)]);

        using var file = SafeTensorsFile.Open(path);
        var info = file.GetInfo("b_empty");
        var read = file.ReadTensor("b_empty");

        Assert.Equal(dtype, info.DType);
        Assert.Equal([0L], info.Shape);
        Assert.Equal(0L, info.ByteLength);
        Assert.Equal(file.GetInfo("a").ByteLength, info.DataOffset);
        Assert.Equal([0L], read.shape);
        Assert.Equal(type, read.dtype);
        Assert.Equal(after.bytes.ToArray(), file.ReadTensor("c").bytes.ToArray());
    }

    [Fact]
    public void Round_trips_a_file_of_only_empty_tensors()
    {
        using var scope = NewDisposeScope();
        var path = _folder.File("all-empty.safetensors");
        SafeTensorsWriter.Write(path, [Named("e1", empty([0], ScalarType.Float32)), Named("e2", empty([2, 0, 3], ScalarType.Int64))]);

        using var file = SafeTensorsFile.Open(path);
        var e2 = file.ReadTensor("e2");

        Assert.Equal(2, file.Tensors.Count);
        Assert.Equal([2L, 0L, 3L], e2.shape);
        Assert.Equal(ScalarType.Int64, e2.dtype);
        Assert.Equal([0L], file.ReadTensor("e1").shape);
    }

    [Fact]
    public void Round_trips_many_tensors_with_their_own_values()
    {
        using var scope = NewDisposeScope();
        var tensors = Enumerable.Range(0, 12)
            .Select(i => Named($"layer.{i}.weight", arange(i * 7 + 1, ScalarType.Float32).mul(i + 0.5f).reshape(-1, 1)))
            .ToList();
        var path = _folder.File("many.safetensors");
        SafeTensorsWriter.Write(path, tensors);

        using var file = SafeTensorsFile.Open(path);

        Assert.Equal(tensors.Count, file.Tensors.Count);
        foreach (var (name, expected) in tensors)
        {
            Assert.True(expected.Equals(file.ReadTensor(name)), name);
        }
    }

    [Fact]
    public void Writer_stores_non_contiguous_and_sliced_tensors_by_value()
    {
        using var scope = NewDisposeScope();
        var matrix = arange(12, ScalarType.Int32).reshape(3, 4);
        var transposed = matrix.t();
        var slice = matrix.narrow(0, 1, 2);
        Assert.False(transposed.is_contiguous());
        var path = _folder.File("views.safetensors");
        SafeTensorsWriter.Write(path, [Named("transposed", transposed), Named("slice", slice)]);

        using var file = SafeTensorsFile.Open(path);

        Assert.True(transposed.Equals(file.ReadTensor("transposed")));
        Assert.Equal([4, 5, 6, 7, 8, 9, 10, 11], file.ReadTensor("slice").data<int>().ToArray());
    }

    [Fact]
    public void Round_trips_tensor_names_with_non_ASCII_and_JSON_special_characters()
    {
        using var scope = NewDisposeScope();
        string[] names = ["emb.héllo", "quote\"and\\slash", "tab\tname", "<html>&", "日本語", "emoji🙂", ""];
        var path = _folder.File("names.safetensors");
        SafeTensorsWriter.Write(path, names.Select((n, i) => Named(n, tensor(new[] { i }))));

        using var file = SafeTensorsFile.Open(path);

        Assert.Equal(names.Order(StringComparer.Ordinal), file.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        for (var i = 0; i < names.Length; i++)
        {
            Assert.Equal(i, file.ReadTensor(names[i]).item<int>());
        }
    }

    [Fact]
    public void Round_trips_metadata()
    {
        using var scope = NewDisposeScope();
        var metadata = new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["note"] = "héllo \"quoted\" \\ 🙂\n",
            ["empty"] = string.Empty,
            ["total_size"] = "12345",
        };
        var path = _folder.File("meta.safetensors");
        SafeTensorsWriter.Write(path, [Named("a", ones(2))], metadata);

        using var file = SafeTensorsFile.Open(path);

        Assert.Equal(metadata.OrderBy(p => p.Key, StringComparer.Ordinal), file.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.DoesNotContain("__metadata__", file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Writes_no_metadata_when_none_is_given()
    {
        using var scope = NewDisposeScope();
        var path = _folder.File("nometa.safetensors");
        SafeTensorsWriter.Write(path, [Named("a", ones(2))]);

        using var file = SafeTensorsFile.Open(path);

        Assert.Empty(file.Metadata);
        Assert.DoesNotContain("__metadata__", Encoding.UTF8.GetString(File.ReadAllBytes(path)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("ab")]
    [InlineData("abc")]
    [InlineData("abcd")]
    [InlineData("abcde")]
    [InlineData("abcdef")]
    [InlineData("abcdefg")]
    [InlineData("abcdefgh")]
    public void Writer_pads_the_header_to_a_multiple_of_8_with_spaces(string name)
    {
        using var scope = NewDisposeScope();
        var path = _folder.File("padded.safetensors");
        SafeTensorsWriter.Write(path, [Named(name, tensor(new byte[] { 1, 2, 3 }))]);

        var bytes = File.ReadAllBytes(path);
        var headerLength = (long)BitConverter.ToUInt64(bytes, 0);
        var header = bytes.AsSpan(8, (int)headerLength);
        var jsonEnd = header.LastIndexOf((byte)'}') + 1;

        Assert.Equal(0, headerLength % 8);
        Assert.Equal((byte)'{', header[0]);
        Assert.True(headerLength - jsonEnd < 8, $"{headerLength - jsonEnd} padding bytes is more than needed.");
        Assert.All(header[jsonEnd..].ToArray(), b => Assert.Equal((byte)' ', b));
        Assert.Equal(8 + headerLength + 3, bytes.Length);
        Assert.Equal(new byte[] { 1, 2, 3 }, bytes[^3..]);
        using var document = JsonDocument.Parse(header.ToArray());
        Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
    }

    [Fact]
    public void Writer_orders_tensors_by_name_contiguously_from_offset_0()
    {
        using var scope = NewDisposeScope();
        var path = _folder.File("order.safetensors");
        SafeTensorsWriter.Write(path, [Named("c", ones(3)), Named("a", ones(1, dtype: ScalarType.Float64)), Named("b", ones(2, dtype: ScalarType.Int16))]);

        using var file = SafeTensorsFile.Open(path);

        Assert.Equal(["a", "b", "c"], file.Tensors.Select(t => t.Name));
        Assert.Equal([0L, 8L, 12L], file.Tensors.Select(t => t.DataOffset));
        Assert.Equal([8L, 4L, 12L], file.Tensors.Select(t => t.ByteLength));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Writer atomicity and argument checks.
    // ------------------------------------------------------------------------------------------------------------

    [Fact]
    public void Writing_over_an_existing_file_replaces_it_and_leaves_no_temporary_files()
    {
        using var scope = NewDisposeScope();
        var path = _folder.File("model.safetensors");
        SafeTensorsWriter.Write(path, [Named("old", ones(100))]);
        SafeTensorsWriter.Write(path, [Named("new", full(3, 7.0f))]);

        Assert.Equal(["model.safetensors"], FolderEntries());
        using var file = SafeTensorsFile.Open(path);
        Assert.False(file.Contains("old"));
        Assert.Equal([7f, 7f, 7f], file.ReadTensor("new").data<float>().ToArray());
    }

    [Fact]
    public void Writer_creates_a_missing_target_folder()
    {
        using var scope = NewDisposeScope();
        var path = Path.Combine(_folder.Path, "nested", "deeper", "w.safetensors");
        SafeTensorsWriter.Write(path, [Named("a", ones(1))]);

        Assert.Equal(["w.safetensors"], FolderEntries(Path.GetDirectoryName(path)));
    }

    [Fact]
    public void Writer_rejects_duplicate_names_and_leaves_the_existing_file_untouched()
    {
        using var scope = NewDisposeScope();
        var path = _folder.File("model.safetensors");
        SafeTensorsWriter.Write(path, [Named("keep", ones(2))]);
        var before = File.ReadAllBytes(path);

        var error = Assert.Throws<ArgumentException>(() =>
            SafeTensorsWriter.Write(path, [Named("dup", ones(1)), Named("other", ones(1)), Named("dup", zeros(1))]));

        Assert.Contains("'dup'", error.Message, StringComparison.Ordinal);
        Assert.Equal("tensors", error.ParamName);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], FolderEntries());
    }

    [Fact]
    public void Writer_rejects_a_tensor_named_like_the_metadata_key()
    {
        using var scope = NewDisposeScope();
        var path = _folder.File("reserved.safetensors");

        var error = Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [Named("__metadata__", ones(1))]));

        Assert.Contains("__metadata__", error.Message, StringComparison.Ordinal);
        Assert.Equal("tensors", error.ParamName);
        Assert.Empty(FolderEntries());
    }

    [Fact]
    public void Writer_rejects_an_unsupported_dtype_and_leaves_the_existing_file_untouched()
    {
        using var scope = NewDisposeScope();
        var path = _folder.File("model.safetensors");
        SafeTensorsWriter.Write(path, [Named("keep", ones(2))]);
        var before = File.ReadAllBytes(path);

        Assert.Throws<NotSupportedException>(() =>
            SafeTensorsWriter.Write(path, [Named("complex", zeros(2, dtype: ScalarType.ComplexFloat32))]));

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], FolderEntries());
    }

    [Fact]
    public void A_write_that_fails_midway_keeps_the_previous_file_and_removes_its_temporary_file()
    {
        using var scope = NewDisposeScope();
        var path = _folder.File("model.safetensors");
        SafeTensorsWriter.Write(path, [Named("keep", ones(2))]);
        var before = File.ReadAllBytes(path);
        // A meta tensor has a dtype and shape for the header but no data to copy, so the write fails after it began.
        var noData = empty([4], ScalarType.Float32, device: META);

        Assert.ThrowsAny<System.Runtime.InteropServices.ExternalException>(() =>
            SafeTensorsWriter.Write(path, [Named("a", ones(1)), Named("b_meta", noData)]));

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal(["model.safetensors"], FolderEntries());
    }

    // ------------------------------------------------------------------------------------------------------------
    // The real fixture written by Python's safetensors.
    // ------------------------------------------------------------------------------------------------------------

    private static string SeqClsWeights => Path.Combine(Fixtures.Model("seq_cls"), WeightsFiles.SafeWeightsName);

    [Fact]
    public void Fixture_metadata_is_format_pt()
    {
        using var file = SafeTensorsFile.Open(SeqClsWeights);

        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt" }, file.Metadata);
    }

    [Fact]
    public void Fixture_word_embeddings_have_the_shape_the_config_gives()
    {
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Model("seq_cls"), "config.json")));
        var vocab = config.RootElement.GetProperty("vocab_size").GetInt64();
        var hidden = config.RootElement.GetProperty("hidden_size").GetInt64();
        using var file = SafeTensorsFile.Open(SeqClsWeights);
        using var embeddings = file.ReadTensor("bert.embeddings.word_embeddings.weight");

        Assert.Equal([vocab, hidden], file.GetInfo("bert.embeddings.word_embeddings.weight").Shape);
        Assert.Equal([vocab, hidden], embeddings.shape);
        Assert.Equal(ScalarType.Float32, embeddings.dtype);
    }

    [Fact]
    public void Fixture_header_entries_match_an_independent_parse_of_the_header()
    {
        var bytes = File.ReadAllBytes(SeqClsWeights);
        var headerLength = (int)BitConverter.ToUInt64(bytes, 0);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
        var entries = header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__").ToList();
        using var file = SafeTensorsFile.Open(SeqClsWeights);

        Assert.Equal(entries.Count, file.Tensors.Count);
        foreach (var entry in entries)
        {
            var info = file.GetInfo(entry.Name);
            var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            Assert.Equal(entry.Value.GetProperty("dtype").GetString(), info.DType.ToString());
            Assert.Equal(entry.Value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()), info.Shape);
            Assert.Equal(offsets[0], info.DataOffset);
            Assert.Equal(offsets[1] - offsets[0], info.ByteLength);
        }
    }

    [Fact]
    public void Fixture_tensors_tile_the_data_buffer_and_read_back_the_bytes_at_their_offsets()
    {
        var bytes = File.ReadAllBytes(SeqClsWeights);
        var dataStart = 8 + (int)BitConverter.ToUInt64(bytes, 0);
        using var file = SafeTensorsFile.Open(SeqClsWeights);

        Assert.Equal(bytes.Length - dataStart, file.Tensors.Sum(t => t.ByteLength));
        long position = 0;
        foreach (var info in file.Tensors)
        {
            Assert.Equal(position, info.DataOffset);
            position += info.ByteLength;
            using var value = file.ReadTensor(info.Name);
            var expected = bytes.AsSpan(dataStart + (int)info.DataOffset, (int)info.ByteLength).ToArray();
            Assert.True(expected.AsSpan().SequenceEqual(value.bytes), $"{info.Name}: bytes differ from the file.");
        }
    }

    [Fact]
    public void Fixture_can_be_read_from_several_threads_at_once()
    {
        using var file = SafeTensorsFile.Open(SeqClsWeights);
        var name = "bert.embeddings.word_embeddings.weight";
        byte[] expected;
        using (var once = file.ReadTensor(name))
        {
            expected = once.bytes.ToArray();
        }

        var matches = new bool[8];
        Parallel.For(0, matches.Length, i =>
        {
            for (var round = 0; round < 5; round++)
            {
                using var value = file.ReadTensor(name);
                matches[i] = value.bytes.SequenceEqual(expected);
                if (!matches[i])
                {
                    return;
                }
            }
        });

        Assert.All(matches, match => Assert.True(match));
    }

    [Theory]
    [InlineData("seq_cls_fp16", nameof(SafeTensorsDType.F16))]
    [InlineData("seq_cls_bf16", nameof(SafeTensorsDType.BF16))]
    public void Reduced_precision_fixture_holds_the_fp32_tensor_names_and_shapes_in_its_dtype(string model, string dtypeName)
    {
        var dtype = Enum.Parse<SafeTensorsDType>(dtypeName);
        using var fp32 = SafeTensorsFile.Open(SeqClsWeights);
        using var reduced = SafeTensorsFile.Open(Path.Combine(Fixtures.Model(model), WeightsFiles.SafeWeightsName));

        Assert.Equal(fp32.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal),
            reduced.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (var info in reduced.Tensors)
        {
            Assert.Equal(dtype, info.DType);
            Assert.Equal(fp32.GetInfo(info.Name).Shape, info.Shape);
        }
    }

    [Theory]
    [InlineData("seq_cls_fp16", ScalarType.Float16)]
    [InlineData("seq_cls_bf16", ScalarType.BFloat16)]
    public void Reduced_precision_fixture_values_are_the_fp32_values_rounded_to_its_dtype(string model, ScalarType type)
    {
        using var fp32 = SafeTensorsFile.Open(SeqClsWeights);
        using var reduced = SafeTensorsFile.Open(Path.Combine(Fixtures.Model(model), WeightsFiles.SafeWeightsName));

        Assert.NotEmpty(reduced.Tensors);
        foreach (var info in reduced.Tensors)
        {
            using var scope = NewDisposeScope();
            var stored = reduced.ReadTensor(info.Name);
            var rounded = fp32.ReadTensor(info.Name).to_type(type);
            Assert.Equal(type, stored.dtype);
            Assert.True(rounded.Equals(stored), $"{model}: {info.Name} is not the fp32 value rounded to {type}.");
        }
    }

    [Theory]
    [InlineData("seq_cls_fp16")]
    [InlineData("seq_cls_bf16")]
    public void Reduced_precision_fixture_upcasts_to_the_same_float32_values_as_torch(string model)
    {
        using var reduced = SafeTensorsFile.Open(Path.Combine(Fixtures.Model(model), WeightsFiles.SafeWeightsName));

        foreach (var info in reduced.Tensors)
        {
            using var scope = NewDisposeScope();
            var upcast = reduced.ReadTensor(info.Name, ScalarType.Float32);
            Assert.Equal(ScalarType.Float32, upcast.dtype);
            Assert.True(reduced.ReadTensor(info.Name).to_type(ScalarType.Float32).Equals(upcast), info.Name);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Sharded checkpoints.
    // ------------------------------------------------------------------------------------------------------------

    private static Tensor ShardA() => arange(6, ScalarType.Float32).reshape(2, 3);

    private static Tensor ShardB() => tensor(new[] { 7L, -8L });

    private static Tensor ShardC() => FromBytes(ScalarType.Float16, [3], BitsOf(0x3C00, 0x4000, 0xC200));

    /// <summary>Writes two shards into <paramref name="folder"/>: a and b in the first, c in the second.</summary>
    private static void WriteShards(string folder)
    {
        using var scope = NewDisposeScope();
        SafeTensorsWriter.Write(Path.Combine(folder, Shard1), [Named("a", ShardA()), Named("b", ShardB())]);
        SafeTensorsWriter.Write(Path.Combine(folder, Shard2), [Named("c", ShardC())]);
    }

    private static Dictionary<string, string> CorrectWeightMap() => new()
    {
        ["a"] = Shard1,
        ["b"] = Shard1,
        ["c"] = Shard2,
    };

    private static string WriteIndex(string folder, Dictionary<string, string> weightMap)
    {
        var path = Path.Combine(folder, WeightsFiles.SafeWeightsIndexName);
        var index = new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, long> { ["total_size"] = 6 * 4 + 2 * 8 + 3 * 2 },
            ["weight_map"] = weightMap,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(index));
        return path;
    }

    private string WriteShardedCheckpoint(Dictionary<string, string>? weightMap = null)
    {
        WriteShards(_folder.Path);
        return WriteIndex(_folder.Path, weightMap ?? CorrectWeightMap());
    }

    private static SafeTensorsFormatException AssertIndexRejected(string indexPath, string rule, string? tensor = null)
    {
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsCheckpoint.OpenSharded(indexPath).Dispose());
        Assert.Contains(rule, error.Message, StringComparison.Ordinal);
        Assert.Equal(indexPath, error.FilePath);
        Assert.Contains(indexPath, error.Message, StringComparison.Ordinal);
        if (tensor is null)
        {
            Assert.Null(error.TensorName);
        }
        else
        {
            Assert.Equal(tensor, error.TensorName);
            Assert.Contains($"tensor '{tensor}'", error.Message, StringComparison.Ordinal);
        }
        return error;
    }

    [Fact]
    public void Sharded_checkpoint_reads_tensors_across_shards()
    {
        var index = WriteShardedCheckpoint();
        using var checkpoint = SafeTensorsCheckpoint.OpenSharded(index);
        using var scope = NewDisposeScope();

        Assert.Equal(["a", "b", "c"], checkpoint.Names.Order(StringComparer.Ordinal));
        Assert.True(ShardA().Equals(checkpoint.ReadTensor("a")));
        Assert.True(ShardB().Equals(checkpoint.ReadTensor("b")));
        Assert.True(ShardC().Equals(checkpoint.ReadTensor("c")));
        Assert.Equal(SafeTensorsDType.F16, checkpoint.GetInfo("c").DType);
        Assert.Equal([1f, 2f, -3f], checkpoint.ReadTensor("c", ScalarType.Float32).data<float>().ToArray());
    }

    [Fact]
    public void OpenFolder_opens_a_sharded_checkpoint_through_its_index()
    {
        WriteShardedCheckpoint();
        using var checkpoint = SafeTensorsCheckpoint.OpenFolder(_folder.Path);
        using var scope = NewDisposeScope();

        Assert.Equal(WeightsLayout.Sharded, WeightsFiles.InFolder(_folder.Path));
        Assert.Equal(3, checkpoint.Names.Count);
        Assert.True(ShardC().Equals(checkpoint.ReadTensor("c")));
    }

    [Fact]
    public void OpenFolder_prefers_model_safetensors_over_an_index()
    {
        using var scope = NewDisposeScope();
        SafeTensorsWriter.Write(_folder.File(WeightsFiles.SafeWeightsName), [Named("single", ones(2))]);
        File.WriteAllText(_folder.File(WeightsFiles.SafeWeightsIndexName), "not json at all");

        using var checkpoint = SafeTensorsCheckpoint.OpenFolder(_folder.Path);

        Assert.Equal(["single"], checkpoint.Names);
    }

    [Fact]
    public void OpenFolder_reads_the_fixture_model()
    {
        using var checkpoint = SafeTensorsCheckpoint.OpenFolder(Fixtures.Model("seq_cls"));
        using var file = SafeTensorsFile.Open(SeqClsWeights);
        using var scope = NewDisposeScope();

        Assert.Equal(file.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), checkpoint.Names.Order(StringComparer.Ordinal));
        Assert.True(file.ReadTensor("classifier.weight").Equals(checkpoint.ReadTensor("classifier.weight")));
    }

    [Fact]
    public void Checkpoint_throws_KeyNotFoundException_for_an_unknown_name()
    {
        var index = WriteShardedCheckpoint();
        using var checkpoint = SafeTensorsCheckpoint.OpenSharded(index);

        var error = Assert.Throws<KeyNotFoundException>(() => checkpoint.ReadTensor("missing"));
        Assert.Contains("'missing'", error.Message, StringComparison.Ordinal);
        Assert.Throws<KeyNotFoundException>(() => checkpoint.GetInfo("missing"));
    }

    [Fact]
    public void Sharded_checkpoint_rejects_a_missing_shard()
    {
        var map = CorrectWeightMap();
        map["c"] = "model-00003-of-00002.safetensors";
        var index = WriteShardedCheckpoint(map);

        AssertIndexRejected(index, "shard 'model-00003-of-00002.safetensors' listed in weight_map does not exist");
    }

    [Fact]
    public void Sharded_checkpoint_rejects_a_weight_map_placing_a_tensor_in_a_shard_that_lacks_it()
    {
        var map = CorrectWeightMap();
        map["b"] = Shard2;
        var index = WriteShardedCheckpoint(map);

        AssertIndexRejected(index, $"weight_map places it in '{Shard2}', which does not hold it", "b");
    }

    [Fact]
    public void Sharded_checkpoint_rejects_a_weight_map_naming_a_tensor_no_shard_holds()
    {
        var map = CorrectWeightMap();
        map["ghost"] = Shard1;
        var index = WriteShardedCheckpoint(map);

        AssertIndexRejected(index, $"weight_map places it in '{Shard1}', which does not hold it", "ghost");
    }

    [Fact]
    public void Sharded_checkpoint_rejects_a_shard_holding_a_tensor_the_map_does_not_list()
    {
        var map = CorrectWeightMap();
        map.Remove("b");
        var index = WriteShardedCheckpoint(map);

        AssertIndexRejected(index, $"shard '{Shard1}' holds it but weight_map does not place it there", "b");
    }

    [Fact]
    public void Sharded_checkpoint_rejects_a_shard_name_that_steps_out_of_the_folder()
    {
        // The shard exists one level up, so only the name rule can refuse it.
        var checkpointFolder = Path.Combine(_folder.Path, "checkpoint");
        Directory.CreateDirectory(checkpointFolder);
        WriteShards(_folder.Path);
        WriteShards(checkpointFolder);
        var map = CorrectWeightMap();
        map["c"] = "../" + Shard2;
        var index = WriteIndex(checkpointFolder, map);

        AssertIndexRejected(index, $"shard '../{Shard2}' is not a plain file name in the checkpoint folder");
    }

    [Theory]
    [InlineData("sub/" + Shard2)]
    [InlineData("./" + Shard2)]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    public void Sharded_checkpoint_rejects_a_shard_name_that_is_not_a_plain_file_name(string shard)
    {
        var sub = Path.Combine(_folder.Path, "sub");
        Directory.CreateDirectory(sub);
        WriteShards(sub);
        var map = CorrectWeightMap();
        map["c"] = shard;
        var index = WriteShardedCheckpoint(map);

        AssertIndexRejected(index, $"shard '{shard}' is not a plain file name in the checkpoint folder");
    }

    [Fact]
    public void Sharded_checkpoint_rejects_an_absolute_shard_path()
    {
        var map = CorrectWeightMap();
        var absolute = _folder.File(Shard2);
        map["c"] = absolute;
        var index = WriteShardedCheckpoint(map);

        AssertIndexRejected(index, $"shard '{absolute}' is not a plain file name in the checkpoint folder");
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"weight_map\": {")]
    [InlineData("")]
    public void Sharded_checkpoint_rejects_an_index_that_is_not_JSON(string text)
    {
        WriteShards(_folder.Path);
        var index = _folder.File(WeightsFiles.SafeWeightsIndexName);
        File.WriteAllText(index, text);

        AssertIndexRejected(index, "the index is not valid JSON");
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"weight_map\": [\"a\"]}")]
    [InlineData("[]")]
    [InlineData("\"weight_map\"")]
    [InlineData("42")]
    public void Sharded_checkpoint_rejects_an_index_without_a_weight_map_object(string text)
    {
        var index = _folder.File(WeightsFiles.SafeWeightsIndexName);
        File.WriteAllText(index, text);

        AssertIndexRejected(index, "the index has no 'weight_map' object");
    }

    [Fact]
    public void Sharded_checkpoint_rejects_a_weight_map_value_that_is_not_a_file_name()
    {
        WriteShards(_folder.Path);
        var index = _folder.File(WeightsFiles.SafeWeightsIndexName);
        File.WriteAllText(index, $"{{\"weight_map\":{{\"a\":\"{Shard1}\",\"b\":1}}}}");

        AssertIndexRejected(index, "the weight_map value must be a shard file name", "b");
    }

    [Fact]
    public void Sharded_checkpoint_rejects_a_name_listed_twice_in_the_weight_map()
    {
        WriteShards(_folder.Path);
        var index = _folder.File(WeightsFiles.SafeWeightsIndexName);
        File.WriteAllText(index, $"{{\"weight_map\":{{\"a\":\"{Shard1}\",\"b\":\"{Shard1}\",\"c\":\"{Shard2}\",\"a\":\"{Shard1}\"}}}}");

        AssertIndexRejected(index, "the name appears more than once in weight_map", "a");
    }

    [Fact]
    public void Sharded_checkpoint_reports_a_malformed_shard_by_the_shard_path()
    {
        var index = WriteShardedCheckpoint();
        var shard = _folder.File(Shard2);
        File.WriteAllBytes(shard, new byte[5]);

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsCheckpoint.OpenSharded(index).Dispose());

        Assert.Equal(shard, error.FilePath);
        Assert.Contains("shorter than the 8-byte header length", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OpenFolder_with_only_pytorch_model_bin_explains_that_it_is_not_read()
    {
        File.WriteAllBytes(_folder.File("pytorch_model.bin"), [0x80, 0x02]);

        var error = Assert.Throws<FileNotFoundException>(() => SafeTensorsCheckpoint.OpenFolder(_folder.Path));

        Assert.Contains("pytorch_model.bin", error.Message, StringComparison.Ordinal);
        Assert.Contains(WeightsFiles.SafeWeightsName, error.Message, StringComparison.Ordinal);
        Assert.Contains(_folder.Path, error.Message, StringComparison.Ordinal);
        Assert.Equal(WeightsLayout.PickleOnly, WeightsFiles.InFolder(_folder.Path));
    }

    [Fact]
    public void OpenFolder_on_a_folder_without_weights_names_both_expected_files()
    {
        var error = Assert.Throws<FileNotFoundException>(() => SafeTensorsCheckpoint.OpenFolder(_folder.Path));

        Assert.Contains(WeightsFiles.SafeWeightsName, error.Message, StringComparison.Ordinal);
        Assert.Contains(WeightsFiles.SafeWeightsIndexName, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("pytorch_model.bin", error.Message, StringComparison.Ordinal);
    }
}
