using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

/// <summary>
/// A custom classification head: a two-layer MLP on the encoder's [CLS] vector, trained with focal loss
/// (Lin et al., 2017) instead of cross-entropy.
/// </summary>
/// <remarks>
/// The weights live in submodule fields, whose names become the checkpoint keys next to the encoder's <c>bert.*</c>:
/// <c>mlp_hidden.weight</c>, <c>mlp_hidden.bias</c>, <c>mlp_output.weight</c>, <c>mlp_output.bias</c>. The label names
/// are saved in config.json (<c>id2label</c>) through <see cref="DescribeInConfig"/>, so a reload with
/// <c>WithHead(c =&gt; new MlpFocalHead(c))</c> gets them back; gamma is a constructor argument, not saved.
/// </remarks>
public sealed class MlpFocalHead : TaskHead
{
    private readonly Dropout dropout;
    private readonly Linear mlp_hidden;
    private readonly Linear mlp_output;

    /// <summary>Creates the head for <paramref name="config"/>'s labels, with focusing parameter <paramref name="gamma"/>.</summary>
    public MlpFocalHead(BertConfig config, double gamma = 2.0) : base(nameof(MlpFocalHead))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfNegative(gamma);
        Labels = config.Labels;
        Gamma = gamma;
        dropout = nn.Dropout(config.ClassifierDropout ?? config.HiddenDropoutProb);
        mlp_hidden = nn.Linear(config.HiddenSize, config.HiddenSize);
        mlp_output = nn.Linear(config.HiddenSize, config.NumLabels);
        using (no_grad())
        {
            // BERT's initialisation of new weights: normal(0, initializer_range), zero bias.
            foreach (var linear in new[] { mlp_hidden, mlp_output })
            {
                nn.init.normal_(linear.weight, 0, config.InitializerRange);
                nn.init.zeros_(linear.bias!);
            }
        }
        RegisterComponents();
    }

    /// <summary>The label names by id.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>The focusing parameter: 0 gives cross-entropy; larger values down-weight well-classified examples more.</summary>
    public double Gamma { get; }

    /// <inheritdoc />
    public override string ArchitectureName => "BertForMlpFocalClassification";   // written to config.json architectures

    /// <inheritdoc />
    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        ArgumentNullException.ThrowIfNull(batch);
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var cls = encoded.LastHiddenState.select(1, 0);                              // [batch, hidden]
        var hidden = nn.functional.gelu(mlp_hidden.forward(dropout.forward(cls)));   // layer 1
        var logits = mlp_output.forward(dropout.forward(hidden));                    // layer 2: [batch, labels]
        var labels = batch.Target("labels");
        var loss = labels is null ? null : FocalLoss(logits, labels, Gamma);
        return CreateOutput(encoded, ("loss", loss), ("logits", logits));           // moves results out of the scope
    }

    /// <summary>
    /// The ONNX export hook (<c>TaskModel.ExportOnnx</c>): the same computation as <see cref="Forward"/> in evaluation mode
    /// (no dropout, no loss) appended to the exported graph: [CLS] vector → mlp_hidden → GELU → mlp_output → <c>logits</c>.
    /// </summary>
    public override bool ExportOnnx(OnnxHeadGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var cls = graph.Pool(PoolingMode.Cls);                                       // [batch, hidden]
        var hidden = graph.Activation("gelu", graph.Linear(mlp_hidden, cls));        // layer 1
        var logits = graph.Linear(mlp_output, hidden);                               // layer 2: [batch, labels]
        graph.Output("logits", logits, "batch_size", Labels.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return true;
    }

    /// <inheritdoc />
    public override BertConfig DescribeInConfig(BertConfig config) => config with { Labels = Labels };

    /// <summary>
    /// Focal loss, averaged over the batch:
    /// <code>
    ///   FL = (1/N) Σ_i  −(1 − p_i)^γ · log p_i,    p_i = softmax(logits_i)[y_i]
    /// </code>
    /// the cross-entropy −log p_i of each example scaled by (1 − p_i)^γ, so examples the model already gets right
    /// (p_i near 1) add little and the hard or rare ones dominate. With γ = 0 it is plain cross-entropy.
    /// </summary>
    public static Tensor FocalLoss(Tensor logits, Tensor labels, double gamma)
    {
        using var scope = NewDisposeScope();
        var logP = nn.functional.log_softmax(logits, -1).gather(-1, labels.unsqueeze(-1)).squeeze(-1);   // log p_i
        var p = logP.exp();                                                                               // p_i
        var loss = (-(1 - p).pow(gamma) * logP).mean();
        return loss.MoveToOuterDisposeScope();
    }
}
