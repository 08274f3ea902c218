using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>A group of parameters sharing a learning-rate multiplier and a weight decay.</summary>
/// <param name="Names">The parameters' Hugging Face keys.</param>
/// <param name="Parameters">The parameters, in the same order.</param>
/// <param name="LearningRateScale">Multiplier of the scheduled learning rate (layer-wise decay; 1 otherwise).</param>
/// <param name="WeightDecay">Decoupled weight decay of the group (0 for biases and LayerNorm weights).</param>
internal sealed record ParameterGroup(IReadOnlyList<string> Names, IReadOnlyList<Parameter> Parameters, double LearningRateScale, double WeightDecay);

/// <summary>
/// AdamW exactly as PyTorch's <c>torch.optim.AdamW</c> computes it (decoupled weight decay, bias-corrected moments,
/// epsilon added after the square root), with its state exposed by parameter name so checkpoints can save and restore it.
/// </summary>
internal sealed class AdamW : IDisposable
{
    private readonly Dictionary<Parameter, (Tensor Mean, Tensor Variance)> _moments = new(ReferenceEqualityComparer.Instance);

    /// <summary>Creates the optimizer over <paramref name="groups"/>.</summary>
    public AdamW(IReadOnlyList<ParameterGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        ArgumentNullException.ThrowIfNull(groups);
        if (!(beta1 is >= 0 and < 1) || !(beta2 is >= 0 and < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(beta1), $"Adam betas must be in [0, 1), got ({beta1}, {beta2}).");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(epsilon);
        Groups = groups;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
    }

    /// <summary>The parameter groups.</summary>
    public IReadOnlyList<ParameterGroup> Groups { get; }

    /// <summary>Decay of the first moment.</summary>
    public double Beta1 { get; }

    /// <summary>Decay of the second moment.</summary>
    public double Beta2 { get; }

    /// <summary>Added to the root of the second moment.</summary>
    public double Epsilon { get; }

    /// <summary>Number of updates applied so far (PyTorch's per-parameter <c>step</c>, shared here).</summary>
    public long StepCount { get; private set; }

    /// <summary>Applies one update with <paramref name="learningRate"/> (scaled per group) to every parameter that has a gradient.</summary>
    public void Step(double learningRate)
    {
        StepCount++;
        double correction1 = 1 - Math.Pow(Beta1, StepCount);
        double correction2Root = Math.Sqrt(1 - Math.Pow(Beta2, StepCount));
        using var _ = no_grad();
        foreach (var group in Groups)
        {
            double lr = learningRate * group.LearningRateScale;
            foreach (var parameter in group.Parameters)
            {
                // Every tensor made here is disposed with the scope: TorchSharp's .grad and in-place operations each
                // return a new handle, which would otherwise pile up, one per parameter and step, until a GC.
                using var scope = NewDisposeScope();
                var grad = parameter.grad;
                if (grad is null)
                {
                    continue;
                }
                if (!_moments.TryGetValue(parameter, out var state))
                {
                    state = (zeros_like(parameter).DetachFromDisposeScope(), zeros_like(parameter).DetachFromDisposeScope());
                    _moments[parameter] = state;
                }
                // The operations and their order are torch.optim.AdamW's (single-tensor and foreach paths agree).
                parameter.mul_(1 - lr * group.WeightDecay);
                state.Mean.lerp_(grad, 1 - Beta1);
                state.Variance.mul_(Beta2).addcmul_(grad, grad, 1 - Beta2);
                var denominator = (state.Variance.sqrt() / correction2Root).add_(Epsilon);
                parameter.addcdiv_(state.Mean, denominator, -(lr / correction1));
            }
        }
    }

    /// <summary>Clears every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        // .grad and zero_() each return a new handle; the scope disposes them (the gradients themselves stay).
        using var scope = NewDisposeScope();
        foreach (var parameter in Groups.SelectMany(g => g.Parameters))
        {
            parameter.grad?.zero_();
        }
    }

    /// <summary>The moments by name (<c>{key}.exp_avg</c>, <c>{key}.exp_avg_sq</c>), for checkpoints. The tensors are the live state.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> StateTensors()
    {
        foreach (var group in Groups)
        {
            for (int i = 0; i < group.Parameters.Count; i++)
            {
                if (_moments.TryGetValue(group.Parameters[i], out var state))
                {
                    yield return new($"{group.Names[i]}.exp_avg", state.Mean);
                    yield return new($"{group.Names[i]}.exp_avg_sq", state.Variance);
                }
            }
        }
    }

    /// <summary>Restores moments saved by <see cref="StateTensors"/> and the step count.</summary>
    /// <exception cref="InvalidDataException">A moment is missing or has the wrong shape.</exception>
    public void LoadState(IReadOnlyDictionary<string, Tensor> tensors, long stepCount)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        using var _ = no_grad();
        foreach (var group in Groups)
        {
            for (int i = 0; i < group.Parameters.Count; i++)
            {
                var parameter = group.Parameters[i];
                var name = group.Names[i];
                bool hasMean = tensors.TryGetValue($"{name}.exp_avg", out var mean);
                bool hasVariance = tensors.TryGetValue($"{name}.exp_avg_sq", out var variance);
                if (!hasMean && !hasVariance)
                {
                    continue;
                }
                if (!hasMean || !hasVariance || !mean!.shape.SequenceEqual(parameter.shape) || !variance!.shape.SequenceEqual(parameter.shape))
                {
                    throw new InvalidDataException($"Optimizer state of '{name}' is incomplete or does not match the parameter's shape.");
                }
                if (_moments.Remove(parameter, out var old))
                {
                    old.Mean.Dispose();
                    old.Variance.Dispose();
                }
                _moments[parameter] = (mean.to(parameter.dtype, parameter.device).clone(), variance.to(parameter.dtype, parameter.device).clone());
            }
        }
        StepCount = stepCount;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var (mean, variance) in _moments.Values)
        {
            mean.Dispose();
            variance.Dispose();
        }
        _moments.Clear();
    }
}

/// <summary>Global-norm gradient clipping as <c>torch.nn.utils.clip_grad_norm_</c>.</summary>
internal static class GradientClipping
{
    /// <summary>
    /// Returns the L2 norm of all gradients together (before clipping) and, when <paramref name="maxNorm"/> is given,
    /// scales them by min(1, maxNorm / (norm + 1e-6)).
    /// </summary>
    public static double ClipByGlobalNorm(IEnumerable<Parameter> parameters, double? maxNorm)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0)
        {
            return 0;
        }
        var norm = linalg.vector_norm(stack(grads.Select(g => linalg.vector_norm(g)).ToArray()));
        double total = norm.to_type(ScalarType.Float64).item<double>();
        if (maxNorm is { } max)
        {
            var coefficient = (max / (norm + 1e-6)).clamp_max(1.0);
            foreach (var grad in grads)
            {
                grad.mul_(coefficient);
            }
        }
        return total;
    }
}
