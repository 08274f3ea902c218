using static TorchSharp.torch;

namespace BertFineTune.Checkpoints;

/// <summary>Named tensors a model's parameters are loaded from: a safetensors checkpoint, or weights imported in memory.</summary>
internal interface ICheckpointTensors
{
    /// <summary>Every tensor name.</summary>
    IReadOnlyCollection<string> Names { get; }

    /// <summary>The shape of <paramref name="name"/>, without reading its data.</summary>
    long[] ShapeOf(string name);

    /// <summary>Reads <paramref name="name"/>, converted to <paramref name="convertTo"/> when given; the caller disposes it.</summary>
    Tensor ReadTensor(string name, ScalarType? convertTo = null);
}

/// <summary>Tensors held in memory (e.g. imported from an ONNX file) as a checkpoint; reading returns copies.</summary>
internal sealed class InMemoryCheckpoint(IReadOnlyDictionary<string, Tensor> tensors) : ICheckpointTensors
{
    /// <inheritdoc />
    public IReadOnlyCollection<string> Names => tensors.Keys.ToList();

    /// <inheritdoc />
    public long[] ShapeOf(string name) => tensors[name].shape;

    /// <inheritdoc />
    public Tensor ReadTensor(string name, ScalarType? convertTo = null) =>
        convertTo is { } type && type != tensors[name].dtype ? tensors[name].to(type) : tensors[name].clone();
}
