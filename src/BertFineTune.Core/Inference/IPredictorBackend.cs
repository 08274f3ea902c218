using BertFineTune.Checkpoints;
using BertFineTune.Tokenization;

namespace BertFineTune.Inference;

/// <summary>
/// One row of one model output, copied to the CPU in float32: the output for one input with the batch dimension removed,
/// flattened in row-major order. <see cref="Width"/> is the size of its last dimension (the labels of token logits, the
/// vocabulary of masked-LM logits, the hidden size of an embedding; 1 for a scalar per row).
/// </summary>
/// <param name="Values">The row's values, row-major.</param>
/// <param name="Width">The size of the last dimension.</param>
internal readonly record struct OutputRow(float[] Values, int Width);

/// <summary>
/// What runs the model for the predictors: TorchSharp's <c>BertForTask</c> (BertFineTune) or an ONNX Runtime session
/// (BertFineTune.Onnx). The predictors hold everything else (tokenizing, batching, post-processing), so both backends
/// give the same results from the same logits.
/// </summary>
internal interface IPredictorBackend
{
    /// <summary>The model's config: its position table and vocabulary size limit the inputs.</summary>
    BertConfig Config { get; }

    /// <summary>
    /// Runs one batch: <paramref name="encodings"/> padded on the right with <paramref name="padTokenId"/> to the longest
    /// (attention mask 0 on padding) as int64 <c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c>, and returns
    /// every output's row per encoding, in the order of <paramref name="encodings"/>.
    /// </summary>
    IReadOnlyList<IReadOnlyDictionary<string, OutputRow>> Forward(IReadOnlyList<EncodedText> encodings, int padTokenId);
}
