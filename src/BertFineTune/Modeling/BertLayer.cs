using BertFineTune.Checkpoints;
using BertFineTune.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Modeling;

/// <summary>Projection of the attention context, dropout, residual and LayerNorm (<c>attention.output.*</c>).</summary>
internal sealed class BertSelfOutput : nn.Module
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;

    /// <summary>Creates the block for <paramref name="config"/>.</summary>
    public BertSelfOutput(BertConfig config) : base(nameof(BertSelfOutput))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        Initialization.Init(dense, config.InitializerRange);
        Initialization.Init(LayerNorm);
        RegisterComponents();
    }

    /// <summary>LayerNorm(dropout(dense(<paramref name="context"/>)) + <paramref name="residual"/>).</summary>
    public Tensor Forward(Tensor context, Tensor residual)
    {
        using var scope = NewDisposeScope();
        // Under mixed precision the projection, dropout and the residual add are bf16 (the residual is bf16 too), and
        // LayerNorm takes libtorch's mixed-dtype path: bf16 input, float32 gamma/beta and statistics, bf16 output.
        // Outside it every tensor is float32 and the To is no operation.
        var projected = Autocast.To(Autocast.Linear(dense, context), residual.dtype);
        return LayerNorm.forward(dropout.forward(projected) + residual).MoveToOuterDisposeScope();
    }
}

/// <summary>Self-attention with its output block (<c>attention.*</c>).</summary>
internal sealed class BertAttention : nn.Module
{
    // "self" is a C# keyword: the field is renamed, the key stays.
    [TorchSharp.Utils.ComponentName(Name = "self")]
    private readonly BertSelfAttention selfAttention;
    private readonly BertSelfOutput output;

    /// <summary>Creates the block for <paramref name="config"/>.</summary>
    public BertAttention(BertConfig config) : base(nameof(BertAttention))
    {
        selfAttention = new BertSelfAttention(config);
        output = new BertSelfOutput(config);
        RegisterComponents();
    }

    /// <summary>Attention over <paramref name="hidden"/>, then the output block; probabilities when requested.</summary>
    public (Tensor Hidden, Tensor? Probabilities) Forward(Tensor hidden, Tensor? mask, bool returnProbabilities)
    {
        using var scope = NewDisposeScope();
        var (context, probabilities) = selfAttention.Forward(hidden, mask, returnProbabilities);
        return (output.Forward(context, hidden).MoveToOuterDisposeScope(), probabilities?.MoveToOuterDisposeScope());
    }
}

/// <summary>The feed-forward expansion and activation (<c>intermediate.*</c>).</summary>
internal sealed class BertIntermediate : nn.Module
{
    private readonly Linear dense;
    private readonly Func<Tensor, Tensor> _activation;

    /// <summary>Creates the block for <paramref name="config"/>.</summary>
    public BertIntermediate(BertConfig config) : base(nameof(BertIntermediate))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.IntermediateSize);
        _activation = Activations.Get(config.HiddenAct);
        Initialization.Init(dense, config.InitializerRange);
        RegisterComponents();
    }

    /// <summary>
    /// activation(dense(<paramref name="hidden"/>)). Under <see cref="Autocast"/> the projection and the activation run
    /// in the compute type (bf16), as PyTorch's CPU autocast leaves GELU in its input's type.
    /// </summary>
    public Tensor Forward(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        if (Autocast.ComputeType is null)
        {
            return _activation(dense.forward(hidden)).MoveToOuterDisposeScope();
        }
        return _activation(Autocast.Linear(dense, hidden)).MoveToOuterDisposeScope();
    }
}

/// <summary>The feed-forward contraction, dropout, residual and LayerNorm (<c>output.*</c>).</summary>
internal sealed class BertOutput : nn.Module
{
    private readonly Linear dense;
    private readonly LayerNorm LayerNorm;
    private readonly Dropout dropout;

    /// <summary>Creates the block for <paramref name="config"/>.</summary>
    public BertOutput(BertConfig config) : base(nameof(BertOutput))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.IntermediateSize, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, eps: config.LayerNormEps);
        dropout = nn.Dropout(config.HiddenDropoutProb);
        Initialization.Init(dense, config.InitializerRange);
        Initialization.Init(LayerNorm);
        RegisterComponents();
    }

    /// <summary>LayerNorm(dropout(dense(<paramref name="intermediate"/>)) + <paramref name="residual"/>).</summary>
    public Tensor Forward(Tensor intermediate, Tensor residual)
    {
        using var scope = NewDisposeScope();
        // As in BertSelfOutput: bf16 dropout and residual add, mixed-dtype LayerNorm under mixed precision.
        var projected = Autocast.To(Autocast.Linear(dense, intermediate), residual.dtype);
        return LayerNorm.forward(dropout.forward(projected) + residual).MoveToOuterDisposeScope();
    }
}

/// <summary>One transformer layer: attention then feed-forward (<c>encoder.layer.N.*</c>).</summary>
internal sealed class BertLayer : nn.Module
{
    private readonly BertAttention attention;
    private readonly BertIntermediate intermediate;
    private readonly BertOutput output;

    /// <summary>Creates the layer for <paramref name="config"/>.</summary>
    public BertLayer(BertConfig config) : base(nameof(BertLayer))
    {
        attention = new BertAttention(config);
        intermediate = new BertIntermediate(config);
        output = new BertOutput(config);
        RegisterComponents();
    }

    /// <summary>Runs the layer; returns the new hidden states and, when requested, the attention probabilities.</summary>
    public (Tensor Hidden, Tensor? Probabilities) Forward(Tensor hidden, Tensor? mask, bool returnProbabilities)
    {
        using var scope = NewDisposeScope();
        var (attended, probabilities) = attention.Forward(hidden, mask, returnProbabilities);
        var result = output.Forward(intermediate.Forward(attended), attended);
        return (result.MoveToOuterDisposeScope(), probabilities?.MoveToOuterDisposeScope());
    }
}

/// <summary>The stack of transformer layers (<c>encoder.layer.*</c>; transformers calls this class BertEncoder).</summary>
internal sealed class BertLayerStack : nn.Module
{
    private readonly ModuleList<BertLayer> layer;

    /// <summary>Creates <see cref="BertConfig.NumHiddenLayers"/> layers.</summary>
    public BertLayerStack(BertConfig config) : base(nameof(BertLayerStack))
    {
        ArgumentNullException.ThrowIfNull(config);
        layer = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new BertLayer(config)).ToArray());
        Layers = [.. layer];
        RegisterComponents();
    }

    /// <summary>The layers, bottom first.</summary>
    public IReadOnlyList<BertLayer> Layers { get; }
}

/// <summary>tanh(dense(first token)): the sentence representation used by classification heads (<c>pooler.*</c>).</summary>
internal sealed class BertPooler : nn.Module
{
    private readonly Linear dense;

    /// <summary>Creates the pooler for <paramref name="config"/>.</summary>
    public BertPooler(BertConfig config) : base(nameof(BertPooler))
    {
        ArgumentNullException.ThrowIfNull(config);
        dense = nn.Linear(config.HiddenSize, config.HiddenSize);
        Initialization.Init(dense, config.InitializerRange);
        RegisterComponents();
    }

    /// <summary>Pools <paramref name="hidden"/> [batch, seq, hidden] to [batch, hidden].</summary>
    public Tensor Forward(Tensor hidden)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        using var scope = NewDisposeScope();
        return Autocast.To(Autocast.Linear(dense, hidden.select(1, 0)), hidden.dtype).tanh().MoveToOuterDisposeScope();
    }
}
