using BertFineTune.Checkpoints;
using BertFineTune.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace BertFineTune.Modeling;

/// <summary>What to compute besides the last hidden state.</summary>
/// <param name="OutputHiddenStates">Return the embeddings and every layer's output.</param>
/// <param name="OutputAttentions">Return every layer's attention probabilities (runs the explicit attention path).</param>
public sealed record EncoderOutputOptions(bool OutputHiddenStates = false, bool OutputAttentions = false);

/// <summary>
/// The encoder's outputs; disposing it disposes every tensor. They are in the weights' type (float32) also under mixed
/// precision, where the hidden states are computed in bfloat16 and widened on the way out.
/// </summary>
public sealed class BertEncoderOutput : IDisposable
{
    internal BertEncoderOutput(Tensor lastHiddenState, Tensor? poolerOutput, IReadOnlyList<Tensor>? hiddenStates,
        IReadOnlyList<Tensor>? attentions)
    {
        LastHiddenState = lastHiddenState;
        PoolerOutput = poolerOutput;
        HiddenStates = hiddenStates;
        Attentions = attentions;
    }

    /// <summary>The top layer's output [batch, seq, hidden].</summary>
    public Tensor LastHiddenState { get; }

    /// <summary>The pooled first token [batch, hidden], or null when the encoder has no pooler.</summary>
    public Tensor? PoolerOutput { get; }

    /// <summary>The embedding output followed by each layer's output (layers + 1 tensors), when requested.</summary>
    public IReadOnlyList<Tensor>? HiddenStates { get; }

    /// <summary>Each layer's attention probabilities [batch, heads, seq, seq], when requested.</summary>
    public IReadOnlyList<Tensor>? Attentions { get; }

    /// <summary>The outputs on <paramref name="device"/>: new tensors (copies, or aliases when already there) owned by the result.</summary>
    internal BertEncoderOutput To(Device device) => new(
        LastHiddenState.to(device), PoolerOutput?.to(device),
        HiddenStates?.Select(t => t.to(device)).ToList(), Attentions?.Select(t => t.to(device)).ToList());

    /// <summary>
    /// Aliases of the tensors (the same storage, new handles in the current dispose scope), so that a head may dispose
    /// what <c>Encode</c> returned without freeing the cached originals.
    /// </summary>
    internal BertEncoderOutput Alias() => new(
        LastHiddenState.alias(), PoolerOutput?.alias(),
        HiddenStates?.Select(t => t.alias()).ToList(), Attentions?.Select(t => t.alias()).ToList());

    /// <inheritdoc />
    public void Dispose()
    {
        LastHiddenState.Dispose();
        PoolerOutput?.Dispose();
        foreach (var t in HiddenStates ?? [])
        {
            t.Dispose();
        }
        foreach (var t in Attentions ?? [])
        {
            t.Dispose();
        }
    }
}

/// <summary>
/// The BERT encoder (transformers' <c>BertModel</c>): embeddings, a stack of transformer layers and an optional pooler.
/// Parameter names equal the Hugging Face keys (<c>embeddings.*</c>, <c>encoder.layer.N.*</c>, <c>pooler.*</c>).
/// </summary>
public sealed class BertEncoder : nn.Module
{
    private readonly BertEmbeddings embeddings;
    // transformers names the layer stack "encoder" inside BertModel; the key must stay.
    private readonly BertLayerStack encoder;
    private readonly BertPooler? pooler;

