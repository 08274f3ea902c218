namespace BertFineTune.Checkpoints.Onnx;

/// <summary>How <c>TaskModel.ExportOnnx</c> writes the graph.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>
    /// The default opset: 17, the first with the <c>LayerNormalization</c> operator (ONNX's Operators.md), which the graph
    /// then uses for every LayerNorm.
    /// </summary>
    public const int DefaultOpset = 17;

    /// <summary>
    /// The oldest opset written: 12, the newest whose <c>Unsqueeze</c> (version 11, axes as an attribute) and <c>Cast</c>
    /// (version 9) ONNX Runtime's BERT attention fusion accepts in the attention mask (attention_fusion_helper.h,
    /// <c>MatchInputMaskSubgraph</c>); below 17 every LayerNorm is written decomposed, as torch.onnx wrote it before opset 17.
    /// </summary>
    public const int MinimumOpset = 12;

    /// <summary>The newest opset written (ONNX 1.16, IR version 10); later opsets are not checked against ONNX Runtime here.</summary>
    public const int MaximumOpset = 21;

    /// <summary>
    /// The default-domain opset of the graph: <see cref="DefaultOpset"/> (17) by default, from <see cref="MinimumOpset"/> (12)
    /// to <see cref="MaximumOpset"/> (21). Operators whose signature changed between these opsets are written in the form of
    /// the chosen opset (<c>Unsqueeze</c> and <c>ReduceSum</c> take their axes as an input from 13, <c>ReduceMax</c> and
    /// <c>ReduceMean</c> from 18; <c>Shape</c> has <c>start</c>/<c>end</c> from 15; <c>LayerNormalization</c> exists from 17,
    /// below it a LayerNorm is <c>ReduceMean</c>, <c>Sub</c>, <c>Pow</c>, <c>ReduceMean</c>, <c>Add</c> ε, <c>Sqrt</c>,
    /// <c>Div</c>, <c>Mul</c>, <c>Add</c>). Opset 12 is the one whose graph ONNX Runtime's optimizer fuses into
    /// <c>Attention</c> nodes; there the attention mask's additive constant is −10000, the value ONNX Runtime's matcher
    /// requires, instead of float32's lowest value (docs/onnx-export.md, "Layout and ONNX Runtime's optimizer").
    /// </summary>
    public int Opset { get; init; } = DefaultOpset;

    /// <summary>
    /// How the linear layers are stored: <see cref="OnnxQuantization.None"/> (float32, the default) or
    /// <see cref="OnnxQuantization.DynamicInt8"/> (int8 weights per output channel, activations quantized at run time; see
    /// docs/onnx-export.md, "int8").
    /// </summary>
    public OnnxQuantization Quantization { get; init; } = OnnxQuantization.None;

    /// <summary>Throws when <see cref="Opset"/> is outside [<see cref="MinimumOpset"/>, <see cref="MaximumOpset"/>] or <see cref="Quantization"/> is not a defined value.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The opset is below 12 or above 21, or the quantization is undefined; the message says why.</exception>
    internal void Validate()
    {
        if (Opset < MinimumOpset)
        {
            throw new ArgumentOutOfRangeException(nameof(Opset), Opset,
                $"ONNX export writes opsets {MinimumOpset} to {MaximumOpset}; opset {Opset} is older than that (its Unsqueeze, Pow and ReduceMean "
                + $"forms are not written here). Use Opset = {DefaultOpset} (the default), or {MinimumOpset} for the graph ONNX Runtime fuses into Attention.");
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
