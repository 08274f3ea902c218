namespace BertFineTune.Checkpoints;

/// <summary>A safetensors file (or a sharded checkpoint index) breaks a rule of the format.</summary>
/// <remarks>The message names the file, the tensor when there is one, and the rule that was broken.</remarks>
public sealed class SafeTensorsFormatException : FormatException
{
    /// <summary>Creates the exception for <paramref name="filePath"/> and, when known, <paramref name="tensorName"/>.</summary>
    public SafeTensorsFormatException(string filePath, string? tensorName, string rule)
        : base(Compose(filePath, tensorName, rule))
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>The file that broke the rule.</summary>
    public string FilePath { get; }

    /// <summary>The tensor the rule was checked on, or null for file-level rules.</summary>
    public string? TensorName { get; }

    private static string Compose(string filePath, string? tensorName, string rule) =>
        tensorName is null
            ? $"{filePath}: {rule}"
            : $"{filePath}: tensor '{tensorName}': {rule}";
}
