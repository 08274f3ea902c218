using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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
/// <remarks>
/// Speed: the update is elementwise, so it is computed once per parameter group on flat buffers instead of ~8 small
/// operations per parameter. At its first step a group's parameters that have a gradient are copied into one contiguous
/// buffer and each parameter's data becomes a view of it (<c>Tensor.set_</c>); their gradients likewise become views of
/// one flat gradient buffer, which autograd then accumulates into in place (AccumulateGrad adds into a defined
/// <c>.grad</c> when grad mode is off, as it is during backward); the moments are flat too and the denominator has a
/// buffer of its own. Each element goes through the same operations with the same scalars as in torch's per-tensor
/// loop, so the numbers are the same bit for bit. The layout is checked at every step (the set of parameters with a
/// gradient, and that each parameter and gradient still lives in its slot) and rebuilt when anything moved, e.g. a
/// gradient replaced from outside. A group mixing dtypes or devices, or a parameter listed twice, is updated one
/// tensor at a time as before.
/// </remarks>
internal sealed class AdamW : IDisposable
{
    private readonly Dictionary<Parameter, (Tensor Mean, Tensor Variance)> _moments = new(ReferenceEqualityComparer.Instance);
    private readonly FlatGroup?[] _flat;
    private readonly bool _flatten;

    /// <summary>Creates the optimizer over <paramref name="groups"/>; <paramref name="flatten"/> false keeps the per-tensor update (tests compare the two).</summary>
    public AdamW(IReadOnlyList<ParameterGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, bool flatten = true)
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
        _flat = new FlatGroup?[groups.Count];
        // A parameter in two slots would be set_ into two buffers: only the per-tensor update handles it as before.
        var all = groups.SelectMany(g => g.Parameters).ToList();
        _flatten = flatten && all.Distinct(ReferenceEqualityComparer.Instance).Count() == all.Count;
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

    /// <summary>Whether group <paramref name="index"/> is currently updated on flat buffers (for tests).</summary>
    internal bool IsFlat(int index) => _flat[index] is not null;

    /// <summary>How many times flat buffers were built (for tests: once per group unless a parameter or gradient moved).</summary>
    internal int FlatBuilds { get; private set; }

    /// <summary>Applies one update with <paramref name="learningRate"/> (scaled per group) to every parameter that has a gradient.</summary>
    public void Step(double learningRate)
    {
        StepCount++;
        double correction1 = 1 - Math.Pow(Beta1, StepCount);
        double correction2Root = Math.Sqrt(1 - Math.Pow(Beta2, StepCount));
        using var _ = no_grad();
        for (int g = 0; g < Groups.Count; g++)
        {
            var group = Groups[g];
            double lr = learningRate * group.LearningRateScale;
            if (_flatten && Flat(g) is { } flat)
            {
                using var scope = NewDisposeScope();
                // The operations, their order and their scalars are those of StepParameter below (torch's).
                double decay = 1 - lr * group.WeightDecay;
                if (decay != 1)
                {
                    // x · 1 = x exactly, so the no-decay groups skip a pass over their weights.
                    flat.Parameters.mul_(decay);
                }
                flat.Mean.lerp_(flat.Gradients, 1 - Beta1);
                flat.Variance.mul_(Beta2).addcmul_(flat.Gradients, flat.Gradients, 1 - Beta2);
                // In place: (sqrt(v) / correction2Root) + eps, as torch's out-of-place expression, without a new tensor.
                flat.Denominator.copy_(flat.Variance).sqrt_().div_(correction2Root).add_(Epsilon);
                flat.Parameters.addcdiv_(flat.Mean, flat.Denominator, -(lr / correction1));
                continue;
            }
            foreach (var parameter in group.Parameters)
            {
                StepParameter(parameter, lr, group.WeightDecay, correction1, correction2Root);
            }
        }
    }

