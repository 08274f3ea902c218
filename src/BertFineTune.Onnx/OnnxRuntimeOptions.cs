namespace BertFineTune.Onnx;

/// <summary>Where ONNX Runtime runs the model.</summary>
public enum OnnxExecutionProvider
{
    /// <summary>ONNX Runtime's CPU provider (the default); needs the <c>Microsoft.ML.OnnxRuntime</c> package.</summary>
    Cpu,

    /// <summary>
    /// NVIDIA GPUs through ONNX Runtime's CUDA provider (<c>AppendExecutionProvider_CUDA</c>); needs the
    /// <c>Microsoft.ML.OnnxRuntime.Gpu</c> package instead of <c>Microsoft.ML.OnnxRuntime</c>, and CUDA and cuDNN
    /// libraries ONNX Runtime can load. Nodes the provider does not support run on the CPU.
    /// </summary>
    Cuda,
}

/// <summary>Settings of the ONNX Runtime session that <see cref="OnnxModel.Load"/> creates.</summary>
public sealed record OnnxRuntimeOptions
{
    /// <summary>The execution provider; default <see cref="OnnxExecutionProvider.Cpu"/>.</summary>
    public OnnxExecutionProvider ExecutionProvider { get; init; } = OnnxExecutionProvider.Cpu;

    /// <summary>The CUDA device ordinal when <see cref="ExecutionProvider"/> is <see cref="OnnxExecutionProvider.Cuda"/>; default 0.</summary>
    public int CudaDeviceId { get; init; }

    /// <summary>
    /// Threads that one operator may use (ONNX Runtime's <c>intra_op_num_threads</c>); null (the default) lets ONNX
    /// Runtime choose (one per physical core). At least 1 when set.
    /// </summary>
    public int? IntraOpNumThreads { get; init; }

    /// <summary>
    /// Threads that run independent operators in parallel (ONNX Runtime's <c>inter_op_num_threads</c>); null (the
    /// default) lets ONNX Runtime choose. At least 1 when set.
    /// </summary>
    public int? InterOpNumThreads { get; init; }

    /// <summary>Checks the settings.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A thread count below 1, a negative device id, or an undefined provider.</exception>
    internal void Validate()
    {
        if (!Enum.IsDefined(ExecutionProvider))
        {
            throw new ArgumentOutOfRangeException(nameof(ExecutionProvider), ExecutionProvider, "OnnxRuntimeOptions.ExecutionProvider must be Cpu or Cuda.");
        }
        if (IntraOpNumThreads is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(IntraOpNumThreads), IntraOpNumThreads, "OnnxRuntimeOptions.IntraOpNumThreads must be at least 1, or null for ONNX Runtime's default.");
        }
        if (InterOpNumThreads is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(InterOpNumThreads), InterOpNumThreads, "OnnxRuntimeOptions.InterOpNumThreads must be at least 1, or null for ONNX Runtime's default.");
        }
        if (CudaDeviceId < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(CudaDeviceId), CudaDeviceId, "OnnxRuntimeOptions.CudaDeviceId must not be negative.");
        }
    }
}
