namespace BertFineTune.Checkpoints.Onnx;

/// <summary>How <c>TaskModel.ExportOnnx</c> writes the graph.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>
    /// The oldest opset written: 17, the first with the <c>LayerNormalization</c> operator (ONNX's Operators.md), which the
    /// graph uses for every LayerNorm so that ONNX Runtime fuses it with the residual add (<c>SkipLayerNormalization</c>).
    /// </summary>
    public const int MinimumOpset = 17;

    /// <summary>The newest opset written (ONNX 1.16, IR version 10); later opsets are not checked against ONNX Runtime here.</summary>
    public const int MaximumOpset = 21;

    /// <summary>
    /// The default-domain opset of the graph, <see cref="MinimumOpset"/> (17) by default and at most
    /// <see cref="MaximumOpset"/> (21). Operators whose signature changed between these opsets (<c>ReduceMax</c> and
    /// <c>ReduceL2</c> take their axes as an input from 18) are written in the form of the chosen opset.
    /// </summary>
    public int Opset { get; init; } = MinimumOpset;

    /// <summary>
    /// How the linear layers are stored: <see cref="OnnxQuantization.None"/> (float32, the default) or
    /// <see cref="OnnxQuantization.DynamicInt8"/> (int8 weights per output channel, activations quantized at run time; see
    /// docs/onnx-export.md, "int8").
    /// </summary>
    public OnnxQuantization Quantization { get; init; } = OnnxQuantization.None;

    /// <summary>Throws when <see cref="Opset"/> is outside [<see cref="MinimumOpset"/>, <see cref="MaximumOpset"/>] or <see cref="Quantization"/> is not a defined value.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The opset is below 17 or above 21, or the quantization is undefined; the message says why.</exception>
    internal void Validate()
    {
        if (Opset < MinimumOpset)
        {
            throw new ArgumentOutOfRangeException(nameof(Opset), Opset,
                $"ONNX export needs opset {MinimumOpset} or later: the graph writes every LayerNorm as the LayerNormalization operator, which opset "
                + $"{MinimumOpset} introduced. Use Opset = {MinimumOpset} (the default) or later.");
        }
        if (Opset > MaximumOpset)
        {
            throw new ArgumentOutOfRangeException(nameof(Opset), Opset,
                $"ONNX export writes opsets {MinimumOpset} to {MaximumOpset}; opset {Opset} is newer than this library knows. Use at most {MaximumOpset}.");
        }
        if (!Enum.IsDefined(Quantization))
        {
            throw new ArgumentOutOfRangeException(nameof(Quantization), Quantization,
                $"Quantization must be one of {string.Join(", ", Enum.GetNames<OnnxQuantization>())}.");
        }
    }
}
