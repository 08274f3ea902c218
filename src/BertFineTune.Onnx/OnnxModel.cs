using BertFineTune.Checkpoints;
using BertFineTune.Inference;
using BertFineTune.Tokenization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace BertFineTune.Onnx;

/// <summary>
/// A BERT model exported to ONNX (<c>TaskModel.ExportOnnxFolder</c>, or <c>TaskModel.ExportOnnx</c> with the model
/// folder's <c>config.json</c> and tokenizer files beside it) in an ONNX Runtime session, with its tokenizer and config.
/// Its predictors are the classes <c>TaskModel</c> creates (same options, results and post-processing), so an
/// application predicts the same way on either backend. The model and its predictors are safe for concurrent use (ONNX
/// Runtime's <c>InferenceSession.Run</c> is thread-safe and the predictors keep no per-call state): a service creates one
/// predictor and shares it. Dispose the model to release the session; predictors created from it must not be used
/// afterwards.
/// </summary>
public sealed class OnnxModel : IDisposable
{
    /// <summary>The graph file a folder must hold.</summary>
    public const string ModelFileName = "model.onnx";

    private readonly InferenceSession _session;
    private readonly OnnxPredictorBackend _backend;

    private OnnxModel(InferenceSession session, BertConfig config, BertTokenizer tokenizer, string folder)
    {
        _session = session;
        Config = config;
        Tokenizer = tokenizer;
        Folder = folder;
        _backend = new OnnxPredictorBackend(session, config);
    }

    /// <summary>The folder the model was loaded from.</summary>
    public string Folder { get; }

    /// <summary>The model's <c>config.json</c>: labels (<c>id2label</c>), <c>problem_type</c>, position table, vocabulary size.</summary>
    public BertConfig Config { get; }

    /// <summary>The tokenizer read from the folder's tokenizer files.</summary>
    public BertTokenizer Tokenizer { get; }

    /// <summary>The graph's input names (<c>input_ids</c>, <c>attention_mask</c> and, when exported, <c>token_type_ids</c>).</summary>
    public IReadOnlyList<string> InputNames => _session.InputNames;

    /// <summary>The graph's output names (e.g. <c>logits</c>, <c>start_logits</c>/<c>end_logits</c>, <c>embeddings</c>).</summary>
    public IReadOnlyList<string> OutputNames => _session.OutputNames;