    /// <summary>torch.optim.AdamW's update of one tensor (single-tensor and foreach paths agree).</summary>
    private void StepParameter(Parameter parameter, double lr, double weightDecay, double correction1, double correction2Root)
    {
        // Every tensor made here is disposed with the scope: TorchSharp's .grad and in-place operations each
        // return a new handle, which would otherwise pile up, one per parameter and step, until a GC.
        using var scope = NewDisposeScope();
        var grad = parameter.grad;
        if (grad is null)
        {
            return;
        }
        if (!_moments.TryGetValue(parameter, out var state))
        {
            state = (zeros_like(parameter).DetachFromDisposeScope(), zeros_like(parameter).DetachFromDisposeScope());
            _moments[parameter] = state;
        }
        parameter.mul_(1 - lr * weightDecay);
        state.Mean.lerp_(grad, 1 - Beta1);
        state.Variance.mul_(Beta2).addcmul_(grad, grad, 1 - Beta2);
        var denominator = (state.Variance.sqrt() / correction2Root).add_(Epsilon);
        parameter.addcdiv_(state.Mean, denominator, -(lr / correction1));
    }

    /// <summary>
    /// The flat buffers of group <paramref name="index"/>, (re)built when the parameters with a gradient are not exactly
    /// its members living in their slots; null when the group has no gradient or cannot be flattened.
    /// </summary>
    private FlatGroup? Flat(int index)
    {
        using var scope = NewDisposeScope();
        var active = new List<(Parameter Parameter, Tensor Grad)>();
        foreach (var parameter in Groups[index].Parameters)
        {
            if (parameter.grad is { } grad)
            {
                active.Add((parameter, grad));
            }
        }
        var current = _flat[index];
        if (current is not null && current.Holds(active))
        {
            return current;
        }
        // Rebuilt from the live tensors (current ones included), so dispose the old buffers only afterwards.
        FlatGroup? rebuilt = null;
        var firstParameter = active.Count > 0 ? active[0].Parameter : null;
        bool SameKind(Tensor t) => t.dtype == firstParameter!.dtype && t.device_type == firstParameter.device_type
            && t.device_index == firstParameter.device_index;
        if (active.Count > 0 && active.All(a => SameKind(a.Parameter) && SameKind(a.Grad) && !a.Grad.is_sparse))
        {
            rebuilt = FlatGroup.Create(active, _moments);
            FlatBuilds++;
        }
        current?.Dispose();
        _flat[index] = rebuilt;
        return rebuilt;
    }

