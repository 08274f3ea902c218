using BertFineTune.Heads;
using BertFineTune.Runtime;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>
/// The model's forward pass as the trainer runs it, in training and evaluation alike: under the run's
/// <see cref="PrecisionPolicy"/>, with <see cref="TrainerOptions.Loss"/> for a batch that carries no loss settings.
/// </summary>
internal sealed class ForwardPass(BertForTask model, PrecisionPolicy precision, LossOptions? defaultLoss)
{
    /// <summary>The model.</summary>
    public BertForTask Model => model;

    /// <summary>The precision the pass computes in.</summary>
    public PrecisionPolicy Precision => precision;

    /// <summary>Where the model's weights live; batches are moved there first.</summary>
    public Device Device => model.Encoder.Embeddings.WordEmbeddingWeight.device;

    /// <summary>The outputs for <paramref name="batch"/> (already on <see cref="Device"/>), reusing the weight casts in <paramref name="casts"/>.</summary>
    public ModelOutput Run(BertBatch batch, WeightCastCache? casts)
    {
        var withLoss = batch.Loss is null && defaultLoss is not null ? batch.WithLoss(defaultLoss) : batch;
        using var _ = precision.Enter(casts);
        return model.Forward(withLoss);
    }
}
