using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Runtime;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

namespace BertFineTune.Inference;

/// <summary>
/// The predictors' TorchSharp backend: forward passes of a <see cref="BertForTask"/> without gradients in eval mode (the
/// model's mode is restored afterwards), optionally under bfloat16 autocast, with every output copied to the CPU as
/// float32 rows.
/// </summary>
internal sealed class TorchPredictorBackend : IPredictorBackend
{
    // The weights' bfloat16 copies under mixed precision, made at the first prediction.
    private WeightCastCache? _casts;

    /// <summary>Runs <paramref name="model"/>; <paramref name="mixedPrecision"/> runs the encoder in bfloat16 (see <see cref="Autocast"/>).</summary>
    public TorchPredictorBackend(BertForTask model, bool mixedPrecision)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        MixedPrecision = mixedPrecision;
    }

    /// <summary>The model.</summary>
    public BertForTask Model { get; }

    /// <summary>
    /// Run the encoder's matmuls and attention in bfloat16; scores come out in float32. The bfloat16 copies of the weights
    /// are made at the first prediction and kept: create a new predictor after changing the model's weights.
    /// </summary>
    public bool MixedPrecision { get; }

    /// <inheritdoc />
    public BertConfig Config => Model.Config;

    /// <inheritdoc />
    public IReadOnlyList<IReadOnlyDictionary<string, OutputRow>> Forward(IReadOnlyList<EncodedText> encodings, int padTokenId)
    {
        ArgumentNullException.ThrowIfNull(encodings);
        bool wasTraining = Model.training;
        Model.eval();
        try
        {
            using var _ = no_grad();
            var device = Model.Encoder.Embeddings.WordEmbeddingWeight.device;
            var precision = PrecisionPolicy.For(MixedPrecision);
            using var autocast = precision.Enter(_casts ??= precision.CreateCastCache());
            using var scope = NewDisposeScope();
            var (ids, mask, types) = PaddedBatch.Build(encodings.Select(PaddedRow.Of).ToList(), encodings.Max(e => e.Length), padTokenId, device);
            using var batch = new BertBatch(ids, mask, types, ownsTensors: true);
            using var output = Model.Forward(batch);
            var rows = new Dictionary<string, OutputRow>[encodings.Count];
            for (int row = 0; row < rows.Length; row++)
            {
                rows[row] = [];
            }
            foreach (var (name, tensor) in output.Tensors)
            {
                // Scalars such as a loss have no batch dimension and are not per-input outputs.
                if (tensor.Dimensions == 0 || tensor.shape[0] != encodings.Count)
                {
                    continue;
                }
                using var cpu = tensor.to_type(ScalarType.Float32).cpu();
                var values = cpu.data<float>().ToArray();
                int perRow = values.Length / encodings.Count;
                int width = tensor.Dimensions == 1 ? 1 : (int)tensor.shape[^1];
                for (int row = 0; row < rows.Length; row++)
                {
                    rows[row][name] = new OutputRow(values[(row * perRow)..((row + 1) * perRow)], width);
                }
            }
            return rows;
        }
        finally
        {
            if (wasTraining)
            {
                Model.train();
            }
        }
    }
}

/// <summary>The predictors over a TorchSharp model, with the head checks that match each predictor to its head.</summary>
internal static class TorchPredictors
{
    /// <summary>Text classification over a <see cref="SequenceClassificationHead"/>.</summary>
    /// <exception cref="ArgumentException">The model's head is not sequence classification.</exception>
    public static TextClassificationPredictor TextClassification(BertForTask model, BertTokenizer tokenizer, int batchSize = 32, bool mixedPrecision = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Head is not SequenceClassificationHead head)
        {
            throw new ArgumentException($"Text classification needs a SequenceClassificationHead, not {model.Head.GetType().Name}.", nameof(model));
        }
        return new(new TorchPredictorBackend(model, mixedPrecision), tokenizer, head.Labels, head.ProblemType, batchSize);
    }

    /// <summary>Token classification over a <see cref="TokenClassificationHead"/>.</summary>
    /// <exception cref="ArgumentException">The model's head is not token classification.</exception>
    public static TokenClassificationPredictor TokenClassification(BertForTask model, BertTokenizer tokenizer, int batchSize = 32, int stride = 32,
        bool mixedPrecision = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Head is not TokenClassificationHead head)
        {
            throw new ArgumentException($"Token classification needs a TokenClassificationHead, not {model.Head.GetType().Name}.", nameof(model));
        }
        return new(new TorchPredictorBackend(model, mixedPrecision), tokenizer, head.Labels, batchSize, stride);
    }

    /// <summary>Question answering over a <see cref="QuestionAnsweringHead"/>.</summary>
    /// <exception cref="ArgumentException">The model's head is not a <see cref="QuestionAnsweringHead"/>.</exception>
    public static QuestionAnsweringPredictor QuestionAnswering(BertForTask model, BertTokenizer tokenizer, int batchSize = 16, bool mixedPrecision = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Head is not QuestionAnsweringHead)
        {
            throw new ArgumentException($"Question answering needs a QuestionAnsweringHead, not {model.Head.GetType().Name}.", nameof(model));
        }
        return new(new TorchPredictorBackend(model, mixedPrecision), tokenizer, batchSize);
    }

    /// <summary>Fill-mask over a masked-LM or pre-training head.</summary>
    /// <exception cref="ArgumentException">The model's head is neither.</exception>
    public static FillMaskPredictor FillMask(BertForTask model, BertTokenizer tokenizer, int batchSize = 32, bool mixedPrecision = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Head is not (MaskedLanguageModelHead or PreTrainingHead))
        {
            throw new ArgumentException($"Fill-mask needs a masked-LM head, not {model.Head.GetType().Name}.", nameof(model));
        }
        return new(new TorchPredictorBackend(model, mixedPrecision), tokenizer, batchSize);
    }

    /// <summary>Embeddings over a <see cref="SentenceEmbeddingHead"/>.</summary>
    /// <exception cref="ArgumentException">The model's head is not a <see cref="SentenceEmbeddingHead"/>.</exception>
    public static EmbeddingPredictor Embedding(BertForTask model, BertTokenizer tokenizer, int batchSize = 32, bool mixedPrecision = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Head is not SentenceEmbeddingHead)
        {
            throw new ArgumentException($"Embeddings need a SentenceEmbeddingHead, not {model.Head.GetType().Name}.", nameof(model));
        }
        return new(new TorchPredictorBackend(model, mixedPrecision), tokenizer, batchSize);
    }
}
