using static TorchSharp.torch;

namespace BertFineTune.Checkpoints.Onnx;

/// <summary>
/// Dynamic int8 quantization of a linear layer's <c>MatMul</c>, written as ONNX Runtime's dynamic quantizer writes it
/// (onnxruntime/python/tools/quantization, <c>quantize_dynamic</c> with <c>per_channel=True</c>, weight type QInt8,
/// <c>reduce_range=False</c>): the weight [in, out] becomes an int8 initializer with one scale per output column
/// (<see cref="QuantizePerColumn"/>) and an int8 zero point of 0 per column; the input is quantized to uint8 at run time by
/// <c>DynamicQuantizeLinear</c> (once per input value, shared by every MatMul that reads it, as
/// <c>onnx_quantizer.py</c> <c>__quantize_inputs</c> reuses the <c>&lt;input&gt;_QuantizeLinear</c> node); then, as
/// <c>operators/matmul.py</c> <c>MatMulInteger.quantize</c> writes it: <c>MatMulInteger</c>(x_q, w_q, x_zero_point,
/// w_zero_point) → int32, <c>Cast</c> to float, <c>Mul</c> by the product of the activation scale and the weight scales.
/// </summary>
internal static class OnnxDynamicQuantization
{
    // numpy.finfo(numpy.float32).tiny, the smallest normal float32 (2^-126): compute_scale_zp's floor for a usable scale.
    private static readonly float SmallestNormal = BitConverter.Int32BitsToSingle(0x00800000);

    /// <summary>An int8 weight and its per-column scales.</summary>
    /// <param name="Values">The quantized weight, row-major like the input ([rows, columns]).</param>
    /// <param name="Scales">One scale per column (output channel); the zero points are all 0.</param>
    internal readonly record struct QuantizedWeight(sbyte[] Values, float[] Scales);

    /// <summary>
    /// Quantizes <paramref name="weight"/> ([rows, columns] row-major: a MatMul weight [in, out]) to int8, symmetric, one
    /// scale per column, by the rule of onnxruntime's quant_utils.py: for each column (base_quantizer.py
    /// <c>quantize_weight_per_channel_impl</c>, axis −1 of the MatMul weight) <c>quantize_data</c> →
    /// <c>compute_data_quant_params</c>: rmin = min(min(column), 0), rmax = max(max(column), 0); <c>compute_scale_zp</c> with
    /// symmetric=True over the symmetric int8 range [qmin, qmax] = [−127, 127] (<c>get_qmin_qmax_for_qType</c>,
    /// <c>ONNX_INT_TYPE_SYMMETRIC_RANGE</c>; reduce_range off): absmax = max(|rmin|, |rmax|), scale = float32(float64(2·absmax) / 254)
    /// (the range difference is taken in float32, the division in float64, the result cast to float32), zero point
    /// round((qmin + qmax) / 2) = 0; a scale below float32's smallest normal (an all-zero column) becomes 1 with zero point 0.
    /// Then <c>quantize_nparray</c>: q = clip(round(w / scale) + 0), the division in float32 and numpy's round half to even.
    /// </summary>
    /// <param name="weight">The float weight, <paramref name="rows"/> × <paramref name="columns"/> values.</param>
    /// <param name="rows">The input dimension.</param>
    /// <param name="columns">The output dimension (one scale each).</param>
    /// <param name="name">The weight's name, for the error message.</param>
    /// <exception cref="ArgumentException">The length is not rows × columns, or a value is NaN or infinite.</exception>
    public static QuantizedWeight QuantizePerColumn(ReadOnlySpan<float> weight, int rows, int columns, string name)
    {
        if (rows <= 0 || columns <= 0 || weight.Length != (long)rows * columns)
        {
            throw new ArgumentException($"Weight '{name}' has {weight.Length} values; a [{rows}, {columns}] weight needs {(long)rows * columns}.", nameof(weight));
        }
        var values = new sbyte[weight.Length];
        var scales = new float[columns];
        for (int c = 0; c < columns; c++)
        {
            float rmin = 0f, rmax = 0f;
            for (int r = 0; r < rows; r++)
            {
                float w = weight[r * columns + c];
                if (!float.IsFinite(w))
                {
                    throw new ArgumentException(
                        $"Weight '{name}' holds {w} at [{r}, {c}]; int8 quantization needs finite weights. Export without quantization, or fix the model's weights (a diverged training run).",
                        nameof(weight));
                }
                rmin = MathF.Min(rmin, w);
                rmax = MathF.Max(rmax, w);
            }
            float absMax = MathF.Max(MathF.Abs(rmin), MathF.Abs(rmax));
            // dr = rmax − rmin of the symmetrised range, in float32 (the data's dtype): exactly 2·absmax; dq = 127 − (−127).
            double scale = (double)(absMax + absMax) / 254.0;
            float scale32 = scale < SmallestNormal ? 1f : (float)scale;
            scales[c] = scale32;
            for (int r = 0; r < rows; r++)
            {
                // MathF.Round rounds half to even, as numpy's round does.
                float q = MathF.Round(weight[r * columns + c] / scale32);
                values[r * columns + c] = (sbyte)Math.Clamp(q, -127f, 127f);
            }
        }
        return new QuantizedWeight(values, scales);
    }

    /// <summary>
    /// Appends the dynamically quantized product <paramref name="input"/> [.., in] × <paramref name="weight"/> [in, out] →
    /// float [.., out] (without bias) and returns its name; the weight is stored as <c>&lt;name&gt;_quantized</c> (int8),
    /// <c>&lt;name&gt;_scale</c> (float [out]) and <c>&lt;name&gt;_zero_point</c> (int8 [out], zeros), as ONNX Runtime names them.
    /// </summary>
    /// <exception cref="ArgumentException">The weight is not 2-D or holds a non-finite value.</exception>
    public static string MatMul(OnnxGraphWriter writer, string input, Tensor weight, string name)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.dim() != 2)
        {
            throw new ArgumentException($"Weight '{name}' has shape [{string.Join(", ", weight.shape)}]; a MatMul weight is [in, out].", nameof(weight));
        }
        using var scope = NewDisposeScope();
        var data = weight.detach().to(CPU).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        return MatMul(writer, input, data, (int)weight.shape[0], (int)weight.shape[1], name);
    }

    /// <summary>As <see cref="MatMul(OnnxGraphWriter, string, Tensor, string)"/>, on a row-major [rows, columns] array.</summary>
    public static string MatMul(OnnxGraphWriter writer, string input, float[] weight, int rows, int columns, string name)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(weight);
        var quantized = QuantizePerColumn(weight, rows, columns, name);
        var weightQ = writer.Int8Weight(name + "_quantized", quantized.Values, rows, columns);
        var weightScale = writer.Weight(name + "_scale", quantized.Scales, columns);
        var weightZeroPoint = writer.Int8Weight(name + "_zero_point", new sbyte[columns], columns);
        var (inputQ, inputScale, inputZeroPoint) = writer.DynamicQuantizeLinear(input);
        var product = writer.Node("MatMulInteger", [inputQ, weightQ, inputZeroPoint, weightZeroPoint]);
        var asFloat = writer.Node("Cast", [product], ("to", (long)global::Onnx.TensorProto.Types.DataType.Float));
        var scales = writer.Node("Mul", [inputScale, weightScale]);
        return writer.Node("Mul", [asFloat, scales]);
    }
}
