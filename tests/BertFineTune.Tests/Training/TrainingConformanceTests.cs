using System.Text.Json;
using BertFineTune.Conformance;

namespace BertFineTune.Tests.Training;

public class TrainingConformanceTests
{
    [Fact]
    public void Four_optimizer_steps_match_transformers_loss_gradient_norm_learning_rate_and_weights()
    {
        var fixture = Path.Combine(Fixtures.HfReference, "training_steps.json");
        using var document = JsonDocument.Parse(File.ReadAllText(fixture));
        int steps = document.RootElement.GetProperty("steps").GetArrayLength();

        var checks = TrainingComparison.Run(fixture);

        // Loss, gradient norm and learning rate per step, then the weights after the last step.
        Assert.Equal(steps * 3 + 1, checks.Count);
        Assert.Contains(checks, c => c.Name.StartsWith("weights", StringComparison.Ordinal));
        var failures = checks.Where(c => !c.Passed).ToList();
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }
}
