using BertFineTune.Heads;
using BertFineTune.Runtime;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

namespace BertFineTune.Inference;

/// <summary>
/// Shared plumbing of the predictors: a model with its tokenizer, batched forward passes without gradients in eval mode,
/// and length-sorted batching so that dynamic padding adds little. A predictor is not safe for concurrent use; create
/// one per thread.
/// </summary>
public abstract class Predictor
{
    // The weights' bfloat16 copies under mixed precision, made at the first prediction.
    private WeightCastCache? _casts;

    /// <summary>Wraps <paramref name="model"/> and <paramref name="tokenizer"/>; <paramref name="batchSize"/> inputs run together.</summary>
    private protected Predictor(BertForTask model, BertTokenizer tokenizer, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        InputLimits.CheckVocabulary(tokenizer, model.Config);
        Model = model;
        Tokenizer = tokenizer;
        BatchSize = batchSize;
    }

    /// <summary>The model.</summary>
    public BertForTask Model { get; }

    /// <summary>The tokenizer.</summary>
    public BertTokenizer Tokenizer { get; }

    /// <summary>Inputs per forward pass.</summary>
    public int BatchSize { get; }

    /// <summary>
    /// Run the encoder's matmuls and attention in bfloat16 (see <see cref="Autocast"/>); scores come out in float32. Set
    /// from <see cref="Builder.TaskModel.MixedPrecision"/>, which is already decided for the model's device. The bfloat16
    /// copies of the weights are made at the first prediction and kept: create a new predictor after changing the
    /// model's weights. Default off.
    /// </summary>
    internal bool MixedPrecision { get; init; }

    /// <summary>The longest input the model takes (its position table, or the tokenizer's limit when smaller).</summary>
    protected int MaxLength => InputLimits.MaxLength(Tokenizer, Model.Config);

    /// <summary>Options that truncate to <see cref="MaxLength"/> only when an input is longer, so ordinary inputs encode as transformers' pipelines encode them.</summary>
    protected EncodingOptions TruncateToModel => new() { Truncation = TruncationStrategy.LongestFirst, MaxLength = MaxLength };

    /// <summary>
    /// Runs the model over <paramref name="encodings"/> in batches of similar length and hands each encoding's row of every
    /// output (on the CPU) to <paramref name="consume"/> with the encoding's index. Row tensors are valid only during the call.
    /// </summary>
    protected void Run(IReadOnlyList<EncodedText> encodings, Action<int, IReadOnlyDictionary<string, Tensor>> consume)
    {
        ArgumentNullException.ThrowIfNull(encodings);
        bool wasTraining = Model.training;
        Model.eval();
        try
        {
            using var _ = no_grad();
            var order = Enumerable.Range(0, encodings.Count).OrderBy(i => encodings[i].Length).ToArray();
            var device = Model.Encoder.Embeddings.WordEmbeddingWeight.device;
            var precision = PrecisionPolicy.For(MixedPrecision);
            using var autocast = precision.Enter(_casts ??= precision.CreateCastCache());
            foreach (var chunk in order.Chunk(BatchSize))
            {
                using var scope = NewDisposeScope();
                var (ids, mask, types) = PaddedBatch.Build(chunk.Select(i => PaddedRow.Of(encodings[i])).ToList(),
                    chunk.Max(i => encodings[i].Length), Tokenizer.PadTokenId, device);
                using var batch = new BertBatch(ids, mask, types, ownsTensors: true);
                using var output = Model.Forward(batch);
                var cpu = output.Tensors.ToDictionary(p => p.Key, p => p.Value.cpu());
                for (int row = 0; row < chunk.Length; row++)
                {
                    consume(chunk[row], cpu.ToDictionary(p => p.Key, p => p.Value[row]));
                }
            }
        }
        finally
        {
            if (wasTraining)
            {
                Model.train();
            }
        }
    }

    /// <summary>Softmax over the last dimension in float32, as transformers' pipelines compute scores.</summary>
    protected static float[] Softmax(Tensor logits)
    {
        using var scores = logits.to_type(ScalarType.Float32).softmax(-1);
        return scores.data<float>().ToArray();
    }
}
