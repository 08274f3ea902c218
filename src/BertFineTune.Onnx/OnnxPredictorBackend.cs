using BertFineTune.Checkpoints;
using BertFineTune.Inference;
using BertFineTune.Tokenization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace BertFineTune.Onnx;

/// <summary>
/// The predictors' ONNX Runtime backend: pads a batch on the right (as the TorchSharp backend's <c>PaddedBatch</c>:
/// <c>input_ids</c> with the pad id, <c>token_type_ids</c> with 0, <c>attention_mask</c> = the tokenizer's mask then 0),
/// feeds the int64 inputs the graph declares, and returns every float32 output with a batch dimension as rows.
/// </summary>
internal sealed class OnnxPredictorBackend : IPredictorBackend
{
    private readonly InferenceSession _session;

    public OnnxPredictorBackend(InferenceSession session, BertConfig config)
    {
        _session = session;
        Config = config;
    }

    /// <inheritdoc />
    public BertConfig Config { get; }

    /// <inheritdoc />
    public IReadOnlyList<IReadOnlyDictionary<string, OutputRow>> Forward(IReadOnlyList<EncodedText> encodings, int padTokenId)
    {
        ArgumentNullException.ThrowIfNull(encodings);
        int rows = encodings.Count, length = encodings.Max(e => e.Length);
        var ids = new long[rows * length];
        var mask = new long[rows * length];
        var types = new long[rows * length];
        Array.Fill(ids, padTokenId);
        for (int r = 0; r < rows; r++)
        {
            var e = encodings[r];
            for (int t = 0; t < e.Length; t++)
            {
                ids[r * length + t] = e.Ids[t];
                mask[r * length + t] = e.AttentionMask[t];
                types[r * length + t] = e.TypeIds[t];
            }
        }
        long[] shape = [rows, length];
        var inputNames = _session.InputNames;
        var inputs = new OrtValue[inputNames.Count];
        try
        {
            for (int i = 0; i < inputs.Length; i++)
            {
                var data = inputNames[i] switch
                {
                    "input_ids" => ids,
                    "attention_mask" => mask,
                    "token_type_ids" => types,
                    var other => throw new InvalidOperationException(
                        $"The ONNX graph has an input \"{other}\"; BertFineTune.Onnx feeds only input_ids, attention_mask and token_type_ids (as TaskModel.ExportOnnx writes them)."),
                };
                inputs[i] = OrtValue.CreateTensorValueFromMemory(data, shape);
            }
            using var runOptions = new RunOptions();
            using var outputs = _session.Run(runOptions, inputNames, inputs, _session.OutputNames);
            var result = new Dictionary<string, OutputRow>[rows];
            for (int r = 0; r < rows; r++)
            {
                result[r] = [];
            }
            for (int o = 0; o < outputs.Count; o++)
            {
                var info = outputs[o].GetTensorTypeAndShape();
                if (info.ElementDataType != TensorElementType.Float || info.Shape.Length == 0 || info.Shape[0] != rows)
                {
                    continue;
                }
                var values = outputs[o].GetTensorDataAsSpan<float>();
                int perRow = values.Length / rows;
                int width = info.Shape.Length == 1 ? 1 : (int)info.Shape[^1];
                for (int r = 0; r < rows; r++)
                {
                    result[r][_session.OutputNames[o]] = new OutputRow(values.Slice(r * perRow, perRow).ToArray(), width);
                }
            }
            return result;
        }
        finally
        {
            foreach (var value in inputs)
            {
                value?.Dispose();
            }
        }
    }
}
