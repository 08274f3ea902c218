using System.Globalization;
using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using BertFineTune.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>dense → activation → LayerNorm before the vocabulary projection (<c>cls.predictions.transform.*</c>).</summary>
internal sealed class BertPredictionHeadTransform : nn.Module
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Func<Tensor, Tensor> _activation;

    /// <summary>Creates the transform for <paramref name="config"/>.</summary>
    public BertPredictionHeadTransform(BertConfig config) : base(nameof(BertPredictionHeadTransform))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        _activation = Activations.Get(config.HiddenAct);
        Initialization.Init(dense, config.InitializerRange);
        Initialization.Init(LayerNorm);
        RegisterComponents();
    }

    /// <summary>LayerNorm(activation(dense(<paramref name="hidden"/>))).</summary>
    public Tensor Forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var projected = Autocast.To(Autocast.Linear(dense, hidden), hidden.dtype);
        return LayerNorm.forward(_activation(projected)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Vocabulary scores for every position (<c>cls.predictions.*</c>). The decoder weight is the word-embedding matrix when
/// <c>tie_word_embeddings</c> is true (it is then not a parameter of its own), else <c>cls.predictions.decoder.weight</c>.
/// </summary>
internal sealed class BertLMPredictionHead : nn.Module
{
    private readonly BertPredictionHeadTransform transform;
    private readonly Linear? decoder;
    private TorchSharp.Modules.Parameter bias;

    /// <summary>Creates the prediction head for <paramref name="config"/>.</summary>
    public BertLMPredictionHead(BertConfig config) : base(nameof(BertLMPredictionHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        transform = new BertPredictionHeadTransform(config);
        bias = new TorchSharp.Modules.Parameter(zeros(config.VocabSize));
        if (!config.TieWordEmbeddings)
        {
            decoder = nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
            Initialization.Init(decoder, config.InitializerRange);
        }
        RegisterComponents();
    }

    /// <summary>
    /// Resizes the vocabulary projection to <paramref name="rows"/> after the word embeddings were resized (see
    /// <see cref="BertForTask.ResizeTokenEmbeddings"/>). Tied, only the bias has its own rows: new ones are zero, as
    /// transformers' <c>_tie_or_clone_weights</c> pads the decoder bias. Untied, the decoder is resized as transformers'
    /// <c>_get_resized_lm_head</c> does: with mean resizing, new weight rows are the mean of the old rows and new bias
    /// entries the mean of the old bias; without, Normal(0, initializer_range) rows and zero bias.
    /// </summary>
    internal void ResizeVocabulary(int rows, bool meanResizing, double std)
    {
        if (decoder is null)
        {
            ReplaceBias(Initialization.Resize(bias, rows, Initialization.NewRows.Zero, std));
            return;
        }
        var weight = decoder.weight;
        decoder.weight = new TorchSharp.Modules.Parameter(
            Initialization.Resize(weight, rows, meanResizing ? Initialization.NewRows.Mean : Initialization.NewRows.Normal, std), weight.requires_grad);
        ReplaceBias(Initialization.Resize(bias, rows, meanResizing ? Initialization.NewRows.Mean : Initialization.NewRows.Zero, std));
    }

    private void ReplaceBias(Tensor values)
    {
        var resized = new TorchSharp.Modules.Parameter(values, bias.requires_grad);
        ConditionallyRegisterParameter(nameof(bias), resized);
        bias = resized;
    }

    /// <summary>Scores [.., vocab] for <paramref name="hidden"/>, using <paramref name="wordEmbeddings"/> when tied.</summary>
    public Tensor Forward(Tensor hidden, Tensor wordEmbeddings)
    {
        using var scope = NewDisposeScope();
        var weight = decoder?.weight ?? wordEmbeddings;
        var transformed = transform.Forward(hidden);
        // The vocabulary projection is the largest matmul of masked-LM training: bf16 under mixed precision, scores in float32.
        return Autocast.To(Autocast.Linear(transformed, weight, bias), transformed.dtype).MoveToOuterDisposeScope();
    }
}

/// <summary>The masked-LM head alone (<c>cls.*</c> of <c>BertForMaskedLM</c>).</summary>
internal sealed class BertOnlyMLMHead : nn.Module
{
    private readonly BertLMPredictionHead predictions;

    /// <summary>Creates the head for <paramref name="config"/>.</summary>
    public BertOnlyMLMHead(BertConfig config) : base(nameof(BertOnlyMLMHead))
    {
        predictions = new BertLMPredictionHead(config);
        RegisterComponents();
    }

    /// <summary>Vocabulary scores for <paramref name="hidden"/>.</summary>
    public Tensor Forward(Tensor hidden, Tensor wordEmbeddings) => predictions.Forward(hidden, wordEmbeddings);
}

/// <summary>The masked-LM and next-sentence heads (<c>cls.*</c> of <c>BertForPreTraining</c>).</summary>
internal sealed class BertPreTrainingHeads : nn.Module
{
    private readonly BertLMPredictionHead predictions;
    private readonly Linear seq_relationship;

    /// <summary>Creates the heads for <paramref name="config"/>.</summary>
    public BertPreTrainingHeads(BertConfig config) : base(nameof(BertPreTrainingHeads))
    {
        ArgumentNullException.ThrowIfNull(config);
        predictions = new BertLMPredictionHead(config);
        seq_relationship = nn.Linear(config.HiddenSize, 2);
        Initialization.Init(seq_relationship, config.InitializerRange);
        RegisterComponents();
    }

    /// <summary>Vocabulary scores per token and next-sentence scores per sequence.</summary>
    public (Tensor Prediction, Tensor SeqRelationship) Forward(Tensor hidden, Tensor pooled, Tensor wordEmbeddings) =>
        (predictions.Forward(hidden, wordEmbeddings), seq_relationship.forward(pooled));
}

/// <summary>Masked-language modelling, for domain adaptation (transformers' <c>BertForMaskedLM</c>); labels of -100 are ignored.</summary>
public sealed class MaskedLanguageModelHead : TaskHead
{
    private readonly BertOnlyMLMHead cls;

    /// <summary>Creates the head for <paramref name="config"/>.</summary>
    public MaskedLanguageModelHead(BertConfig config) : base(nameof(MaskedLanguageModelHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        cls = new BertOnlyMLMHead(config);
        TiedKeys = LanguageModelingKeys.Tied(config);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override string ArchitectureName => "BertForMaskedLM";

    /// <inheritdoc />
    public override IReadOnlySet<string> TiedKeys { get; }

    /// <summary>Vocabulary scores for every token: <c>logits</c> [batch_size, sequence_length, vocab_size].</summary>
    public override bool ExportOnnx(OnnxHeadGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        graph.Output("logits", LanguageModelingKeys.ExportPredictions(graph, graph.LastHiddenState),
            "batch_size", "sequence_length", graph.Config.VocabSize.ToString(CultureInfo.InvariantCulture));
        return true;
    }

    /// <inheritdoc />
    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var logits = cls.Forward(encoded.LastHiddenState, encoder.Embeddings.WordEmbeddingWeight);
        var labels = batch.Target("labels");
        var loss = labels is null ? null : Losses.TokenCrossEntropy(logits, labels);
        return CreateOutput(encoded, ("loss", loss), ("logits", logits));
    }
}

/// <summary>BERT's pre-training objective: masked LM plus next-sentence prediction (transformers' <c>BertForPreTraining</c>).</summary>
public sealed class PreTrainingHead : TaskHead
{
    private readonly BertPreTrainingHeads cls;

    /// <summary>Creates the head for <paramref name="config"/>.</summary>
    public PreTrainingHead(BertConfig config) : base(nameof(PreTrainingHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        cls = new BertPreTrainingHeads(config);
        TiedKeys = LanguageModelingKeys.Tied(config);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override string ArchitectureName => "BertForPreTraining";

    /// <inheritdoc />
    public override bool UsesPooler => true;

    /// <inheritdoc />
    public override IReadOnlySet<string> TiedKeys { get; }

    /// <summary>
    /// <c>prediction_logits</c> [batch_size, sequence_length, vocab_size] and <c>seq_relationship_logits</c> [batch_size, 2]
    /// (the names of transformers' <c>BertForPreTrainingOutput</c>).
    /// </summary>
    public override bool ExportOnnx(OnnxHeadGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        graph.Output("prediction_logits", LanguageModelingKeys.ExportPredictions(graph, graph.LastHiddenState),
            "batch_size", "sequence_length", graph.Config.VocabSize.ToString(CultureInfo.InvariantCulture));
        graph.Output("seq_relationship_logits", graph.Linear("cls.seq_relationship", graph.Pool(PoolingMode.Pooler)), "batch_size", "2");
        return true;
    }

    /// <inheritdoc />
    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var (prediction, relationship) = cls.Forward(encoded.LastHiddenState, encoded.PoolerOutput!, encoder.Embeddings.WordEmbeddingWeight);
        var labels = batch.Target("labels");
        var nextSentence = batch.Target("next_sentence_label");
        Tensor? loss = null;
        // As in transformers: the loss needs both targets.
        if (labels is not null && nextSentence is not null)
        {
            loss = Losses.TokenCrossEntropy(prediction, labels)
                + nn.functional.cross_entropy(relationship.view(-1, 2), nextSentence.view(-1).to_type(ScalarType.Int64));
        }
        return CreateOutput(encoded, ("loss", loss), ("prediction_logits", prediction), ("seq_relationship_logits", relationship));
    }
}

internal static class LanguageModelingKeys
{
    /// <summary>
    /// The vocabulary scores of <c>cls.predictions</c> on <paramref name="hidden"/> [batch, seq, hidden] → [batch, seq, vocab]:
    /// dense, activation, LayerNorm, then <c>MatMul</c> with the transposed decoder (the word embeddings when tied, read
    /// through a <c>Transpose</c> node so the file holds the matrix once) and <c>Add</c> of <c>cls.predictions.bias</c>.
    /// </summary>
    public static string ExportPredictions(OnnxHeadGraph graph, string hidden)
    {
        var w = graph.Writer;
        var config = graph.Config;
        var transformed = graph.LayerNorm("cls.predictions.transform.LayerNorm",
            graph.Activation(config.HiddenAct, graph.Linear("cls.predictions.transform.dense", hidden)), config.LayerNormEps);
        var decoder = graph.HasParameter("cls.predictions.decoder.weight")
            ? graph.Named("cls.predictions.decoder.weight")
            : graph.Named("bert.embeddings.word_embeddings.weight");
        var scores = w.Node("MatMul", [transformed, w.Node("Transpose", [decoder], ("perm", new long[] { 1, 0 }))]);
        return w.Node("Add", [scores, graph.Named("cls.predictions.bias")]);
    }

    /// <summary>Checkpoint keys that copy tied weights: the decoder bias always (it is <c>cls.predictions.bias</c>), the decoder weight when tied.</summary>
    public static IReadOnlySet<string> Tied(BertConfig config) =>
        config.TieWordEmbeddings
            ? new HashSet<string>(["cls.predictions.decoder.weight", "cls.predictions.decoder.bias"])
            : new HashSet<string>(["cls.predictions.decoder.bias"]);
}