    /// <summary>
    /// Loads <paramref name="folder"/>: <c>model.onnx</c>, <c>config.json</c> and the tokenizer files
    /// (<c>tokenizer.json</c> or <c>vocab.txt</c>, with <c>tokenizer_config.json</c>), as
    /// <c>TaskModel.ExportOnnxFolder</c> writes them.
    /// </summary>
    /// <param name="folder">The model folder.</param>
    /// <param name="options">Execution provider and threads; null for the CPU with ONNX Runtime's default threads.</param>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder lacks <c>model.onnx</c>, <c>config.json</c>, or both <c>tokenizer.json</c> and <c>vocab.txt</c>; the message names the file.</exception>
    /// <exception cref="BertConfigException">config.json is invalid; the message names the field.</exception>
    /// <exception cref="InvalidDataException">A tokenizer file is malformed, or ONNX Runtime cannot load model.onnx.</exception>
    /// <exception cref="InvalidOperationException">The CUDA provider was asked for and ONNX Runtime cannot start it (the GPU package or CUDA is missing).</exception>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    public static OnnxModel Load(string folder, OnnxRuntimeOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        options ??= new OnnxRuntimeOptions();
        options.Validate();
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"ONNX model folder not found: {folder}. Give the folder TaskModel.ExportOnnxFolder wrote (model.onnx, config.json and the tokenizer files).");
        }
        var modelFile = Path.Combine(folder, ModelFileName);
        if (!File.Exists(modelFile))
        {
            throw new FileNotFoundException(
                $"{folder}: the folder has no {ModelFileName}. Export it with TaskModel.ExportOnnxFolder(folder), which writes {ModelFileName}, config.json and the tokenizer files together.",
                modelFile);
        }
        if (!File.Exists(Path.Combine(folder, BertConfig.FileName)))
        {
            throw new FileNotFoundException(
                $"{folder}: the folder has no {BertConfig.FileName} (the labels and limits of the model); copy it from the model folder the ONNX file was exported from, or export with TaskModel.ExportOnnxFolder.",
                Path.Combine(folder, BertConfig.FileName));
        }
        if (!File.Exists(Path.Combine(folder, TokenizerFiles.TokenizerJson)) && !File.Exists(Path.Combine(folder, TokenizerFiles.Vocab)))
        {
            throw new FileNotFoundException(
                $"{folder}: the folder has neither {TokenizerFiles.TokenizerJson} nor {TokenizerFiles.Vocab}; copy the tokenizer files from the model folder the ONNX file was exported from, or export with TaskModel.ExportOnnxFolder.",
                Path.Combine(folder, TokenizerFiles.TokenizerJson));
        }
        var config = BertConfig.Load(folder);
        var tokenizer = BertTokenizer.Load(folder);
        var session = CreateSession(modelFile, options);
        try
        {
            CheckInputs(session, modelFile);
            return new OnnxModel(session, config, tokenizer, folder);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>A text (pair) classifier; needs a sequence-classification export (output <c>logits</c> of [batch, labels]).</summary>
    /// <exception cref="ArgumentException">The graph is not a sequence-classification export, or its label count differs from config.json's.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1.</exception>
    public TextClassificationPredictor CreateTextClassificationPredictor(int batchSize = 32)
    {
        RequireOutput("logits", rank: 2, Config.Labels.Count, "text classification", "a sequence-classification head");
        return new TextClassificationPredictor(_backend, Tokenizer, Config.Labels, Config.ProblemType, batchSize);
    }

    /// <summary>A token classifier (named entities); needs a token-classification export (output <c>logits</c> of [batch, sequence, labels]).</summary>
    /// <exception cref="ArgumentException">The graph is not a token-classification export, or its label count differs from config.json's.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1, or <paramref name="stride"/> is negative.</exception>
    public TokenClassificationPredictor CreateTokenClassificationPredictor(int batchSize = 32, int stride = 32)
    {
        RequireOutput("logits", rank: 3, Config.Labels.Count, "token classification", "a token-classification head");
        return new TokenClassificationPredictor(_backend, Tokenizer, Config.Labels, batchSize, stride);
    }

    /// <summary>An extractive question answerer; needs a question-answering export (outputs <c>start_logits</c> and <c>end_logits</c>).</summary>
    /// <exception cref="ArgumentException">The graph is not a question-answering export.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1.</exception>
    public QuestionAnsweringPredictor CreateQuestionAnsweringPredictor(int batchSize = 16)
    {
        RequireOutput("start_logits", rank: 2, null, "question answering", "a question-answering head");
        RequireOutput("end_logits", rank: 2, null, "question answering", "a question-answering head");
        return new QuestionAnsweringPredictor(_backend, Tokenizer, batchSize);
    }

    /// <summary>A fill-mask predictor; needs a masked-LM export (output <c>logits</c>) or a pre-training one (<c>prediction_logits</c>) of [batch, sequence, vocabulary].</summary>
    /// <exception cref="ArgumentException">The graph is not a masked-LM export.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1.</exception>
    public FillMaskPredictor CreateFillMaskPredictor(int batchSize = 32)
    {
        RequireOutput(OutputNames.Contains("logits") ? "logits" : "prediction_logits", rank: 3, Config.VocabSize, "fill-mask", "a masked-LM head");
        return new FillMaskPredictor(_backend, Tokenizer, batchSize);
    }

    /// <summary>A sentence embedder; needs a sentence-embedding export (output <c>embeddings</c> of [batch, hidden]).</summary>
    /// <exception cref="ArgumentException">The graph is not a sentence-embedding export.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1.</exception>
    public EmbeddingPredictor CreateEmbeddingPredictor(int batchSize = 32)
    {
        RequireOutput("embeddings", rank: 2, null, "embeddings", "a sentence-embedding head (WithSentenceEmbeddings)");
        return new EmbeddingPredictor(_backend, Tokenizer, batchSize);
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();

    private static InferenceSession CreateSession(string modelFile, OnnxRuntimeOptions options)
    {
        var sessionOptions = new SessionOptions();
        try
        {
            if (options.IntraOpNumThreads is { } intra)
            {
                sessionOptions.IntraOpNumThreads = intra;
            }
            if (options.InterOpNumThreads is { } inter)
            {
                sessionOptions.InterOpNumThreads = inter;
                sessionOptions.ExecutionMode = ExecutionMode.ORT_PARALLEL;
            }
            if (options.ExecutionProvider == OnnxExecutionProvider.Cuda)
            {
                try
                {
                    sessionOptions.AppendExecutionProvider_CUDA(options.CudaDeviceId);
                }
                catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
                {
                    throw new InvalidOperationException(
                        $"ONNX Runtime could not start its CUDA execution provider on device {options.CudaDeviceId}: {e.Message} "
                        + "Reference Microsoft.ML.OnnxRuntime.Gpu instead of Microsoft.ML.OnnxRuntime, install the CUDA and cuDNN versions that ONNX Runtime release needs, "
                        + "or use OnnxExecutionProvider.Cpu.", e);
                }
            }
            try
            {
                return new InferenceSession(modelFile, sessionOptions);
            }
            catch (OnnxRuntimeException e)
            {
                throw new InvalidDataException($"{modelFile}: ONNX Runtime cannot load the model: {e.Message}", e);
            }
        }
        finally
        {
            // The session keeps its own copy of the settings.
            sessionOptions.Dispose();
        }
    }

    private static void CheckInputs(InferenceSession session, string modelFile)
    {
        foreach (var required in new[] { "input_ids", "attention_mask" })
        {
            if (!session.InputNames.Contains(required))
            {
                throw new InvalidDataException(
                    $"{modelFile}: the graph has no input \"{required}\" (its inputs are {string.Join(", ", session.InputNames)}); BertFineTune.Onnx runs BERT exports with input_ids, attention_mask and optionally token_type_ids.");
            }
        }
        foreach (var (name, meta) in session.InputMetadata)
        {
            if (meta.ElementDataType != TensorElementType.Int64 || meta.Dimensions.Length != 2)
            {
                throw new InvalidDataException(
                    $"{modelFile}: input \"{name}\" is {meta.ElementDataType} of rank {meta.Dimensions.Length}; BertFineTune.Onnx feeds int64 [batch_size, sequence_length] (multiple-choice exports are not supported).");
            }
        }
    }

    /// <summary>Checks that the graph has the output a predictor reads, with its rank and last dimension.</summary>
    private void RequireOutput(string name, int rank, int? lastDimension, string task, string head)
    {
        if (!_session.OutputMetadata.TryGetValue(name, out var meta) || meta.Dimensions.Length != rank)
        {
            var found = string.Join(", ", _session.OutputMetadata.Select(p => $"{p.Key} (rank {p.Value.Dimensions.Length})"));
            throw new ArgumentException(
                $"{Folder}: {task} needs an export of {head}, with an output \"{name}\" of rank {rank}; this graph's outputs are {found}.");
        }
        if (lastDimension is { } expected && meta.Dimensions[^1] > 0 && meta.Dimensions[^1] != expected)
        {
            throw new ArgumentException(
                $"{Folder}: output \"{name}\" has {meta.Dimensions[^1]} values per position but config.json gives {expected}; the config.json beside {ModelFileName} is not the exported model's.");
        }
    }
}
