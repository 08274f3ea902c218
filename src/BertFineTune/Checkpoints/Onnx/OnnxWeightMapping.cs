using System.Text.RegularExpressions;
using Onnx;

namespace BertFineTune.Checkpoints.Onnx;

/// <summary>Where a BERT parameter comes from in the ONNX file.</summary>
/// <param name="Initializer">The initializer (or <c>Constant</c> output) holding it.</param>
/// <param name="Tensor">Its tensor.</param>
/// <param name="Transposed">Stored as [in, out] for a MatMul (or a Gemm without transB): transpose to PyTorch's [out, in].</param>
/// <param name="Rule">How it was found, for the report.</param>
internal sealed record OnnxWeight(string Initializer, TensorProto Tensor, bool Transposed, string Rule)
{
    /// <summary>The shape as PyTorch holds the parameter.</summary>
    public long[] Shape => Transposed ? [Tensor.Dims[1], Tensor.Dims[0]] : [.. Tensor.Dims];
}

/// <summary>
/// Maps the float initializers of a torch.onnx / optimum export of a BERT model to Hugging Face parameter keys (without
/// the <c>bert.</c> prefix). The rules, in order:
/// <list type="number">
/// <item>A named initializer whose name (less a leading <c>bert.</c>) is a BERT parameter key maps by name:
/// <c>torch.onnx.export</c> keeps a parameter's name when the graph reads the parameter itself (embeddings, biases,
/// LayerNorms, a Gemm's weight). <c>cls.predictions.decoder.bias</c> is <c>cls.predictions.bias</c> (transformers ties the two).</item>
/// <item>Any other weight read as the second input of a <c>MatMul</c> whose output feeds an <c>Add</c> with the named bias
/// <c>X.bias</c> (either input order) is <c>X.weight</c>, stored transposed as [in, out]: the exporter folds
/// <c>Transpose(X.weight)</c> of <c>F.linear</c> into a new, renamed initializer. The weight may also be read through a
/// <c>Transpose</c> node (unfolded exports), then it is in PyTorch's layout already. The masked-LM decoder, whose bias is
/// <c>cls.predictions.bias</c>, is <c>cls.predictions.decoder.weight</c>.</item>
/// <item>A <c>Gemm</c> (the pooler and classifiers on the pooled output) gives <c>X.weight</c> for its second input from the
/// bias <c>X.bias</c> in its third, as is with <c>transB = 1</c> and transposed without.</item>
/// </list>
/// A float initializer with more than one element that no rule maps is refused: nothing is guessed.
/// </summary>
internal static partial class OnnxWeightMapping
{
    [GeneratedRegex(@"^(embeddings\.(word_embeddings|position_embeddings|token_type_embeddings|LayerNorm)\.(weight|bias)"
        + @"|encoder\.layer\.\d+\.[A-Za-z_.]+\.(weight|bias)|pooler\.dense\.(weight|bias)|classifier\.(weight|bias)"
        + @"|qa_outputs\.(weight|bias)|cls\.predictions\.(bias|decoder\.(weight|bias)|transform\.(dense|LayerNorm)\.(weight|bias))"
        + @"|cls\.seq_relationship\.(weight|bias))$", RegexOptions.CultureInvariant)]
    private static partial Regex BertKey();

    /// <summary>The BERT parameter key an initializer name stands for, or null: drops <c>bert.</c>, renames the decoder bias.</summary>
    public static string? KeyOf(string name)
    {
        var key = name.StartsWith("bert.", StringComparison.Ordinal) ? name["bert.".Length..] : name;
        if (!BertKey().IsMatch(key))
        {
            return null;
        }
        return key == "cls.predictions.decoder.bias" ? "cls.predictions.bias" : key;
    }

    /// <summary>
    /// Maps every weight of <paramref name="graph"/>: key → source, and the names of the float weights no rule maps
    /// (refused by <see cref="RefuseUnmapped"/> once the graph is known to be BERT, so a graph of another model is
    /// called that rather than listed weight by weight).
    /// </summary>
    /// <exception cref="OnnxImportException">Two initializers for one key, or a Gemm that scales its inputs.</exception>
    public static (Dictionary<string, OnnxWeight> Weights, List<string> Unmapped) Map(OnnxGraph graph)
    {
        var unmapped = new List<string>();
        var result = new Dictionary<string, OnnxWeight>(StringComparer.Ordinal);
        void Add(string key, OnnxWeight weight)
        {
            if (result.TryGetValue(key, out var other) && other.Initializer != weight.Initializer)
            {
                throw new OnnxImportException(graph.FilePath, $"initializer '{weight.Initializer}'",
                    $"maps to '{key}', which initializer '{other.Initializer}' already provides; the graph holds two copies of one parameter. "
                    + "Export the model again, or import the export before any graph surgery.");
            }
            result[key] = weight;
        }

        foreach (var (name, tensor) in graph.Initializers)
        {
            // A named parameter may have one element (the bias of a one-label classifier): its name says it is a weight.
            if (OnnxGraph.IsFloat(tensor) && KeyOf(name) is { } key)
            {
                Add(key, new OnnxWeight(name, tensor, false, "by name"));
            }
        }
        // Weights behind Constant nodes have no initializer, so they are found only through the nodes that read them.
        var unnamed = graph.Initializers.Where(p => OnnxGraphChecks.IsWeightCandidate(p.Value) && KeyOf(p.Key) is null).Select(p => p.Key)
            .Concat(graph.Nodes.Where(n => n.OpType == "Constant" && n.Output.Count == 1 && graph.Constant(n.Output[0]) is { } t
                && OnnxGraphChecks.IsWeightCandidate(t)).Select(n => n.Output[0]))
            .ToList();
        foreach (var name in unnamed)
        {
            var tensor = graph.Constant(name)!;
            var found = FollowToBias(graph, name, tensor);
            if (found is null)
            {
                unmapped.Add(name);
                continue;
            }
            Add(found.Value.Key, found.Value.Weight);
        }
        return (result, unmapped);
    }

