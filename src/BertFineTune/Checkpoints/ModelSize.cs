using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace BertFineTune.Checkpoints;

/// <summary>
/// Bounds on the sizes a <c>config.json</c> declares, checked before a model is built: against the checkpoint's tensor
/// shapes (read from the safetensors header, no data) and against the memory the process may use. A config is data
/// from a file, and its sizes decide allocations of any size; these checks turn a size no weights back, or no machine
/// holds, into a <see cref="BertConfigException"/> naming the field instead of minutes of allocation or a native crash.
/// </summary>
internal static partial class ModelSize
{
    /// <summary>Bytes per parameter as a model is built (float32; other dtypes are converted after building).</summary>
    public const int BytesPerParameter = 4;

    /// <summary>One additive part of the parameter count.</summary>
    /// <param name="Description">The part and its formula with the values, e.g. "num_hidden_layers 12 × 7,087,872 per layer".</param>
    /// <param name="Parameters">Its parameter count.</param>
    internal sealed record Part(string Description, Int128 Parameters);

    /// <summary>
    /// The parts of the parameter count of transformers' <c>BertModel</c> with its pooler (<c>modeling_bert.py</c>:
    /// <c>BertEmbeddings</c>, <c>BertLayer</c>, <c>BertPooler</c>), in exact integer arithmetic so that no size overflows.
    /// With V vocab_size, H hidden_size, P max_position_embeddings, T type_vocab_size, I intermediate_size, L
    /// num_hidden_layers: embeddings (V + P + T)·H + 2H (LayerNorm); each layer 4(H² + H) (query, key, value, attention
    /// output) + 2H (LayerNorm) + (H·I + I) + (I·H + H) + 2H (LayerNorm) = 4H² + 2HI + 9H + I; pooler H² + H. For
    /// bert-base-uncased this is 109,482,240, the count transformers' <c>model.num_parameters()</c> gives.
    /// </summary>
    public static IReadOnlyList<Part> Parts(BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Int128 h = config.HiddenSize, v = config.VocabSize, p = config.MaxPositionEmbeddings, t = config.TypeVocabSize;
        Int128 i = config.IntermediateSize, l = config.NumHiddenLayers;
        Int128 perLayer = 4 * h * h + 2 * h * i + 9 * h + i;
        return
        [
            new($"num_hidden_layers {config.NumHiddenLayers} × {N(perLayer)} parameters per layer (hidden_size {config.HiddenSize}, intermediate_size {config.IntermediateSize})",
                l * perLayer),
            new($"word embeddings vocab_size {config.VocabSize} × hidden_size {config.HiddenSize}", v * h),
            new($"position embeddings max_position_embeddings {config.MaxPositionEmbeddings} × hidden_size {config.HiddenSize}",
                p * h),
            new($"token type embeddings type_vocab_size {config.TypeVocabSize} × hidden_size {config.HiddenSize}",
                t * h),
            new($"embedding LayerNorm and pooler (hidden_size {config.HiddenSize})", 2 * h + h * h + h),
        ];
    }

    /// <summary>The parameter count of the encoder with its pooler (<see cref="Parts"/>); task heads add little beside it.</summary>
    public static Int128 ParameterCount(BertConfig config) => Parts(config).Aggregate(Int128.Zero, (sum, part) => sum + part.Parameters);

