using BertFineTune.Checkpoints;
using BertFineTune.Runtime;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Modeling;

/// <summary>Multi-head scaled dot-product self-attention (<c>attention.self.*</c>).</summary>
internal sealed class BertSelfAttention : nn.Module
{
    private readonly Linear query;
    private readonly Linear key;
    private readonly Linear value;
    private readonly Dropout dropout;
    private readonly int _heads;
    private readonly int _headSize;
    private readonly double _dropoutProbability;

    /// <summary>Creates the attention projections of <paramref name="config"/>.</summary>
    public BertSelfAttention(BertConfig config) : base(nameof(BertSelfAttention))
    {
        ArgumentNullException.ThrowIfNull(config);
        _heads = config.NumAttentionHeads;
        _headSize = config.HeadSize;
        _dropoutProbability = config.AttentionProbsDropoutProb;
        query = nn.Linear(config.HiddenSize, config.HiddenSize);
        key = nn.Linear(config.HiddenSize, config.HiddenSize);
        value = nn.Linear(config.HiddenSize, config.HiddenSize);
        dropout = nn.Dropout(config.AttentionProbsDropoutProb);
        foreach (var linear in new[] { query, key, value })
        {
            Initialization.Init(linear, config.InitializerRange);
        }
        RegisterComponents();
    }

    /// <summary>
    /// Attends over <paramref name="hidden"/> [batch, seq, hidden] with an additive <paramref name="mask"/> [batch, 1, 1, seq].
    /// Returns the context and, when <paramref name="returnProbabilities"/>, the attention probabilities [batch, heads, seq, seq].
    /// </summary>
    public (Tensor Context, Tensor? Probabilities) Forward(Tensor hidden, Tensor? mask, bool returnProbabilities)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        using var scope = NewDisposeScope();
        long batch = hidden.shape[0], length = hidden.shape[1];
        // Under mixed precision the projections and both attention matmuls run in the compute type (bf16).
        var compute = Autocast.ComputeType;
        // Under mixed precision the hidden states arrive in bf16 already (the embeddings cast them once); outside a
        // scope this is the hidden state itself.
        var input = compute is { } inputType ? Autocast.To(hidden, inputType) : hidden;
        Tensor Split(Linear projection) =>
            Autocast.Linear(projection, input).view(batch, length, _heads, _headSize).transpose(1, 2);
        var q = Split(query);
        var k = Split(key);
        var v = Split(value);

        Tensor context;
        Tensor? probabilities = null;
        if (returnProbabilities)
        {
            // The explicit path, only when the probabilities themselves are wanted.
            var scores = q.matmul(k.transpose(2, 3)) * (1.0 / Math.Sqrt(_headSize));
            if (compute is not null)
            {
                // The mask add and the softmax in float32: the probabilities are returned to the caller, and this path
                // runs only when they are wanted (the bf16 hidden states would give them to 3 significant digits).
                scores = Autocast.To(scores, ScalarType.Float32);
            }
            if (mask is not null)
            {
                scores = scores + mask;
            }
            probabilities = scores.softmax(-1);
            var dropped = dropout.forward(probabilities);
            context = (compute is { } type ? Autocast.To(dropped, type) : dropped).matmul(v);
        }
        else
        {
            // The fused kernel wants the mask in the query's type; the encoder builds it in the compute type already.
            var fusedMask = mask is not null && compute is { } type ? Autocast.To(mask, type) : mask;
            context = nn.functional.scaled_dot_product_attention(q, k, v, fusedMask, training ? _dropoutProbability : 0.0, false);
        }
        context = context.transpose(1, 2).reshape(batch, length, _heads * _headSize);
        return (context.MoveToOuterDisposeScope(), probabilities?.MoveToOuterDisposeScope());
    }
}
