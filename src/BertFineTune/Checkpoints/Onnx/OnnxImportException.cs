namespace BertFineTune.Checkpoints.Onnx;

/// <summary>
/// An ONNX file cannot be imported as a BERT model: it is not a readable ONNX model, it was fused or quantized by ONNX
/// Runtime, it is not BERT, a weight fits no rule or has the wrong shape, or it disagrees with the <c>config.json</c>
/// given beside it.
/// </summary>
/// <remarks>The message names the file, the node or initializer when there is one, what was wrong and what to do.</remarks>
public sealed class OnnxImportException : FormatException
{
    /// <summary>Creates the exception for <paramref name="filePath"/> and, when known, the graph element <paramref name="element"/>.</summary>
    /// <param name="filePath">The ONNX file (or the config file, for a disagreement) that was read.</param>
    /// <param name="element">The node or initializer the problem is about (e.g. <c>node 'Attention_0' (com.microsoft.Attention)</c>), or null.</param>
    /// <param name="message">What was wrong and what to do.</param>
    public OnnxImportException(string filePath, string? element, string message)
        : base(element is null ? $"{filePath}: {message}" : $"{filePath}: {element}: {message}")
    {
        FilePath = filePath;
        Element = element;
    }

    /// <summary>Creates the exception with the exception that revealed the problem (a protobuf parse error, an I/O error).</summary>
    /// <param name="filePath">The file that was read.</param>
    /// <param name="message">What was wrong and what to do.</param>
    /// <param name="innerException">The underlying exception.</param>
    public OnnxImportException(string filePath, string message, Exception innerException)
        : base($"{filePath}: {message}", innerException)
    {
        FilePath = filePath;
    }

    /// <summary>The file that was read.</summary>
    public string FilePath { get; }

    /// <summary>The node or initializer the problem is about, or null for file-level problems.</summary>
    public string? Element { get; }
}