    /// <summary>The memory this process may use: the GC's <c>TotalAvailableMemoryBytes</c> (physical memory, or the container's limit).</summary>
    public static long AvailableMemoryBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>
    /// Throws when the float32 parameters of <paramref name="config"/> alone need more than <paramref name="availableBytes"/>
    /// (default <see cref="AvailableMemoryBytes"/>); training needs several times more, so a model that passes may still
    /// not train, but one that fails can never be built.
    /// </summary>
    /// <param name="config">The configuration about to be built.</param>
    /// <param name="source">Names the config in the message (its path).</param>
    /// <param name="availableBytes">The bound; null for the memory this process may use.</param>
    /// <exception cref="BertConfigException">
    /// The model does not fit; <see cref="BertConfigException.Field"/> is the field whose value, set to transformers'
    /// BertConfig default, shrinks the model most, and the message gives every part's size.
    /// </exception>
    public static void CheckFitsMemory(BertConfig config, string source, long? availableBytes = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        long available = availableBytes ?? AvailableMemoryBytes();
        var parameters = ParameterCount(config);
        var bytes = parameters * BytesPerParameter;
        if (bytes <= available)
        {
            return;
        }
        var field = Culprit(config);
        var parts = Parts(config).OrderByDescending(p => p.Parameters)
            .Select(p => $"{p.Description} = {N(p.Parameters)} ({Bytes(p.Parameters * BytesPerParameter)})");
        throw new BertConfigException(source, field,
            $"the model would have {N(parameters)} parameters ({Bytes(bytes)} as float32), more than the {Bytes(available)} of memory "
            + $"this process may use; {field} {FieldValue(config, field)} is the size to check. Parts: {string.Join("; ", parts)}. "
            + "Set the sizes of the model the weights were trained as (a config.json transformers wrote for them), or use a machine with more memory.");
    }

    /// <summary>
    /// Throws when a size in <paramref name="config"/> is not backed by the tensors of <paramref name="checkpoint"/>: the
    /// embeddings' shapes give vocab_size, max_position_embeddings, type_vocab_size and hidden_size, the first layer's
    /// feed-forward gives intermediate_size, and the layers present bound num_hidden_layers. Only tensor shapes are read.
    /// A checkpoint without a tensor for a size (e.g. no encoder layers at all) does not constrain it here; the load
    /// report lists such parameters as newly initialised.
    /// </summary>
    /// <remarks>
    /// transformers refuses a shape that differs as "size mismatch" (<c>modeling_utils.py</c>, <c>_find_mismatched_keys</c>),
    /// but only after building the model, and it would build num_hidden_layers layers and initialise the missing ones
    /// randomly; here both are refused before anything is allocated, so a config whose sizes no weights back fails at once.
    /// Fewer layers than the checkpoint has remain allowed (the extra ones are unused keys), as in transformers.
    /// </remarks>
    /// <param name="config">The configuration about to be built.</param>
    /// <param name="checkpoint">The weights it will be loaded with.</param>
    /// <param name="configSource">Names the config (its path).</param>
    /// <param name="checkpointSource">Names the checkpoint (its folder or file).</param>
    /// <exception cref="BertConfigException">A size differs; the message names the field, the tensor and both values.</exception>
    public static void CheckBackedByWeights(BertConfig config, ICheckpointTensors checkpoint, string configSource, string checkpointSource)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(checkpoint);
        var names = checkpoint.Names.ToHashSet(StringComparer.Ordinal);
        string? Find(string key) => names.Contains(key) ? key : names.Contains("bert." + key) ? "bert." + key : null;

        void Dimension(string key, int axis, string field, int value, string fix)
        {
            if (Find(key) is not { } name)
            {
                return;
            }
            var shape = checkpoint.ShapeOf(name);
            if (shape.Length <= axis || shape[axis] == value)
            {
                return;
            }
            throw new BertConfigException(configSource, field,
                $"{field} is {value} but tensor '{name}' in {checkpointSource} has shape [{string.Join(", ", shape)}], "
                + $"whose dimension {axis} is {field}: {shape[axis]}. Set {field} to {shape[axis]}{fix}.");
        }

        const string sameModel = ", the size the weights were saved with (a config.json from another model does not fit these weights)";
        Dimension("embeddings.word_embeddings.weight", 1, "hidden_size", config.HiddenSize, sameModel);
        Dimension("embeddings.word_embeddings.weight", 0, "vocab_size", config.VocabSize,
            sameModel + "; to add tokens, load with the saved size and add them (WithAddedTokens), which resizes the embeddings");
        Dimension("embeddings.position_embeddings.weight", 0, "max_position_embeddings", config.MaxPositionEmbeddings, sameModel);
        Dimension("embeddings.token_type_embeddings.weight", 0, "type_vocab_size", config.TypeVocabSize, sameModel);
        Dimension("encoder.layer.0.attention.self.query.weight", 1, "hidden_size", config.HiddenSize, sameModel);
        Dimension("encoder.layer.0.intermediate.dense.weight", 0, "intermediate_size", config.IntermediateSize, sameModel);

