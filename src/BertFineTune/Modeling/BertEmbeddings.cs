using BertFineTune.Checkpoints;
using BertFineTune.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Modeling;

/// <summary>Word + token-type + absolute position embeddings, then LayerNorm and dropout (<c>embeddings.*</c>).</summary>
internal sealed class BertEmbeddings : nn.Module
{
    // Field names are the Hugging Face state-dict keys.
    private readonly Embedding word_embeddings;
    private readonly Embedding position_embeddings;
    private readonly Embedding token_type_embeddings;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;

    /// <summary>Creates the embeddings of <paramref name="config"/>, initialised as transformers does.</summary>
    public BertEmbeddings(BertConfig config) : base(nameof(BertEmbeddings))
    {
        ArgumentNullException.ThrowIfNull(config);
        word_embeddings = nn.Embedding(config.VocabSize, config.HiddenSize, padding_idx: config.PadTokenId);
        position_embeddings = nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize);
        token_type_embeddings = nn.Embedding(config.TypeVocabSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        Initialization.Init(word_embeddings, config.InitializerRange, config.PadTokenId);
        Initialization.Init(position_embeddings, config.InitializerRange, null);
        Initialization.Init(token_type_embeddings, config.InitializerRange, null);
        Initialization.Init(LayerNorm);
        RegisterComponents();
    }

    /// <summary>The type of the embedding weights (float32 unless the model was converted), which the encoder returns its outputs in.</summary>
    public ScalarType ParameterType => LayerNorm.weight!.dtype;

    /// <summary>The word-embedding matrix [vocab, hidden], which the masked-LM decoder shares.</summary>
    public Parameter WordEmbeddingWeight => word_embeddings.weight!;

    /// <summary>
    /// Resizes the word embeddings to <paramref name="rows"/> rows (see <c>BertForTask.ResizeTokenEmbeddings</c>),
    /// keeping the existing rows and whether they are trained.
    /// </summary>
    internal void ResizeWordEmbeddings(long rows, Initialization.NewRows newRows, double std)
    {
        var old = word_embeddings.weight!;
        bool trained = old.requires_grad;
        word_embeddings.weight = new Parameter(Initialization.Resize(old, rows, newRows, std), trained);
    }

    /// <summary>
    /// Embeds <paramref name="inputIds"/> [batch, seq] with optional <paramref name="tokenTypeIds"/> (zeros when null).
    /// The sums and the LayerNorm run in the weights' type (float32); under <see cref="Autocast"/> the LayerNorm's output
    /// is cast to the compute type once, so dropout and every block above run on bf16 hidden states.
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor? tokenTypeIds)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        using var scope = NewDisposeScope();
        long length = inputIds.shape[1];
        var positions = arange(length, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        var types = tokenTypeIds ?? zeros_like(inputIds);
        // Same order of additions as transformers, so rounding matches.
        var embeddings = word_embeddings.forward(inputIds) + token_type_embeddings.forward(types);
        embeddings = embeddings + position_embeddings.forward(positions);
        var normalized = LayerNorm.forward(embeddings);
        if (Autocast.ComputeType is { } compute)
        {
            normalized = Autocast.To(normalized, compute);
        }
        return dropout.forward(normalized).MoveToOuterDisposeScope();
    }
}
