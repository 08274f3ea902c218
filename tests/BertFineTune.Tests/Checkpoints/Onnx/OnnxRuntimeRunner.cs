using Microsoft.ML.OnnxRuntime;
using DenseTensor = Microsoft.ML.OnnxRuntime.Tensors.DenseTensor<long>;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints.Onnx;

/// <summary>Runs an ONNX file in ONNX Runtime (the reference the importer is checked against) on int64 BERT inputs.</summary>
internal sealed class OnnxRuntimeRunner : IDisposable
{
    private readonly InferenceSession _session;

    public OnnxRuntimeRunner(string onnxFile)
    {
        // One thread and no graph rewrites: the reference is the graph as exported, computed in float32.
        var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        _session = new InferenceSession(onnxFile, options);
    }

    /// <summary>The names of the graph outputs, in order.</summary>
    public IReadOnlyList<string> OutputNames => _session.OutputNames;

    /// <summary>Runs the graph on the inputs it declares among <paramref name="inputs"/>; every output as a float32 tensor.</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs)
    {
        var values = _session.InputNames.Select(name =>
        {
            var tensor = inputs[name].to(ScalarType.Int64).contiguous();
            var dense = new DenseTensor(tensor.data<long>().ToArray(), tensor.shape.Select(d => (int)d).ToArray());
            return NamedOnnxValue.CreateFromTensor(name, dense);
        }).ToList();
        using var results = _session.Run(values);
        return results.ToDictionary(r => r.Name, r =>
        {
            var output = r.AsTensor<float>();
            return tensor(output.ToArray(), output.Dimensions.ToArray().Select(d => (long)d).ToArray());
        });
    }

    public void Dispose() => _session.Dispose();
}