        // The layers present: encoder.layer.<n>.… with or without the base prefix.
        long last = -1;
        string? lastName = null;
        foreach (var name in names)
        {
            var match = LayerKey().Match(name);
            if (match.Success && long.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                && index > last)
            {
                last = index;
                lastName = name;
            }
        }
        if (last >= 0 && config.NumHiddenLayers > last + 1)
        {
            throw new BertConfigException(configSource, "num_hidden_layers",
                $"num_hidden_layers is {config.NumHiddenLayers} but {checkpointSource} holds weights for layers 0 to {last} only "
                + $"(the last is tensor '{lastName}'); layers without weights would be random. Set num_hidden_layers to {last + 1}.");
        }
    }

    /// <summary>
    /// An exception that says what was being built when TorchSharp's allocator failed: the native message's first
    /// line only (the rest are C++ frames), the parameter count and bytes of <paramref name="config"/>.
    /// </summary>
    /// <param name="config">The configuration being built.</param>
    /// <param name="source">Names the config (its path).</param>
    /// <param name="nativeFailure">TorchSharp's exception.</param>
    /// <param name="action">What failed, e.g. "building the model" or "moving the model to cuda".</param>
    public static InvalidOperationException AllocationFailed(BertConfig config, string source, Exception nativeFailure,
        string action = "building the model")
    {
        var first = nativeFailure.Message.Split('\n', 2)[0].Trim();
        var parameters = ParameterCount(config);
        return new InvalidOperationException(
            $"{source}: {action} ({N(parameters)} parameters, {Bytes(parameters * BytesPerParameter)} as float32, with "
            + $"vocab_size {config.VocabSize}, hidden_size {config.HiddenSize}, num_hidden_layers {config.NumHiddenLayers}, "
            + $"intermediate_size {config.IntermediateSize}) failed because memory ran out: {first} "
            + "Check these sizes in config.json, free memory, or use a machine (or device) with more.");
    }

    /// <summary>Whether <paramref name="e"/> is a failure of TorchSharp's native code (an allocation, typically) rather than of .NET.</summary>
    public static bool IsNativeFailure(Exception e) => e is ExternalException or OutOfMemoryException;

    /// <summary>The field whose value, replaced by transformers' BertConfig default, shrinks the parameter count most.</summary>
    internal static string Culprit(BertConfig config)
    {
        var defaults = new BertConfig();
        var candidates = new (string Field, BertConfig Reduced)[]
        {
            ("num_hidden_layers", config with { NumHiddenLayers = Math.Min(config.NumHiddenLayers, defaults.NumHiddenLayers) }),
            ("hidden_size", config with { HiddenSize = Math.Min(config.HiddenSize, defaults.HiddenSize) }),
            ("vocab_size", config with { VocabSize = Math.Min(config.VocabSize, defaults.VocabSize) }),
            ("intermediate_size", config with { IntermediateSize = Math.Min(config.IntermediateSize, defaults.IntermediateSize) }),
            ("max_position_embeddings", config with { MaxPositionEmbeddings = Math.Min(config.MaxPositionEmbeddings, defaults.MaxPositionEmbeddings) }),
            ("type_vocab_size", config with { TypeVocabSize = Math.Min(config.TypeVocabSize, defaults.TypeVocabSize) }),
        };
        // Ties (nothing shrinks) go to the first candidate, the one a long run of layers inflates.
        return candidates.OrderBy(c => ParameterCount(c.Reduced)).First().Field;
    }

    private static int FieldValue(BertConfig config, string field) => field switch
    {
        "num_hidden_layers" => config.NumHiddenLayers,
        "hidden_size" => config.HiddenSize,
        "vocab_size" => config.VocabSize,
        "intermediate_size" => config.IntermediateSize,
        "max_position_embeddings" => config.MaxPositionEmbeddings,
        _ => config.TypeVocabSize,
    };

    private static string N(Int128 value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Bytes(Int128 bytes)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = (double)bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? $"{N(bytes)} bytes" : $"{value.ToString("0.##", CultureInfo.InvariantCulture)} {units[unit]}";
    }

    [GeneratedRegex(@"^(?:bert\.)?encoder\.layer\.(\d+)\.")]
    private static partial Regex LayerKey();
}
