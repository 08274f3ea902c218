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
        if (tokenizer.VocabularySize > model.Config.VocabSize)
        {
            throw new ArgumentException(
                $"The tokenizer has {tokenizer.VocabularySize} tokens but the model's vocab_size is {model.Config.VocabSize}; use the tokenizer the model was trained with.",
                nameof(tokenizer));
        }
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
    protected int MaxLength => Math.Min(Tokenizer.Options.ModelMaxLength ?? int.MaxValue, Model.Config.MaxPositionEmbeddings);

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
                int length = chunk.Max(i => encodings[i].Length);
                var ids = new long[chunk.Length * length];
                var mask = new long[ids.Length];
                var types = new long[ids.Length];
                Array.Fill(ids, Tokenizer.PadTokenId);
                for (int row = 0; row < chunk.Length; row++)
                {
                    var e = encodings[chunk[row]];
                    for (int col = 0; col < e.Length; col++)
                    {
                        ids[row * length + col] = e.Ids[col];
                        mask[row * length + col] = e.AttentionMask[col];
                        types[row * length + col] = e.TypeIds[col];
                    }
                }
                long[] shape = [chunk.Length, length];
                using var batch = new BertBatch(tensor(ids, shape, device: device), tensor(mask, shape, device: device),
                    tensor(types, shape, device: device), ownsTensors: true);
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
