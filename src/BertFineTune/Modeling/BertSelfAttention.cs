using BertFineTune.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Modeling;

/// <summary>Multi-head scaled dot-product self-attention (<c>attention.self.*</c>).</summary>
public sealed class BertSelfAttention : nn.Module
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
        Tensor Split(Linear projection) =>
            projection.forward(hidden).view(batch, length, _heads, _headSize).transpose(1, 2);
        var q = Split(query);
        var k = Split(key);
        var v = Split(value);

        Tensor context;
        Tensor? probabilities = null;
        if (returnProbabilities)
        {
            // The explicit path, only when the probabilities themselves are wanted.
            var scores = q.matmul(k.transpose(2, 3)) * (1.0 / Math.Sqrt(_headSize));
            if (mask is not null)
            {
                scores = scores + mask;
            }
            probabilities = scores.softmax(-1);
            context = dropout.forward(probabilities).matmul(v);
        }
        else
        {
            context = nn.functional.scaled_dot_product_attention(q, k, v, mask, training ? _dropoutProbability : 0.0, false);
        }
        context = context.transpose(1, 2).reshape(batch, length, _heads * _headSize);
        return (context.MoveToOuterDisposeScope(), probabilities?.MoveToOuterDisposeScope());
    }
}
