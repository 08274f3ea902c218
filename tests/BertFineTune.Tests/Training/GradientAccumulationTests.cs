using BertFineTune.Data;
using BertFineTune.Training;

namespace BertFineTune.Tests.Training;

public class GradientAccumulationTests
{
    [Fact]
    public void Four_micro_batches_of_two_with_accumulation_equal_one_batch_of_eight()
    {
        var config = TrainingKit.Config(dropout: 0);
        // Equal lengths: the micro-batches and the big batch hold the same tensors, only split differently.
        var examples = new InMemoryExamples(TrainingKit.Examples(16, seed: 11, minLength: 7, maxLength: 7));
        var options = TrainingKit.Quiet() with
        {
            LearningRate = 1e-3,
            WeightDecay = 0.01,
            Epochs = 1,
            Shuffle = false,
        };
        using var big = TrainingKit.Model(config, seed: 3);
        using var micro = TrainingKit.Model(config, seed: 4);
        using var plain = TrainingKit.Model(config, seed: 4);
        TrainingKit.CopyWeights(big, micro);
        TrainingKit.CopyWeights(big, plain);

        var whole = new Trainer(big, options with { BatchSize = 8 }).Train(examples);
        var accumulated = new Trainer(micro, options with { BatchSize = 2, GradientAccumulationSteps = 4 }).Train(examples);
        // Without accumulation the same micro-batches make 8 separate steps: a different result.
        var separate = new Trainer(plain, options with { BatchSize = 2 }).Train(examples);

        Assert.Equal(2, whole.Steps.Count);
        Assert.Equal(2, accumulated.Steps.Count);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(whole.Steps[i].Loss, accumulated.Steps[i].Loss, 1e-6);
            Assert.Equal(whole.Steps[i].GradientNorm, accumulated.Steps[i].GradientNorm, 1e-5 * whole.Steps[i].GradientNorm);
            Assert.Equal(whole.Steps[i].LearningRate, accumulated.Steps[i].LearningRate);
        }
        var bigWeights = TrainingKit.Snapshot(big);
        var microWeights = TrainingKit.Snapshot(micro);
        var plainWeights = TrainingKit.Snapshot(plain);
        try
        {
            Assert.InRange(TrainingKit.MaxDifference(bigWeights, microWeights), 0, 1e-6);
            Assert.Equal(8, separate.Steps.Count);
            Assert.True(TrainingKit.MaxDifference(bigWeights, plainWeights) > 1e-4);
        }
        finally
        {
            TrainingKit.Dispose(bigWeights);
            TrainingKit.Dispose(microWeights);
            TrainingKit.Dispose(plainWeights);
        }
    }
}
