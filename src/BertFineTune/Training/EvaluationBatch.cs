using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>One evaluation batch's outputs, handed to a metrics hook. The tensors are valid only during the call.</summary>
/// <param name="Outputs">The model's outputs by name (<c>logits</c>, <c>start_logits</c>, …), on the CPU.</param>
/// <param name="Targets">The batch's targets by name, on the CPU.</param>
/// <param name="AttentionMask">The batch's attention mask, when it has one.</param>
public sealed record EvaluationBatch(IReadOnlyDictionary<string, Tensor> Outputs, IReadOnlyDictionary<string, Tensor> Targets, Tensor? AttentionMask);
