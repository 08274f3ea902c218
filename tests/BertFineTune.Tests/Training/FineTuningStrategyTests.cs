using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Training;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Training;

public class FineTuningStrategyTests
{
    public enum Freeze
    {
        Embeddings,
        LowestLayer,
        Encoder,
    }

    private static bool IsFrozen(Freeze freeze, string name) => freeze switch
    {
        Freeze.Embeddings => name.StartsWith("bert.embeddings.", StringComparison.Ordinal),
        // The lowest layer runs without gradients only if the embeddings below it are fixed too.
        Freeze.LowestLayer => name.StartsWith("bert.embeddings.", StringComparison.Ordinal) || name.StartsWith("bert.encoder.layer.0.", StringComparison.Ordinal),
        Freeze.Encoder => name.StartsWith("bert.", StringComparison.Ordinal),
        _ => throw new ArgumentOutOfRangeException(nameof(freeze)),
    };

    [Theory]
    [InlineData(Freeze.Embeddings)]
    [InlineData(Freeze.LowestLayer)]
    [InlineData(Freeze.Encoder)]
    public void Frozen_weights_stay_bit_identical_while_the_rest_trains(Freeze freeze)
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));
        var before = TrainingKit.Snapshot(model);
        var options = TrainingKit.Quiet() with
        {
            LearningRate = 1e-2,
            // Decay would move a frozen weight if the optimizer saw it.
            WeightDecay = 0.1,
            MaxSteps = 3,
            BatchSize = 4,
            FreezeEmbeddings = freeze == Freeze.Embeddings,
            FreezeLowestLayers = freeze == Freeze.LowestLayer ? 1 : 0,
            FreezeEncoder = freeze == Freeze.Encoder,
        };

        new Trainer(model, options).Train(new InMemoryExamples(TrainingKit.Examples(8)));

        var after = TrainingKit.Snapshot(model);
        try
        {
            var changed = TrainingKit.Changed(before, after);
            var frozen = before.Keys.Where(k => IsFrozen(freeze, k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
            var trainable = before.Keys.Where(k => !IsFrozen(freeze, k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
            Assert.NotEmpty(frozen);
            Assert.Contains("classifier.weight", trainable);
            Assert.Empty(changed.Intersect(frozen));
            Assert.Equal(trainable, changed);
            foreach (var (name, parameter) in model.named_parameters())
            {
                Assert.True(parameter.requires_grad != IsFrozen(freeze, name), $"{name}: requires_grad {parameter.requires_grad}");
            }
        }
        finally
        {
            TrainingKit.Dispose(before);
            TrainingKit.Dispose(after);
        }
    }

    [Fact]
    public void Layerwise_decay_scales_each_layers_first_adam_update()
    {
        // PyTorch's AdamW, first step, no decay: m̂ = g, v̂ = g², so each element moves by −lr_group·g/(|g| + eps), which
        // is ±lr_group wherever |g| ≫ eps. With decay 0.5 on two layers: head and pooler lr, layer 1 lr·0.5, layer 0
        // lr·0.25, embeddings lr·0.125.
        const double lr = 0.05;
        const double decay = 0.5;
        const double eps = 1e-8;
        static double Scale(string name) =>
            name.StartsWith("bert.embeddings.", StringComparison.Ordinal) ? decay * decay * decay
            : name.StartsWith("bert.encoder.layer.0.", StringComparison.Ordinal) ? decay * decay
            : name.StartsWith("bert.encoder.layer.1.", StringComparison.Ordinal) ? decay
            : 1.0;
        var config = TrainingKit.Config(dropout: 0);
        var examples = TrainingKit.Examples(8);
        using var model = TrainingKit.Model(config);
        using var probe = TrainingKit.Model(config);
        TrainingKit.CopyWeights(model, probe);
        // The gradient of the trainer's one batch (all 8 examples, in order), taken on an identical copy.
        var gradients = new Dictionary<string, double[]>(StringComparer.Ordinal);
        using (var scope = NewDisposeScope())
        {
            using var output = probe.Forward(new BatchCollator().Collate(examples));
            output.Loss!.backward();
            foreach (var (name, parameter) in probe.named_parameters())
            {
                gradients[name] = TrainingKit.Values(parameter.grad!);
            }
        }
        var before = TrainingKit.Snapshot(model);
        var options = TrainingKit.Quiet() with
        {
            LearningRate = lr,
            LayerwiseLearningRateDecay = decay,
            WeightDecay = 0,
            WarmupSteps = 0,
            Schedule = ScheduleKind.Constant,
            MaxGradNorm = null,
            MaxSteps = 1,
            BatchSize = 8,
            Shuffle = false,
        };

        new Trainer(model, options).Train(new InMemoryExamples(examples));

        var after = TrainingKit.Snapshot(model);
        try
        {
            var scalesWithClearGradients = new HashSet<double>();
            foreach (var (name, old) in before)
            {
                double rate = lr * Scale(name);
                var was = TrainingKit.Values(old);
                var now = TrainingKit.Values(after[name]);
                var g = gradients[name];
                double largestClear = 0;
                for (int i = 0; i < was.Length; i++)
                {
                    double moved = now[i] - was[i];
                    double expected = -rate * g[i] / (Math.Abs(g[i]) + eps);
                    Assert.True(Math.Abs(moved - expected) <= 1e-4 * rate + 2e-7,
                        $"{name}[{i}]: moved {moved:R}, expected {expected:R} (gradient {g[i]:R})");
                    if (Math.Abs(g[i]) > 1e-5)
                    {
                        largestClear = Math.Max(largestClear, Math.Abs(moved));
                    }
                }
                if (largestClear > 0)
                {
                    Assert.True(Math.Abs(largestClear - rate) <= 1e-3 * rate, $"{name}: largest update {largestClear:R}, expected {rate:R}");
                    scalesWithClearGradients.Add(Scale(name));
                }
            }
            Assert.Equal(4, scalesWithClearGradients.Count);
        }
        finally
        {
            TrainingKit.Dispose(before);
            TrainingKit.Dispose(after);
        }
    }

    [Fact]
    public void Reinitialising_the_top_layer_resets_it_and_leaves_the_layer_below_as_loaded()
    {
        var config = TrainingKit.Config(dropout: 0);
        using var temp = new TempFolder();
        using (var pretrained = TrainingKit.Model(config, seed: 8))
        {
            // Make every weight recognisably "pretrained": no bias is 0 and no LayerNorm scale is 1 after this.
            using var _ = no_grad();
            foreach (var (_, parameter) in pretrained.named_parameters())
            {
                parameter.add_(0.5);
            }
            pretrained.Save(temp.Path);
        }
        using var model = BertForTask.LoadFolder(temp.Path, new FolderLoadOptions { Strict = true });
        var loaded = TrainingKit.Snapshot(model);
        var options = TrainingKit.Quiet() with
        {
            ReinitializeTopLayers = 1,
            // Keep the encoder fixed, so what is left in it is what re-initialisation wrote.
            FreezeEncoder = true,
            MaxSteps = 1,
            BatchSize = 4,
        };

        new Trainer(model, options).Train(new InMemoryExamples(TrainingKit.Examples(4)));

        var after = TrainingKit.Snapshot(model);
        try
        {
            foreach (var (name, tensor) in after)
            {
                if (!name.StartsWith("bert.encoder.layer.1.", StringComparison.Ordinal))
                {
                    if (name.StartsWith("bert.", StringComparison.Ordinal))
                    {
                        Assert.True(TrainingKit.BitIdentical(loaded[name], tensor), $"{name} changed");
                    }
                    continue;
                }
                var values = TrainingKit.Values(tensor);
                if (name.EndsWith("LayerNorm.weight", StringComparison.Ordinal))
                {
                    Assert.All(values, v => Assert.Equal(1.0, v));
                }
                else if (name.EndsWith(".bias", StringComparison.Ordinal))
                {
                    Assert.All(values, v => Assert.Equal(0.0, v));
                }
                else
                {
                    // Linear weights: Normal(0, initializer_range = 0.02), where the loaded ones sat around 0.5.
                    double mean = values.Average();
                    double std = Math.Sqrt(values.Select(v => (v - mean) * (v - mean)).Sum() / (values.Length - 1));
                    Assert.InRange(mean, -0.005, 0.005);
                    Assert.InRange(std, 0.016, 0.024);
                }
            }
        }
        finally
        {
            TrainingKit.Dispose(loaded);
            TrainingKit.Dispose(after);
        }
    }
}
