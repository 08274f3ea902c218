using TorchSharp;

namespace BertFineTune.Checkpoints;

/// <summary>The element types the safetensors format defines and this library reads and writes.</summary>
internal enum SafeTensorsDType
{
    /// <summary>64-bit IEEE float.</summary>
    F64,
    /// <summary>32-bit IEEE float.</summary>
    F32,
    /// <summary>16-bit IEEE float.</summary>
    F16,
    /// <summary>bfloat16 (the upper half of an F32).</summary>
    BF16,
    /// <summary>64-bit signed integer.</summary>
    I64,
    /// <summary>32-bit signed integer.</summary>
    I32,
    /// <summary>16-bit signed integer.</summary>
    I16,
    /// <summary>8-bit signed integer.</summary>
    I8,
    /// <summary>8-bit unsigned integer.</summary>
    U8,
    /// <summary>Boolean stored as one byte.</summary>
    BOOL,
}

/// <summary>Conversions between <see cref="SafeTensorsDType"/>, its header spelling and TorchSharp scalar types.</summary>
internal static class SafeTensorsDTypes
{
    /// <summary>Bytes per element.</summary>
    public static int SizeOf(SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F64 or SafeTensorsDType.I64 => 8,
        SafeTensorsDType.F32 or SafeTensorsDType.I32 => 4,
        SafeTensorsDType.F16 or SafeTensorsDType.BF16 or SafeTensorsDType.I16 => 2,
        _ => 1,
    };

    /// <summary>Parses the header spelling (<c>"F32"</c>, <c>"BF16"</c>, …); returns false for anything else.</summary>
    public static bool TryParse(string text, out SafeTensorsDType dtype)
    {
        // Enum.TryParse would also accept numbers and other casings; the format allows exactly these spellings.
        foreach (var candidate in Enum.GetValues<SafeTensorsDType>())
        {
            if (string.Equals(candidate.ToString(), text, StringComparison.Ordinal))
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    /// <summary>The TorchSharp scalar type holding the same values.</summary>
    public static torch.ScalarType ToScalarType(SafeTensorsDType dtype) => dtype switch
    {
        SafeTensorsDType.F64 => torch.ScalarType.Float64,
        SafeTensorsDType.F32 => torch.ScalarType.Float32,
        SafeTensorsDType.F16 => torch.ScalarType.Float16,
        SafeTensorsDType.BF16 => torch.ScalarType.BFloat16,
        SafeTensorsDType.I64 => torch.ScalarType.Int64,
        SafeTensorsDType.I32 => torch.ScalarType.Int32,
        SafeTensorsDType.I16 => torch.ScalarType.Int16,
        SafeTensorsDType.I8 => torch.ScalarType.Int8,
        SafeTensorsDType.U8 => torch.ScalarType.Byte,
        SafeTensorsDType.BOOL => torch.ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>The safetensors dtype for a TorchSharp scalar type.</summary>
    /// <exception cref="NotSupportedException">The scalar type has no safetensors spelling (complex types, for example).</exception>
    public static SafeTensorsDType FromScalarType(torch.ScalarType type) => type switch
    {
        torch.ScalarType.Float64 => SafeTensorsDType.F64,
        torch.ScalarType.Float32 => SafeTensorsDType.F32,
        torch.ScalarType.Float16 => SafeTensorsDType.F16,
        torch.ScalarType.BFloat16 => SafeTensorsDType.BF16,
        torch.ScalarType.Int64 => SafeTensorsDType.I64,
        torch.ScalarType.Int32 => SafeTensorsDType.I32,
        torch.ScalarType.Int16 => SafeTensorsDType.I16,
        torch.ScalarType.Int8 => SafeTensorsDType.I8,
        torch.ScalarType.Byte => SafeTensorsDType.U8,
        torch.ScalarType.Bool => SafeTensorsDType.BOOL,
        _ => throw new NotSupportedException($"Tensors of type {type} cannot be stored in safetensors by this library."),
    };
}
