using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Onnx;
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
    /// Whether the trainer and the predictors this model creates compute the encoder in bfloat16 on float32 weights
    /// (see <see cref="Runtime.Autocast"/>): <see cref="BertModelBuilder.UseMixedPrecision"/> was called and the device
    /// supports bfloat16 (CUDA, or a CPU with AVX512-BF16 or AMX-BF16). Where it does not, this is false and
    /// <see cref="BertModelBuilder.Build"/> logged one line saying why.
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

    /// <summary>
    /// A trainer for this model with <paramref name="options"/>, logging through <see cref="LoggerFactory"/>, in mixed
    /// precision when <see cref="MixedPrecision"/> is on.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">An option is invalid, or asks to freeze or re-initialise more layers than the model has.</exception>
    public Trainer CreateTrainer(TrainerOptions options) => new(Model, options, LoggerFactory, MixedPrecision, Tokenizer);

    /// <summary>
    /// Saves weights, config and tokenizer in the Hugging Face layout (loadable by this library and by transformers). A
    /// classification head whose <see cref="BertConfig.ClassifierPooling"/> is not the pooler is saved as
    /// <c>BertFor…</c> with <c>classifier_pooling</c> in config.json and no pooler weights: this library reloads it as
    /// trained, but transformers' class ignores the field and classifies its pooler output, which it initialises anew (it
    /// warns about the missing <c>bert.pooler.*</c> weights), so its predictions differ; a warning is logged saying so.
    /// The folder is replaced as a whole (<see cref="ModelFolder.Replace"/>): the new one is written beside it and swapped
    /// in, so a reader or a kill at any instant sees the old model or the new one, never new weights with an old
    /// config.json; anything else the old folder held is deleted with it.
    /// </summary>
    /// <param name="folder">The model folder to create or replace: new, empty, or holding a saved model (config.json).</param>
    /// <exception cref="ArgumentException"><paramref name="folder"/> is empty or a file.</exception>
    /// <exception cref="IOException"><paramref name="folder"/> holds files but no config.json (it is not a model folder, so it is not replaced), or a file cannot be written.</exception>
    public void Save(string folder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any() && !File.Exists(Path.Combine(folder, BertConfig.FileName)))
        {
            throw new IOException(
                $"{Path.GetFullPath(folder)} is not empty and holds no {BertConfig.FileName}, so it is not a model folder; saving replaces the folder as a whole, "
                + "which would delete its files. Give a new or empty folder, or a model folder to replace.");
        }
        ModelFolder.Replace(folder, WriteInto);
        var pooling = Model.Head switch
        {
            SequenceClassificationHead h => h.Pooling,
            MultipleChoiceHead h => h.Pooling,
            _ => PoolingMode.Pooler,
        };
        if (pooling != PoolingMode.Pooler)
        {
            LoggerFactory.CreateLogger<TaskModel>().LogWarning(
                "Saved {Folder} with classifier_pooling '{Pooling}'. This library reloads it as trained; transformers' {Architecture} ignores "
                + "classifier_pooling and classifies the pooler output, which the folder lacks, so transformers initialises the pooler anew and predicts differently",
                folder, BertConfigJson.NameOf(pooling), Model.Head.ArchitectureName);
        }
    }

    /// <summary>Writes weights, config and tokenizer files into <paramref name="folder"/> (file by file; <see cref="Save"/> makes it whole).</summary>
    internal void WriteInto(string folder)
    {
        Model.Save(folder);
        Tokenizer.Save(folder);
    }

    /// <summary>
    /// Writes the model (encoder and head) as a self-contained ONNX file for ONNX Runtime, built node by node from the
    /// weights in float32. Inputs <c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c> (int64
    /// [batch_size, sequence_length], dynamic; [batch_size, num_choices, sequence_length] for multiple choice); outputs named
    /// as optimum names them (<c>logits</c>; <c>start_logits</c>/<c>end_logits</c>; <c>last_hidden_state</c>/<c>pooler_output</c>;
    /// <c>embeddings</c> for sentence embeddings; <c>prediction_logits</c>/<c>seq_relationship_logits</c> for pre-training).
    /// The graph computes what the model computes in evaluation mode and is laid out as torch.onnx exports transformers'
    /// BERT, so ONNX Runtime's optimizer fuses its LayerNorms and GELUs. <c>metadata_props</c>: <c>bertfinetune_version</c>,
    /// <c>architecture</c> and, for heads with labels, <c>id2label</c>. The file is written to a temporary file beside
    /// <paramref name="path"/> and renamed over it when complete; nothing else is written. A custom head is exported when it
    /// overrides <see cref="TaskHead.ExportOnnx"/>. With <see cref="OnnxExportOptions.Quantization"/> =
    /// <see cref="OnnxQuantization.DynamicInt8"/> the linear layers are stored as int8 and quantize their inputs at run time
    /// (ONNX Runtime's dynamic quantization); the outputs then differ from the model's by the int8 rounding. See docs/onnx-export.md.
    /// </summary>
    /// <param name="path">The <c>.onnx</c> file to write (replaced when it exists).</param>
    /// <param name="options">The opset (17 by default) and the quantization (none by default); null for the defaults.</param>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty or a folder, or (int8) a linear weight is NaN or infinite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The opset is below 12 or above 21 (<see cref="OnnxExportOptions.MinimumOpset"/>, <see cref="OnnxExportOptions.MaximumOpset"/>), or the quantization is not a defined value.</exception>
    /// <exception cref="NotSupportedException">The head does not implement <see cref="TaskHead.ExportOnnx"/>; the message names it.</exception>
    /// <exception cref="IOException">The file cannot be written.</exception>
    public void ExportOnnx(string path, OnnxExportOptions? options = null) => OnnxModelExport.Export(Model, path, options);

    /// <summary>
    /// Writes the folder that <c>BertFineTune.Onnx</c>'s <c>OnnxModel.Load</c> reads: <c>model.onnx</c> (as
    /// <see cref="ExportOnnx"/> writes it), <c>config.json</c> (the labels, <c>problem_type</c> and limits the predictors
    /// need) and the tokenizer files (<c>tokenizer.json</c>, <c>tokenizer_config.json</c>, <c>vocab.txt</c>, as
    /// <see cref="BertTokenizer.Save"/> writes them). No weights are written besides the ONNX file. Existing files of
    /// those names are replaced. See docs/onnx-export.md.
    /// </summary>
    /// <param name="folder">The folder to write (created when missing).</param>
    /// <param name="options">The opset and quantization of <c>model.onnx</c>; null for the defaults.</param>
    /// <exception cref="ArgumentException"><paramref name="folder"/> is empty or an existing file, or (int8) a linear weight is NaN or infinite.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The opset or quantization is out of range (see <see cref="ExportOnnx"/>).</exception>
    /// <exception cref="NotSupportedException">The head does not implement <see cref="TaskHead.ExportOnnx"/>; the message names it.</exception>
    /// <exception cref="IOException">A file cannot be written.</exception>
    public void ExportOnnxFolder(string folder, OnnxExportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (File.Exists(folder))
        {
            throw new ArgumentException($"{folder} is a file; give the folder to write model.onnx, config.json and the tokenizer files into.", nameof(folder));
        }
        Directory.CreateDirectory(folder);
        // The graph first: an unexportable head fails before anything else is written.
        OnnxModelExport.Export(Model, Path.Combine(folder, OnnxFolderModelFileName), options);
        Model.Config.Save(folder);
        Tokenizer.Save(folder);
    }

    /// <summary>The ONNX file's name in the folder <see cref="ExportOnnxFolder"/> writes (what BertFineTune.Onnx loads).</summary>
    internal const string OnnxFolderModelFileName = "model.onnx";

    /// <summary>A text (pair) classifier; needs a sequence-classification head.</summary>
    /// <exception cref="ArgumentException">The head is not sequence classification.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1.</exception>
    public TextClassificationPredictor CreateTextClassificationPredictor(int batchSize = 32) => TorchPredictors.TextClassification(Model, Tokenizer, batchSize, MixedPrecision);

    /// <summary>A token classifier (named entities); needs a token-classification head.</summary>
    /// <exception cref="ArgumentException">The head is not token classification.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1, or <paramref name="stride"/> is negative.</exception>
    public TokenClassificationPredictor CreateTokenClassificationPredictor(int batchSize = 32, int stride = 32) => TorchPredictors.TokenClassification(Model, Tokenizer, batchSize, stride, MixedPrecision);

    /// <summary>An extractive question answerer; needs a question-answering head.</summary>
    /// <exception cref="ArgumentException">The head is not a question-answering head.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1.</exception>
    public QuestionAnsweringPredictor CreateQuestionAnsweringPredictor(int batchSize = 16) => TorchPredictors.QuestionAnswering(Model, Tokenizer, batchSize, MixedPrecision);

    /// <summary>A fill-mask predictor; needs a masked-LM head.</summary>
    /// <exception cref="ArgumentException">The head is not a masked-LM head.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1.</exception>
    public FillMaskPredictor CreateFillMaskPredictor(int batchSize = 32) => TorchPredictors.FillMask(Model, Tokenizer, batchSize, MixedPrecision);

    /// <summary>A sentence embedder; needs a sentence-embedding head.</summary>
    /// <exception cref="ArgumentException">The head is not a sentence-embedding head.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="batchSize"/> is below 1.</exception>
    public EmbeddingPredictor CreateEmbeddingPredictor(int batchSize = 32) => TorchPredictors.Embedding(Model, Tokenizer, batchSize, MixedPrecision);

    /// <inheritdoc />
    public void Dispose() => Model.Dispose();
}
