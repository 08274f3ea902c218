using Onnx;

namespace BertFineTune.Checkpoints.Onnx;

/// <summary>
/// Refuses graphs whose weights no longer sit in BERT's layout: graphs fused by ONNX Runtime's transformer optimizer
/// (its <c>com.microsoft</c> contrib operators, such as <c>Attention</c> and <c>SkipLayerNormalization</c>) and quantized
/// graphs (integer matmuls, QLinear operators, quantize/dequantize pairs), whose weights are integers with scales.
/// </summary>
internal static class OnnxGraphChecks
{
    /// <summary>Standard-domain operators that only quantized graphs contain (onnx's operator list, quantization section).</summary>
    private static readonly HashSet<string> QuantizedOperators = new(StringComparer.Ordinal)
    {
        "MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv", "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear",
    };

    /// <summary>Throws for the first fused or quantized node of <paramref name="graph"/>.</summary>
    /// <exception cref="OnnxImportException">A node is an ONNX Runtime contrib operator or a quantization operator.</exception>
    public static void RefuseFusedOrQuantized(OnnxGraph graph)
    {
        foreach (var node in graph.Nodes)
        {
            bool contrib = node.Domain.StartsWith("com.microsoft", StringComparison.Ordinal);
            bool quantized = node.OpType.StartsWith("QLinear", StringComparison.Ordinal) || node.OpType.StartsWith("QAttention", StringComparison.Ordinal)
                || node.OpType.StartsWith("QOrdered", StringComparison.Ordinal) || node.OpType.Contains("Integer", StringComparison.Ordinal)
                || QuantizedOperators.Contains(node.OpType) || node.OpType.StartsWith("DynamicQuantize", StringComparison.Ordinal);
            if (quantized)
            {
                throw new OnnxImportException(graph.FilePath, graph.Describe(node),
                    "this graph was quantized (by ONNX Runtime's quantization tools or optimum); its weights are integers with scales, not BERT's float "
                    + "weights. Import the float export before quantization (the .onnx file torch.onnx.export or optimum-cli export wrote).");
            }
            if (contrib)
            {
                throw new OnnxImportException(graph.FilePath, graph.Describe(node),
                    "this graph was optimized by ONNX Runtime (its transformer optimizer fuses attention, LayerNorm and GELU into com.microsoft "
                    + "operators, which move and merge the weights). Import the export before optimization (the .onnx file torch.onnx.export or "
                    + "optimum-cli export wrote, without --optimize).");
            }
        }
    }

    /// <summary>A weight is an initializer a rule maps; others (shape constants, scalars) are skipped.</summary>
    public static bool IsWeightCandidate(TensorProto tensor) => OnnxGraph.IsFloat(tensor) && OnnxGraph.ElementCount(tensor) > 1;
}