    /// <summary>Creates a randomly initialised encoder for <paramref name="config"/>, with or without the pooler.</summary>
    public BertEncoder(BertConfig config, bool addPoolingLayer = true) : base(TorchRuntime.CheckedModuleName(nameof(BertEncoder)))
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        embeddings = new BertEmbeddings(config);
        encoder = new BertLayerStack(config);
        pooler = addPoolingLayer ? new BertPooler(config) : null;
        RegisterComponents();
    }

    /// <summary>The configuration the encoder was built from (its <c>vocab_size</c> follows a resize of the word embeddings).</summary>
    public BertConfig Config { get; private set; }

    /// <summary>Resizes the word embeddings to <paramref name="rows"/> and records the new <c>vocab_size</c>.</summary>
    internal void ResizeTokenEmbeddings(int rows, Initialization.NewRows newRows)
    {
        embeddings.ResizeWordEmbeddings(rows, newRows, Config.InitializerRange);
        Config = Config with { VocabSize = rows };
    }

    /// <summary>Whether the encoder has a pooler (<c>pooler.*</c> weights).</summary>
    public bool HasPooler => pooler is not null;

    /// <summary>How many sequences <see cref="Forward"/> has encoded (rows of input_ids), for tests of the feature cache.</summary>
    internal long SequencesEncoded { get; private set; }

    /// <summary>
    /// How many (sequence, layer) passes the transformer layers have run: each layer adds its batch's rows, in
    /// <see cref="Forward"/>, <see cref="ForwardTo"/> and <see cref="ForwardFrom"/> alike (for tests of the frozen-layer cache).
    /// </summary>
    internal long LayerPasses { get; private set; }

    /// <summary>The embedding block.</summary>
    internal BertEmbeddings Embeddings => embeddings;

    /// <summary>The transformer layers, bottom first.</summary>
    internal IReadOnlyList<BertLayer> Layers => encoder.Layers;

    /// <summary>Re-initialises the top <paramref name="count"/> transformer layers as transformers initialises new weights.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The encoder has fewer layers.</exception>
    internal void ReinitializeTopLayers(int count)
    {
        if (count < 0 || count > Layers.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"The encoder has {Layers.Count} layers.");
        }
        foreach (var layer in Layers.Skip(Layers.Count - count))
        {
            foreach (var module in layer.modules())
            {
                switch (module)
                {
                    case TorchSharp.Modules.Linear linear:
                        Initialization.Init(linear, Config.InitializerRange);
                        break;
                    case TorchSharp.Modules.LayerNorm norm:
                        Initialization.Init(norm);
                        break;
                }
            }
        }
    }

    /// <summary>
    /// Encodes <paramref name="inputIds"/> [batch, seq]. <paramref name="attentionMask"/> (1 = attend, 0 = padding; all
    /// ones when null) and <paramref name="tokenTypeIds"/> (zeros when null) have the same shape.
    /// </summary>
    /// <exception cref="ArgumentException">The inputs have the wrong rank or shape, or are longer than max_position_embeddings.</exception>
    public BertEncoderOutput Forward(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null,
        EncoderOutputOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        options ??= new EncoderOutputOptions();
        using var scope = NewDisposeScope();
        var (hidden, mask) = Embed(inputIds, attentionMask, tokenTypeIds);
        var hiddenStates = options.OutputHiddenStates ? new List<Tensor> { Autocast.To(hidden, embeddings.ParameterType) } : null;
        var attentions = options.OutputAttentions ? new List<Tensor>() : null;
        var (last, pooled) = Finish(RunLayers(hidden, mask, 0, Layers.Count, hiddenStates, attentions));
        return new BertEncoderOutput(
            last.MoveToOuterDisposeScope(),
            pooled?.MoveToOuterDisposeScope(),
            hiddenStates?.Select(t => t.MoveToOuterDisposeScope()).ToList(),
            attentions?.Select(t => t.MoveToOuterDisposeScope()).ToList());
    }

    /// <summary>
    /// The hidden state after the lowest <paramref name="layerCount"/> layers [batch, seq, hidden] (the embedding output
    /// when 0), in the compute type under mixed precision: what <see cref="ForwardFrom"/> starts from. Inputs as for
    /// <see cref="Forward"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="layerCount"/> is not in [0, layers].</exception>
    internal Tensor ForwardTo(int layerCount, Tensor inputIds, Tensor? attentionMask, Tensor? tokenTypeIds)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(layerCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(layerCount, Layers.Count);
        using var scope = NewDisposeScope();
        var (hidden, mask) = Embed(inputIds, attentionMask, tokenTypeIds);
        return RunLayers(hidden, mask, 0, layerCount).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs layers <paramref name="startLayer"/>.. and the pooler on <paramref name="hidden"/> [batch, seq, hidden], the
    /// output of the layers below (<see cref="ForwardTo"/>, or the frozen-layer cache), with
    /// <paramref name="attentionMask"/> [batch, seq] (1 = attend; all ones when null). The result's
    /// <see cref="BertEncoderOutput.LastHiddenState"/> and <see cref="BertEncoderOutput.PoolerOutput"/> equal
    /// <see cref="Forward"/>'s for the inputs that gave <paramref name="hidden"/>; hidden states and attentions are not returned.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="startLayer"/> is not in [0, layers].</exception>
    /// <exception cref="ArgumentException"><paramref name="hidden"/> or <paramref name="attentionMask"/> has the wrong shape.</exception>
    internal BertEncoderOutput ForwardFrom(int startLayer, Tensor hidden, Tensor? attentionMask)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentOutOfRangeException.ThrowIfNegative(startLayer);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(startLayer, Layers.Count);
        if (hidden.dim() != 3 || hidden.shape[2] != Config.HiddenSize)
        {
            throw new ArgumentException(
                $"The boundary hidden states must be [batch, sequence, {Config.HiddenSize}], got [{string.Join(", ", hidden.shape)}].", nameof(hidden));
        }
        if (attentionMask is not null && !attentionMask.shape.SequenceEqual(hidden.shape[..2]))
        {
            throw new ArgumentException(
                $"attention_mask has shape [{string.Join(", ", attentionMask.shape)}] but the boundary hidden states are [{string.Join(", ", hidden.shape)}].",
                nameof(attentionMask));
        }
        using var scope = NewDisposeScope();
        // The layers' residual stream is in the compute type under mixed precision, as in Forward (no cast outside it).
        if (Autocast.ComputeType is { } compute)
        {
            hidden = Autocast.To(hidden, compute);
        }
        var mask = attentionMask is null ? null : AdditiveMask(attentionMask, Autocast.ComputeType ?? hidden.dtype);
        var (last, pooled) = Finish(RunLayers(hidden, mask, startLayer, Layers.Count));
        // With no layer to run, the result would be the caller's tensor: return a new handle the caller may dispose.
        return new BertEncoderOutput(last.alias().MoveToOuterDisposeScope(), pooled?.MoveToOuterDisposeScope(), null, null);
    }

    /// <summary>
    /// Checks the inputs and returns the embeddings' output (bf16 under mixed precision: cast once, after their
    /// LayerNorm, and bf16 through every layer) with the additive mask, built in the type the attention scores have
    /// (its lowest value, as transformers does).
    /// </summary>
    private (Tensor Hidden, Tensor? Mask) Embed(Tensor inputIds, Tensor? attentionMask, Tensor? tokenTypeIds)
    {
        CheckInputs(inputIds, attentionMask, tokenTypeIds);
        SequencesEncoded += inputIds.shape[0];
        var hidden = embeddings.Forward(inputIds, tokenTypeIds);
        return (hidden, attentionMask is null ? null : AdditiveMask(attentionMask, Autocast.ComputeType ?? hidden.dtype));
    }

    /// <summary>
    /// Runs layers [<paramref name="start"/>, <paramref name="end"/>) on <paramref name="hidden"/>; appends each layer's
    /// output to <paramref name="hiddenStates"/> and, when <paramref name="attentions"/> is given (the explicit attention
    /// path), its probabilities, both in the weights' type.
    /// </summary>
    private Tensor RunLayers(Tensor hidden, Tensor? mask, int start, int end, List<Tensor>? hiddenStates = null, List<Tensor>? attentions = null)
    {
        for (int i = start; i < end; i++)
        {
            LayerPasses += hidden.shape[0];
            var (next, probabilities) = encoder.Layers[i].Forward(hidden, mask, attentions is not null);
            hidden = next;
            hiddenStates?.Add(Autocast.To(hidden, embeddings.ParameterType));
            if (probabilities is not null)
            {
                attentions!.Add(Autocast.To(probabilities, embeddings.ParameterType));
            }
        }
        return hidden;
    }

    /// <summary>
    /// The top layer's output in the weights' type (float32 whatever the compute type, so heads, losses and predictors
    /// never see bf16; outside mixed precision the tensor itself) and the pooled output. The pooler casts the first token
    /// back to the compute type for its projection: bf16 → float32 → bf16 is exact, so this equals pooling the bf16 state.
    /// </summary>
    private (Tensor Hidden, Tensor? Pooled) Finish(Tensor hidden)
    {
        var last = Autocast.To(hidden, embeddings.ParameterType);
        return (last, pooler?.Forward(last));
    }

    /// <summary>[batch, seq] of 1/0 → [batch, 1, 1, seq] of 0 / the dtype's lowest value, added to attention scores.</summary>
    private static Tensor AdditiveMask(Tensor attentionMask, ScalarType dtype)
    {
        var lowest = dtype switch
        {
            ScalarType.Float16 => -65504.0,
            ScalarType.BFloat16 => -3.3895313892515355e38,
            ScalarType.Float64 => double.MinValue,
            _ => float.MinValue,
        };
        var keep = attentionMask.to_type(dtype).unsqueeze(1).unsqueeze(2);
        return (1.0 - keep) * lowest;
    }

    /// <summary>An id outside the embedding table would fail deep inside libtorch; name the tensor and the limit instead.</summary>
    private static void CheckRange(string name, Tensor ids, long size, string field)
    {
        if (ids.numel() == 0)
        {
            return;
        }
        using var minimum = ids.min();
        using var maximum = ids.max();
        long min = minimum.ToInt64(), max = maximum.ToInt64();
        if (min < 0 || max >= size)
        {
            throw new ArgumentException(
                $"{name} holds ids in [{min}, {max}] but the model's {field} is {size}: every id must be in [0, {size}). "
                + "Was the input tokenized with another model's vocabulary?", name);
        }
    }

    private void CheckInputs(Tensor inputIds, Tensor? attentionMask, Tensor? tokenTypeIds)
    {
        if (inputIds.dim() != 2)
        {
            throw new ArgumentException(
                $"input_ids must be [batch, sequence], got [{string.Join(", ", inputIds.shape)}].", nameof(inputIds));
        }
        if (inputIds.dtype != ScalarType.Int64 && inputIds.dtype != ScalarType.Int32)
        {
            throw new ArgumentException($"input_ids must hold integer ids, got {inputIds.dtype}.", nameof(inputIds));
        }
        if (inputIds.shape[1] > Config.MaxPositionEmbeddings)
        {
            throw new ArgumentException(
                $"input_ids has {inputIds.shape[1]} positions but the model has max_position_embeddings {Config.MaxPositionEmbeddings}; truncate the input.",
                nameof(inputIds));
        }
        CheckRange("input_ids", inputIds, Config.VocabSize, "vocab_size");
        if (tokenTypeIds is not null)
        {
            CheckRange("token_type_ids", tokenTypeIds, Config.TypeVocabSize, "type_vocab_size");
        }
        foreach (var (name, tensor) in new[] { ("attention_mask", attentionMask), ("token_type_ids", tokenTypeIds) })
        {
            if (tensor is not null && !tensor.shape.SequenceEqual(inputIds.shape))
            {
                throw new ArgumentException(
                    $"{name} has shape [{string.Join(", ", tensor.shape)}] but input_ids has [{string.Join(", ", inputIds.shape)}].", name);
            }
        }
    }
}