    /// <summary>Throws for the first of <paramref name="unmapped"/>, naming it, its shape and the nodes that read it.</summary>
    /// <exception cref="OnnxImportException">Always, when <paramref name="unmapped"/> is not empty.</exception>
    public static void RefuseUnmapped(OnnxGraph graph, IReadOnlyList<string> unmapped)
    {
        if (unmapped.Count == 0)
        {
            return;
        }
        var name = unmapped[0];
        var tensor = graph.Constant(name)!;
        var readers = graph.Consumers(name).Select(graph.Describe).ToList();
        throw new OnnxImportException(graph.FilePath, $"initializer '{name}' [{string.Join(", ", tensor.Dims)}]",
            "is a float weight that no rule maps to a BERT parameter (it is not named after one, and is not a MatMul/Gemm weight whose "
            + $"bias is a named '….bias' initializer; read by {(readers.Count == 0 ? "no node" : string.Join(", ", readers))})"
            + (unmapped.Count > 1 ? $"; {unmapped.Count - 1} more such weight(s)" : "") + ". "
            + "Only BERT models exported by torch.onnx or optimum are imported; export the transformers model again without renaming or "
            + "folding its biases.");
    }

    /// <summary>Rules 2 and 3: the key of a weight read by a MatMul or Gemm (directly or through a Cast) whose bias is named.</summary>
    private static (string Key, OnnxWeight Weight)? FollowToBias(OnnxGraph graph, string initializer, TensorProto tensor)
    {
        if (tensor.Dims.Count != 2)
        {
            return null;
        }
        // A half-precision weight may reach its MatMul through a Cast to float (mixed-precision converters insert one).
        var readers = graph.Consumers(initializer).SelectMany(n => n.OpType == "Cast" ? graph.Consumers(n.Output[0]).Select(c => (Node: c, Value: n.Output[0])) : [(n, initializer)]);
        foreach (var (reader, name) in readers)
        {
            if (reader.OpType == "MatMul" && reader.Input.Count == 2 && reader.Input[1] == name
                && BiasAfter(graph, reader.Output[0]) is { } key)
            {
                return (WeightKeyOf(key), new OnnxWeight(initializer, tensor, true, $"MatMul weight of {key}"));
            }
            if (reader.OpType == "Transpose" && IsMatrixTranspose(reader))
            {
                foreach (var matMul in graph.Consumers(reader.Output[0]).Where(n => n.OpType == "MatMul" && n.Input[1] == reader.Output[0]))
                {
                    if (BiasAfter(graph, matMul.Output[0]) is { } transposedKey)
                    {
                        return (WeightKeyOf(transposedKey), new OnnxWeight(initializer, tensor, false, $"transposed MatMul weight of {transposedKey}"));
                    }
                }
            }
            if (reader.OpType == "Gemm" && reader.Input.Count == 3 && reader.Input[1] == name
                && graph.Initializers.ContainsKey(reader.Input[2]) && KeyOf(reader.Input[2]) is { } gemmBias && gemmBias.EndsWith(".bias", StringComparison.Ordinal))
            {
                if (OnnxGraph.FloatAttribute(reader, "alpha") is { } alpha && alpha != 1f || OnnxGraph.FloatAttribute(reader, "beta") is { } beta && beta != 1f
                    || OnnxGraph.IntAttribute(reader, "transA", 0) != 0)
                {
                    throw new OnnxImportException(graph.FilePath, graph.Describe(reader),
                        "scales or transposes its inputs (alpha, beta or transA), which a Linear layer's export never does; export the model again without graph surgery.");
                }
                bool transB = OnnxGraph.IntAttribute(reader, "transB", 0) != 0;
                return (WeightKeyOf(gemmBias), new OnnxWeight(initializer, tensor, !transB, $"Gemm weight of {gemmBias}"));
            }
        }
        return null;
    }

    /// <summary>The bias key added to <paramref name="value"/> by its only Add reader, when that bias is a named initializer.</summary>
    private static string? BiasAfter(OnnxGraph graph, string value)
    {
        foreach (var add in graph.Consumers(value).Where(n => n.OpType == "Add" && n.Input.Count == 2))
        {
            var other = add.Input[0] == value ? add.Input[1] : add.Input[0];
            if (graph.Initializers.ContainsKey(other) && KeyOf(other) is { } key && key.EndsWith(".bias", StringComparison.Ordinal))
            {
                return key;
            }
        }
        return null;
    }

    /// <summary><c>X.weight</c> for the bias <c>X.bias</c>; the masked-LM decoder's bias is <c>cls.predictions.bias</c>.</summary>
    private static string WeightKeyOf(string biasKey) =>
        biasKey == "cls.predictions.bias" ? "cls.predictions.decoder.weight" : biasKey[..^".bias".Length] + ".weight";

    private static bool IsMatrixTranspose(NodeProto node)
    {
        var perm = node.Attribute.FirstOrDefault(a => a.Name == "perm")?.Ints;
        return perm is null || perm.SequenceEqual([1L, 0L]);
    }
}
