using BertFineTune.Tokenization;

namespace BertFineTune.Inference;

/// <summary>
/// Shared plumbing of the predictors: a model backend (TorchSharp in BertFineTune, ONNX Runtime in BertFineTune.Onnx)
/// with its tokenizer, and length-sorted batching so that dynamic padding adds little. Tokenizing and post-processing
/// happen here on plain arrays, so every backend gives the same results from the same logits. The predictor itself keeps
/// no per-call state, so whether it may serve several threads at once is its backend's: ONNX Runtime's (BertFineTune.Onnx)
/// may, since an <c>InferenceSession</c> runs concurrent calls, so one predictor can serve a whole web service; TorchSharp's
/// may not (a forward pass switches the model to eval mode and back, and makes the bfloat16 weight copies once), so
/// create one per thread there.
/// </summary>
public abstract class Predictor
{
    /// <summary>Wraps <paramref name="backend"/> and <paramref name="tokenizer"/>; <paramref name="batchSize"/> inputs run together.</summary>
    /// <exception cref="InvalidOperationException">The tokenizer has ids past the model's <c>vocab_size</c>.</exception>
    private protected Predictor(IPredictorBackend backend, BertTokenizer tokenizer, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        InputLimits.CheckVocabulary(tokenizer, backend.Config);
        Backend = backend;
        Tokenizer = tokenizer;
        BatchSize = batchSize;
    }

    /// <summary>The tokenizer.</summary>
    public BertTokenizer Tokenizer { get; }

    /// <summary>Inputs per forward pass.</summary>
    public int BatchSize { get; }

    /// <summary>What runs the model.</summary>
    internal IPredictorBackend Backend { get; }

    /// <summary>The longest input the model takes (its position table, or the tokenizer's limit when smaller).</summary>
    protected int MaxLength => InputLimits.MaxLength(Tokenizer, Backend.Config);

    /// <summary>Options that truncate to <see cref="MaxLength"/> only when an input is longer, so ordinary inputs encode as transformers' pipelines encode them.</summary>
    protected EncodingOptions TruncateToModel => new() { Truncation = TruncationStrategy.LongestFirst, MaxLength = MaxLength };

    /// <summary>
    /// Runs the model over <paramref name="encodings"/> in batches of similar length and hands each encoding's row of every
    /// output (float32, on the CPU) to <paramref name="consume"/> with the encoding's index.
    /// </summary>
    private protected void Run(IReadOnlyList<EncodedText> encodings, Action<int, IReadOnlyDictionary<string, OutputRow>> consume)
    {
        ArgumentNullException.ThrowIfNull(encodings);
        var order = Enumerable.Range(0, encodings.Count).OrderBy(i => encodings[i].Length).ToArray();
        foreach (var chunk in order.Chunk(BatchSize))
        {
            var rows = Backend.Forward(chunk.Select(i => encodings[i]).ToList(), Tokenizer.PadTokenId);
            for (int row = 0; row < chunk.Length; row++)
            {
                consume(chunk[row], rows[row]);
            }
        }
    }

    /// <summary>The output <paramref name="name"/> of a row.</summary>
    /// <exception cref="InvalidOperationException">The model has no such output.</exception>
    private protected static OutputRow Output(IReadOnlyDictionary<string, OutputRow> outputs, string name) =>
        outputs.TryGetValue(name, out var row) ? row : throw new InvalidOperationException(
            $"The model has no output \"{name}\" (it has {string.Join(", ", outputs.Keys.Select(k => $"\"{k}\""))}); it was not made with the head this predictor needs.");
}
