using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// One batch of model inputs and, for training or evaluation, its targets. Targets use transformers' argument names
/// (<c>labels</c>, <c>start_positions</c>, <c>end_positions</c>, <c>next_sentence_label</c>) so custom heads can add their own.
/// The batch does not own its tensors.
/// </summary>
public sealed class BertBatch
{
    /// <summary>Creates a batch; only <paramref name="inputIds"/> is required.</summary>
    public BertBatch(Tensor inputIds, Tensor? attentionMask = null, Tensor? tokenTypeIds = null,
        IReadOnlyDictionary<string, Tensor>? targets = null)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        InputIds = inputIds;
        AttentionMask = attentionMask;
        TokenTypeIds = tokenTypeIds;
        Targets = targets ?? new Dictionary<string, Tensor>();
    }

    /// <summary>Token ids [batch, seq] (multiple choice: [batch, choices, seq]).</summary>
    public Tensor InputIds { get; }

    /// <summary>1 for real tokens, 0 for padding; all ones when null.</summary>
    public Tensor? AttentionMask { get; }

    /// <summary>Segment ids; zeros when null.</summary>
    public Tensor? TokenTypeIds { get; }

    /// <summary>Targets by transformers' argument name.</summary>
    public IReadOnlyDictionary<string, Tensor> Targets { get; }

    /// <summary>The target named <paramref name="name"/>, or null.</summary>
    public Tensor? Target(string name) => Targets.TryGetValue(name, out var t) ? t : null;
}
