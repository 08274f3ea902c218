using BertFineTune.Data;
using BertFineTune.Training;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Training;

public class NonFiniteLossTests
{
    /// <summary>Regression examples in batches of 2 (no shuffle): the third batch has a NaN target, so step 3's loss is NaN.</summary>
    private static InMemoryExamples RegressionWithNaNInStep3()
    {
        var rng = new Random(2);
        var examples = new List<EncodedExample>();
        for (int i = 0; i < 8; i++)
        {
            var ids = Enumerable.Range(0, 5).Select(k => k == 0 ? 1 : rng.Next(2, 50)).ToArray();
            examples.Add(EncodedExample.WithLabel(ids, null, TargetValue.Number(i == 5 ? float.NaN : (float)rng.NextDouble())));
        }
        return new InMemoryExamples(examples);
    }

    private static TrainerOptions Options(NonFiniteLossPolicy policy) => TrainingKit.Quiet() with
    {
        LearningRate = 1e-2,
        BatchSize = 2,
        Epochs = 1,
        Shuffle = false,
        NonFiniteLoss = policy,
    };

    [Fact]
    public void A_NaN_loss_skips_that_update_by_default_and_training_goes_on()
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.1, labels: 1));
        var afterStep = new List<Dictionary<string, Tensor>>();
        try
        {
            var result = new Trainer(model, Options(NonFiniteLossPolicy.SkipStep)).Train(RegressionWithNaNInStep3(),
                callbacks: [new Hooks { Step = _ => { afterStep.Add(TrainingKit.Snapshot(model)); return false; } }]);

            Assert.Equal(TrainingStopReason.Completed, result.StopReason);
            Assert.Equal(4, result.GlobalStep);
            Assert.Equal([false, false, true, false], result.Steps.Select(s => s.Skipped));
            Assert.True(double.IsNaN(result.Steps[2].Loss));
            Assert.All(result.Steps.Where(s => !s.Skipped), s => Assert.True(double.IsFinite(s.Loss)));
            // The skipped step left every weight as it was; the steps around it moved them.
            Assert.Empty(TrainingKit.Changed(afterStep[1], afterStep[2]));
            Assert.NotEmpty(TrainingKit.Changed(afterStep[0], afterStep[1]));
            Assert.NotEmpty(TrainingKit.Changed(afterStep[2], afterStep[3]));
            Assert.All(afterStep[3].Values, t => Assert.True(t.isfinite().all().item<bool>()));
            // The reported mean loss leaves the skipped step out.
            Assert.Equal(new[] { 0, 1, 3 }.Average(i => result.Steps[i].Loss), result.TrainingLoss, 1e-12);
        }
        finally
        {
            afterStep.ForEach(TrainingKit.Dispose);
        }
    }

    [Fact]
    public void With_the_throw_policy_a_NaN_loss_raises_an_exception_naming_the_step()
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.1, labels: 1));
        int stepsSeen = 0;

        var error = Assert.Throws<NonFiniteLossException>(() => new Trainer(model, Options(NonFiniteLossPolicy.Throw))
            .Train(RegressionWithNaNInStep3(), callbacks: [new Hooks { Step = _ => { stepsSeen++; return false; } }]));

        Assert.Equal(3, error.Step);
        Assert.Contains("step 3", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, stepsSeen);
    }
}