    /// <summary>Clears every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        // .grad and zero_() each return a new handle; the scope disposes them (the gradients themselves stay).
        using var scope = NewDisposeScope();
        var flatMembers = new HashSet<Parameter>(ReferenceEqualityComparer.Instance);
        foreach (var flat in _flat)
        {
            if (flat is not null)
            {
                // One pass over the group; the gradients stay views of it (zero_, not set to None).
                flat.Gradients.zero_();
                flatMembers.UnionWith(flat.Members);
            }
        }
        foreach (var parameter in Groups.SelectMany(g => g.Parameters))
        {
            if (!flatMembers.Contains(parameter))
            {
                parameter.grad?.zero_();
            }
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
                if (_moments.TryGetValue(parameter, out var old) && FlatMember(parameter))
                {
                    // The moments are views of the flat buffers: overwrite them where they are.
                    old.Mean.copy_(mean);
                    old.Variance.copy_(variance);
                    continue;
                }
                if (_moments.Remove(parameter, out old))
                {
                    old.Mean.Dispose();
                    old.Variance.Dispose();
                }
                _moments[parameter] = (mean.to(parameter.dtype, parameter.device).clone(), variance.to(parameter.dtype, parameter.device).clone());
            }
        }
        StepCount = stepCount;
    }

    private bool FlatMember(Parameter parameter) => _flat.Any(f => f is not null && f.Members.Contains(parameter, ReferenceEqualityComparer.Instance));

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var flat in _flat)
        {
            flat?.Dispose();
        }
        Array.Clear(_flat);
        foreach (var (mean, variance) in _moments.Values)
        {
            mean.Dispose();
            variance.Dispose();
        }
        _moments.Clear();
    }

    /// <summary>
    /// One group's flat buffers. The parameters' data and gradients are views of <see cref="Parameters"/> and
    /// <see cref="Gradients"/>; their moments (held in the optimizer's dictionary) are views of <see cref="Mean"/> and
    /// <see cref="Variance"/>.
    /// </summary>
    private sealed class FlatGroup : IDisposable
    {
        private readonly IntPtr[] _parameterAddresses;
        private readonly IntPtr[] _gradientAddresses;

        private FlatGroup(Parameter[] members, Tensor parameters, Tensor gradients, Tensor mean, Tensor variance)
        {
            Members = members;
            Parameters = parameters;
            Gradients = gradients;
            Mean = mean;
            Variance = variance;
            Denominator = empty_like(variance).DetachFromDisposeScope();
            long offset = 0;
            _parameterAddresses = new IntPtr[members.Length];
            _gradientAddresses = new IntPtr[members.Length];
            long elementSize = parameters.ElementSize;
            IntPtr parameterBase = Address(parameters), gradientBase = Address(gradients);
            for (int i = 0; i < members.Length; i++)
            {
                bool onCpu = parameterBase != IntPtr.Zero;
                _parameterAddresses[i] = onCpu ? parameterBase + (nint)(offset * elementSize) : IntPtr.Zero;
                _gradientAddresses[i] = onCpu ? gradientBase + (nint)(offset * elementSize) : IntPtr.Zero;
                offset += members[i].numel();
            }
        }

        public Parameter[] Members { get; }
        public Tensor Parameters { get; }
        public Tensor Gradients { get; }
        public Tensor Mean { get; }
        public Tensor Variance { get; }
        public Tensor Denominator { get; }

        /// <summary>
        /// Moves the <paramref name="active"/> parameters, their gradients and their moments (zeros when new) into flat
        /// buffers; the parameters keep their identity (set_ under no_grad), so modules and the optimizer still hold them.
        /// </summary>
        public static FlatGroup Create(List<(Parameter Parameter, Tensor Grad)> active, Dictionary<Parameter, (Tensor Mean, Tensor Variance)> moments)
        {
            using var _ = no_grad();
            long total = active.Sum(a => a.Parameter.numel());
            var first = active[0].Parameter;
            var parameters = empty(total, first.dtype, first.device).DetachFromDisposeScope();
            var gradients = empty(total, first.dtype, first.device).DetachFromDisposeScope();
            var mean = zeros(total, first.dtype, first.device).DetachFromDisposeScope();
            var variance = zeros(total, first.dtype, first.device).DetachFromDisposeScope();
            long offset = 0;
            foreach (var (parameter, grad) in active)
            {
                using var scope = NewDisposeScope();
                long count = parameter.numel();
                var shape = parameter.shape;
                var data = parameters.narrow(0, offset, count).view(shape);
                data.copy_(parameter);
                parameter.set_(data);
                var gradient = gradients.narrow(0, offset, count).view(shape);
                gradient.copy_(grad);
                parameter.grad = gradient;
                var meanView = mean.narrow(0, offset, count).view(shape).DetachFromDisposeScope();
                var varianceView = variance.narrow(0, offset, count).view(shape).DetachFromDisposeScope();
                if (moments.Remove(parameter, out var old))
                {
                    meanView.copy_(old.Mean);
                    varianceView.copy_(old.Variance);
                    old.Mean.Dispose();
                    old.Variance.Dispose();
                }
                moments[parameter] = (meanView, varianceView);
                offset += count;
            }
            return new FlatGroup([.. active.Select(a => a.Parameter)], parameters, gradients, mean, variance);
        }

        /// <summary>Whether <paramref name="active"/> are exactly the members, each parameter and gradient still in its slot.</summary>
        public bool Holds(List<(Parameter Parameter, Tensor Grad)> active)
        {
            if (active.Count != Members.Length)
            {
                return false;
            }
            for (int i = 0; i < active.Count; i++)
            {
                var (parameter, grad) = active[i];
                if (!ReferenceEquals(parameter, Members[i]) || Address(parameter) != _parameterAddresses[i]
                    || Address(grad) != _gradientAddresses[i] || !parameter.is_contiguous() || !grad.is_contiguous())
                {
                    return false;
                }
            }
            return true;
        }

        /// <summary>
        /// The address of a CPU tensor's first element (TorchSharp exposes no data_ptr; <c>bytes</c> is a span over the
        /// tensor's memory, not a copy). Zero off the CPU, where the check relies on autograd accumulating in place.
        /// </summary>
        private static unsafe IntPtr Address(Tensor tensor) =>
            tensor.device_type == TorchSharp.DeviceType.CPU && tensor.numel() > 0
                ? (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetReference(tensor.bytes))
                : IntPtr.Zero;

        public void Dispose()
        {
            Parameters.Dispose();
            Gradients.Dispose();
            Mean.Dispose();
            Variance.Dispose();
            Denominator.Dispose();
        }
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
