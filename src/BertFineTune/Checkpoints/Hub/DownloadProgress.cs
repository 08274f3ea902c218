namespace BertFineTune.Checkpoints.Hub;

/// <summary>Progress of one file download from the Hugging Face Hub.</summary>
/// <param name="FileName">The file in the repository (<c>model.safetensors</c>).</param>
/// <param name="BytesDone">Bytes on disk so far, a resumed part included.</param>
/// <param name="BytesTotal">The file's size as the Hub announced it; <see langword="null"/> when the server did not say.</param>
public sealed record DownloadProgress(string FileName, long BytesDone, long? BytesTotal);
