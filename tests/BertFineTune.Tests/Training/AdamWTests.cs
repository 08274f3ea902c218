using BertFineTune.Training;
using TorchSharp.Modules;
using AdamW = BertFineTune.Training.AdamW;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Training;

/// <summary>
/// The flat AdamW (one pass per group over contiguous buffers) against the per-tensor update it replaces, which follows
/// torch.optim.AdamW's _single_tensor_adamw op for op (torch/optim/adamw.py, torch/optim/adam.py): the expected numbers
/// are the per-tensor optimizer's, compared bit for bit. The training fixture test (TrainingConformanceTests) checks the
/// flat one against transformers' own numbers.
/// </summary>
public class AdamWTests
{
    // Odd sizes, so the flat buffers put parameters across vector-width and thread-chunk boundaries that the per-tensor
    // update never sees; one big enough (40,000 > libtorch's 32,768 grain) to be split between threads.
    private static readonly long[][] Shapes = [[7, 5], [3], [17], [200, 200], [1], [33, 3]];

    private sealed record Setup(List<Parameter> Parameters, List<ParameterGroup> Groups, Parameter Untouched);

    /// <summary>Three groups as ParameterGroups builds them: decay, no decay, and a layer-wise learning-rate scale.</summary>
    private static Setup Build()
    {
        random.manual_seed(123);
        var parameters = Shapes.Select(s => new Parameter(randn(s))).ToList();
        var untouched = new Parameter(randn(5));
        string Name(int i) => $"p{i}";
        var groups = new List<ParameterGroup>
        {
            new([Name(0), Name(3)], [parameters[0], parameters[3]], 1.0, 0.01),
            new([Name(1), Name(2), "untouched"], [parameters[1], parameters[2], untouched], 1.0, 0.0),
            new([Name(4), Name(5)], [parameters[4], parameters[5]], 0.65, 0.01),
        };
        return new Setup(parameters, groups, untouched);
    }

    /// <summary>A loss whose gradients depend on the weights (so every step differs), accumulated over two micro-batches.</summary>
    private static void Backward(Setup setup, int step)
    {
        for (int micro = 0; micro < 2; micro++)
        {
            using var scope = NewDisposeScope();
            random.manual_seed(1000 + 10 * step + micro);
            Tensor loss = zeros(1);
            foreach (var parameter in setup.Parameters)
            {
                var target = randn(parameter.shape);
                loss = loss + (parameter * target).sin().sum() + 1e-3 * parameter.square().sum();
            }
            loss.backward();
        }
    }

    private static void AssertSame(Setup expected, Setup actual, AdamW expectedOptimizer, AdamW actualOptimizer, string when)
    {
        for (int i = 0; i < expected.Parameters.Count; i++)
        {
            Assert.True(TrainingKit.BitIdentical(expected.Parameters[i], actual.Parameters[i]), $"{when}: parameter {i} differs");
        }
        Assert.True(TrainingKit.BitIdentical(expected.Untouched, actual.Untouched), $"{when}: the parameter without a gradient changed");
        var expectedState = expectedOptimizer.StateTensors().ToList();
        var actualState = actualOptimizer.StateTensors().ToList();
        Assert.Equal(expectedState.Select(s => s.Key), actualState.Select(s => s.Key));
        for (int i = 0; i < expectedState.Count; i++)
        {
            Assert.True(TrainingKit.BitIdentical(expectedState[i].Value, actualState[i].Value), $"{when}: {expectedState[i].Key} differs");
        }
    }

    private static void Run(Setup setup, AdamW optimizer, int fromStep, int steps)
    {
        for (int step = fromStep; step < fromStep + steps; step++)
        {
            Backward(setup, step);
            optimizer.Step(learningRate: 1e-2 * (1 + step % 3));
            optimizer.ZeroGrad();
        }
    }

    [Fact]
    public void Flat_update_equals_the_per_tensor_update_bit_for_bit_over_steps_and_after_LoadState()
    {
        var reference = Build();
        var flat = Build();
        using (var perTensor = new AdamW(reference.Groups, flatten: false))
        using (var flattened = new AdamW(flat.Groups))
        {
            Run(reference, perTensor, 0, 4);
            Run(flat, flattened, 0, 4);

            AssertSame(reference, flat, perTensor, flattened, "after 4 steps");
            Assert.True(flattened.IsFlat(0) && flattened.IsFlat(1) && flattened.IsFlat(2));
            // Built once per group at the first step: autograd then accumulated into the flat gradient views in place.
            Assert.Equal(3, flattened.FlatBuilds);
            // The parameter without a gradient gets no moments (torch skips p.grad is None).
            Assert.DoesNotContain(flattened.StateTensors(), s => s.Key.StartsWith("untouched", StringComparison.Ordinal));

            // Resume: a saved state loaded into fresh optimizers (one of them already flat when it loads).
            var saved = perTensor.StateTensors().ToDictionary(s => s.Key, s => s.Value.clone());
            try
            {
                using var perTensorResumed = new AdamW(reference.Groups, flatten: false);
                using var flatResumed = new AdamW(flat.Groups);
                Run(flat, flatResumed, 100, 1);
                Run(reference, perTensorResumed, 100, 1);
                perTensorResumed.LoadState(saved, 4);
                flatResumed.LoadState(saved, 4);
                Run(reference, perTensorResumed, 4, 3);
                Run(flat, flatResumed, 4, 3);
                AssertSame(reference, flat, perTensorResumed, flatResumed, "after LoadState and 3 more steps");
            }
            finally
            {
                foreach (var tensor in saved.Values)
                {
                    tensor.Dispose();
                }
            }
        }
        foreach (var parameter in reference.Parameters.Concat(flat.Parameters).Append(reference.Untouched).Append(flat.Untouched))
        {
            parameter.Dispose();
        }
    }

    [Fact]
    public void A_gradient_replaced_from_outside_rebuilds_the_flat_buffers_and_keeps_the_numbers()
    {
        var reference = Build();
        var flat = Build();
        using var perTensor = new AdamW(reference.Groups, flatten: false);
        using var flattened = new AdamW(flat.Groups);
        Run(reference, perTensor, 0, 2);
        Run(flat, flattened, 0, 2);
        Assert.Equal(3, flattened.FlatBuilds);

        // A gradient set to a new tensor (not a view of the flat buffer) must be noticed, not silently ignored.
        foreach (var setup in new[] { reference, flat })
        {
            Backward(setup, 2);
            using var replacement = full_like(setup.Parameters[3], 0.5);
            setup.Parameters[3].grad = replacement;
        }
        perTensor.Step(1e-2);
        flattened.Step(1e-2);

        Assert.Equal(4, flattened.FlatBuilds);
        AssertSame(reference, flat, perTensor, flattened, "after a replaced gradient");
        foreach (var parameter in reference.Parameters.Concat(flat.Parameters).Append(reference.Untouched).Append(flat.Untouched))
        {
            parameter.Dispose();
        }
    }
}
