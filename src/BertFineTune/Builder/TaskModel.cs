using BertFineTune.Heads;
using BertFineTune.Inference;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BertFineTune.Builder;

/// <summary>
/// A built model: weights with a task head, its tokenizer, the device and the maximum sequence length, as
/// <see cref="BertModelBuilder.Build"/> validated them. Train it, save it, or create the predictor of its task.
/// </summary>
public sealed class TaskModel : IDisposable
{
    internal TaskModel(BertForTask model, BertTokenizer tokenizer, Device device, int maxSequenceLength, ILoggerFactory loggerFactory,
        bool mixedPrecision = false)
    {
        MixedPrecision = mixedPrecision;
        Model = model;
        Tokenizer = tokenizer;
        Device = device;
        MaxSequenceLength = maxSequenceLength;
        LoggerFactory = loggerFactory;
    }

    /// <summary>The network: encoder and head.</summary>
    public BertForTask Model { get; }

    /// <summary>The tokenizer, limited to <see cref="MaxSequenceLength"/>.</summary>
    public BertTokenizer Tokenizer { get; }

    /// <summary>Where the weights live.</summary>
    public Device Device { get; }

    /// <summary>The longest input, in tokens, special tokens included.</summary>
    public int MaxSequenceLength { get; }

    /// <summary>
    /// Whether the predictors this model creates run in bfloat16 (<see cref="BertModelBuilder.UseMixedPrecision"/>, where
    /// the device supports it). Training follows <see cref="TrainerOptions.MixedPrecision"/> instead.
    /// </summary>
    public bool MixedPrecision { get; }

    /// <summary>The logger factory given to the builder.</summary>
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>The head's labels, for classification heads; empty otherwise.</summary>
    public IReadOnlyList<string> Labels => Model.Head switch
    {
        SequenceClassificationHead h => h.Labels,
        TokenClassificationHead h => h.Labels,
        _ => [],
    };

    /// <summary>A trainer for this model, logging through <see cref="LoggerFactory"/>.</summary>
    public Trainer CreateTrainer(TrainerOptions options) => new(Model, options, LoggerFactory);

    /// <summary>Saves weights, config and tokenizer in the Hugging Face layout (loadable by this library and by transformers).</summary>
    public void Save(string folder)
    {
        Model.Save(folder);
        Tokenizer.Save(folder);
    }

    /// <summary>A text (pair) classifier; needs a sequence-classification head.</summary>
    public TextClassificationPredictor CreateTextClassificationPredictor(int batchSize = 32) => new(Model, Tokenizer, batchSize) { MixedPrecision = MixedPrecision };

    /// <summary>A token classifier (named entities); needs a token-classification head.</summary>
    public TokenClassificationPredictor CreateTokenClassificationPredictor(int batchSize = 32, int stride = 32) => new(Model, Tokenizer, batchSize, stride) { MixedPrecision = MixedPrecision };

    /// <summary>An extractive question answerer; needs a question-answering head.</summary>
    public QuestionAnsweringPredictor CreateQuestionAnsweringPredictor(int batchSize = 16) => new(Model, Tokenizer, batchSize) { MixedPrecision = MixedPrecision };

    /// <summary>A fill-mask predictor; needs a masked-LM head.</summary>
    public FillMaskPredictor CreateFillMaskPredictor(int batchSize = 32) => new(Model, Tokenizer, batchSize) { MixedPrecision = MixedPrecision };

    /// <summary>A sentence embedder; needs a sentence-embedding head.</summary>
    public EmbeddingPredictor CreateEmbeddingPredictor(int batchSize = 32) => new(Model, Tokenizer, batchSize) { MixedPrecision = MixedPrecision };

    /// <inheritdoc />
    public void Dispose() => Model.Dispose();
}
