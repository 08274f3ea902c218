using BertFineTune.Checkpoints;

namespace BertFineTune.Benchmarks;

/// <summary>
/// A BERT size with the batch it is benchmarked at, and the FLOP counts the GFLOP/s figures divide by.
/// </summary>
/// <remarks>
/// FLOPs of one training step (forward + backward), the usual dense-transformer estimate:
/// <c>6 × P × T + 12 × L × B × S² × H</c>, where P = L × (4H² + 2HI) are the weights of the encoder's matmuls (Q, K, V,
/// attention output, feed-forward up and down; embeddings, pooler and classifier are left out), T = B × S the tokens of
/// the batch (padding included: it is computed), 2 FLOPs per multiply-add, the backward pass twice the forward. The second
/// term is attention: QKᵀ and (probabilities)V, each 2·B·S²·H per layer forward, ×3 for forward and backward. A forward
/// pass alone is a third of this.
/// </remarks>
internal sealed record Shape(string Name, int Layers, int Hidden, int Heads, int Intermediate, int Batch, int Sequence)
{
    public const int VocabSize = 30522;

    public static readonly Shape Mini = new("BERT-Mini", 4, 256, 4, 1024, 32, 128);
    public static readonly Shape Base = new("BERT-Base", 12, 768, 12, 3072, 8, 128);

    public long Tokens => (long)Batch * Sequence;

    /// <summary>Weights of the encoder's matmuls (the P of the FLOP formula).</summary>
    public long MatmulParameters => Layers * (4L * Hidden * Hidden + 2L * Hidden * Intermediate);

    /// <summary>FLOPs of one training step on a [Batch, Sequence] batch.</summary>
    public double TrainingFlops => TrainingFlopsFor(Batch, Sequence);

    public double TrainingFlopsFor(long batch, long sequence) =>
        6.0 * MatmulParameters * batch * sequence + 12.0 * Layers * batch * sequence * sequence * Hidden;

    /// <summary>The matmuls of one layer's forward pass as (rows, inner, columns, how many): [T, H]×[H, H] ×4, [T, H]×[H, I], [T, I]×[I, H].</summary>
    public IReadOnlyList<(long M, long K, long N, int Count)> LayerMatmuls =>
    [
        (Tokens, Hidden, Hidden, 4),
        (Tokens, Hidden, Intermediate, 1),
        (Tokens, Intermediate, Hidden, 1),
    ];

    public BertConfig Config(double dropout = 0.1) => new()
    {
        VocabSize = VocabSize,
        HiddenSize = Hidden,
        NumHiddenLayers = Layers,
        NumAttentionHeads = Heads,
        IntermediateSize = Intermediate,
        MaxPositionEmbeddings = 512,
        HiddenDropoutProb = dropout,
        AttentionProbsDropoutProb = dropout,
        Labels = ["negative", "positive"],
    };

    public override string ToString() => $"{Name} (L={Layers}, H={Hidden}, A={Heads}, I={Intermediate}, batch {Batch}×{Sequence})";
}
