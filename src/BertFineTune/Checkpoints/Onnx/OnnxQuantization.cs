namespace BertFineTune.Checkpoints.Onnx;

/// <summary>How <c>TaskModel.ExportOnnx</c> stores the linear layers (<see cref="OnnxExportOptions.Quantization"/>).</summary>
public enum OnnxQuantization
{
    /// <summary>Every weight in float32: the graph computes what the model computes (within float rounding).</summary>
    None,

    /// <summary>
    /// Dynamic int8 quantization, as ONNX Runtime's <c>quantize_dynamic(per_channel=True, op_types_to_quantize=["MatMul"])</c>
    /// (onnxruntime/python/tools/quantization: quantize.py, operators/matmul.py <c>MatMulInteger</c>, quant_utils.py):
    /// every <c>MatMul</c> of a linear layer (its weight an initializer) stores the weight as int8, symmetric per output
    /// channel (scale = max |w| of the column / 127, zero point 0), and quantizes its input to uint8 at run time
    /// (<c>DynamicQuantizeLinear</c>), then <c>MatMulInteger</c>, <c>Cast</c> to float, <c>Mul</c> by
    /// activation scale × weight scales and the float bias <c>Add</c>. Embeddings (<c>Gather</c>), LayerNorms, the
    /// attention score and context <c>MatMul</c>s (no weight) and a masked-LM decoder read through <c>Transpose</c> stay
    /// float32, as the reference quantizer leaves them. The outputs differ from the float model by the int8 rounding.
    /// </summary>
    DynamicInt8,
}
