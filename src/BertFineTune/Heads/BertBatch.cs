using BertFineTune.Modeling;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// Loss settings a head applies when it computes its loss: class weights and label smoothing for cross-entropy,
/// positive-class weights for multi-label BCE.
/// </summary>
/// <param name="ClassWeights">A weight per class for single-label cross-entropy (rare classes weigh more).</param>
/// <param name="PositiveWeights">A weight per label for the positive term of multi-label BCE (<c>pos_weight</c>).</param>
/// <param name="LabelSmoothing">Cross-entropy label smoothing in [0, 1).</param>
public sealed record LossOptions(IReadOnlyList<float>? ClassWeights = null, IReadOnlyList<float>? PositiveWeights = null,
    double LabelSmoothing = 0.0);

/// <summary>
/// One batch of model inputs and, for training or evaluation, its targets. Targets use transformers' argument names
/// (<c>labels</c>, <c>start_positions</c>, <c>end_positions</c>, <c>next_sentence_label</c>) so custom heads can add their own.
/// </summary>
public sealed class BertBatch : IDisposable
{
    private readonly bool _ownsTensors;

    /// <summary>Creates a batch; only <paramref name="inputIds"/> is required.</summary>
    /// <param name="inputIds">Token ids [batch, seq] (multiple choice: [batch, choices, seq]).</param>
    /// <param name="attentionMask">1 for tokens, 0 for padding; all ones when null.</param>
    /// <param name="tokenTypeIds">Segment ids; zeros when null.</param>
    /// <param name="targets">Targets by transformers' argument name.</param>
    /// <param name="loss">Loss settings for the head, or null for its plain loss.</param>
    /// <param name="ownsTensors">Whether <see cref="Dispose"/> disposes the tensors (false: the caller keeps them).</param>
    public BertBatch(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null,
        IReadOnlyDictionary<string, Tensor>? targets = null, LossOptions? loss = null, bool ownsTensors = false)
        : this(inputIds, attentionMask, tokenTypeIds, targets, loss, encoderOutput: null, ownsTensors)
    {
    }

    internal BertBatch(Tensor inputIds, Tensor? attentionMask, Tensor? tokenTypeIds, IReadOnlyDictionary<string, Tensor>? targets,
        LossOptions? loss, BertEncoderOutput? encoderOutput, bool ownsTensors, FrozenLayerStates? frozenLayerStates = null)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        InputIds = inputIds;
        AttentionMask = attentionMask;
        TokenTypeIds = tokenTypeIds;
        Targets = targets ?? new Dictionary<string, Tensor>();
        Loss = loss;
        EncoderOutput = encoderOutput;
        FrozenLayerStates = frozenLayerStates;
        _ownsTensors = ownsTensors;
    }

    /// <summary>Token ids [batch, seq] (multiple choice: [batch, choices, seq]).</summary>
    public Tensor InputIds { get; }

    /// <summary>1 for real tokens, 0 for padding; all ones when null.</summary>
    public Tensor? AttentionMask { get; }

    /// <summary>Segment ids; zeros when null.</summary>
    public Tensor? TokenTypeIds { get; }

    /// <summary>Targets by transformers' argument name.</summary>
    public IReadOnlyDictionary<string, Tensor> Targets { get; }

    /// <summary>Loss settings for the head, or null for its plain loss.</summary>
    public LossOptions? Loss { get; }

    /// <summary>
    /// The encoder's outputs for these inputs, computed beforehand (a frozen encoder's cached features, see
    /// <see cref="Training.TrainerOptions.CacheFrozenLayers"/> with a frozen encoder), or null. When set, heads use them instead of running the
    /// encoder; they must be what the encoder gives for <see cref="InputIds"/> with <see cref="AttentionMask"/>.
    /// </summary>
    public BertEncoderOutput? EncoderOutput { get; }

    /// <summary>
    /// The output of the encoder's lowest frozen layers for these inputs (the trainer's frozen-layer cache, see
    /// <see cref="Training.TrainerOptions.CacheFrozenLayers"/>), or null. When set, <see cref="TaskHead"/>'s encoding runs
    /// only the layers above them (<see cref="BertEncoder.ForwardFrom"/>) with <see cref="AttentionMask"/>.
    /// </summary>
    internal FrozenLayerStates? FrozenLayerStates { get; }

    /// <summary>Number of examples.</summary>
    public long Size => InputIds.shape[0];

    /// <summary>The target named <paramref name="name"/>, or null.</summary>
    public Tensor? Target(string name) => Targets.TryGetValue(name, out var t) ? t : null;

    /// <summary>The same batch with other loss settings (sharing the tensors, not owning them).</summary>
    public BertBatch WithLoss(LossOptions? loss) =>
        new(InputIds, AttentionMask, TokenTypeIds, Targets, loss, EncoderOutput, ownsTensors: false, FrozenLayerStates);

    /// <summary>
    /// The same batch carrying precomputed encoder outputs (sharing the tensors, not owning them, so the caller keeps
    /// <paramref name="encoderOutput"/> alive while the batch is used); null removes them.
    /// </summary>
    public BertBatch WithEncoderOutput(BertEncoderOutput? encoderOutput) =>
        new(InputIds, AttentionMask, TokenTypeIds, Targets, Loss, encoderOutput, ownsTensors: false);

    /// <summary>
    /// This batch on <paramref name="device"/>: itself when it is there already, else a copy that owns its tensors.
    /// </summary>
    public BertBatch To(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (InputIds.device.type == device.type && InputIds.device.index == device.index)
        {
            return this;
        }
        return new BertBatch(InputIds.to(device), AttentionMask?.to(device), TokenTypeIds?.to(device),
            Targets.ToDictionary(p => p.Key, p => p.Value.to(device)), Loss, EncoderOutput?.To(device), ownsTensors: true,
            FrozenLayerStates?.To(device));
    }

    /// <summary>Disposes the tensors when the batch owns them.</summary>
    public void Dispose()
    {
        if (!_ownsTensors)
        {
            return;
        }
        InputIds.Dispose();
        AttentionMask?.Dispose();
        TokenTypeIds?.Dispose();
        foreach (var target in Targets.Values)
        {
            target.Dispose();
        }
        EncoderOutput?.Dispose();
        FrozenLayerStates?.Dispose();
    }
}

/// <summary>
/// The hidden states [batch, seq, hidden] that the encoder's layers below <see cref="StartLayer"/> (and the embeddings)
/// give for a batch's inputs: the frozen-layer cache's part of a batch. Disposing it disposes the tensor.
/// </summary>
/// <param name="Hidden">The boundary hidden states, zeros at padding positions (which the attention mask excludes).</param>
/// <param name="StartLayer">The first layer to run on them (the number of frozen layers).</param>
internal sealed record FrozenLayerStates(Tensor Hidden, int StartLayer) : IDisposable
{
    /// <summary>The states on <paramref name="device"/> (a copy, or an alias when already there), owned by the result.</summary>
    public FrozenLayerStates To(Device device) => new(Hidden.to(device), StartLayer);

    /// <inheritdoc />
    public void Dispose() => Hidden.Dispose();
}
