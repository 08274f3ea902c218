using System.Runtime.Intrinsics.X86;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Runtime;

/// <summary>
/// Mixed precision for the BERT blocks, the role PyTorch's <c>torch.autocast</c> plays (TorchSharp has none). Inside an
/// <see cref="Enter"/> scope the encoder's linear projections and attention run in a low-precision compute type
/// (bfloat16), on low-precision copies of the float32 weights; LayerNorm, the softmax of the explicit attention path, the
/// activation, the residual adds and the loss stay in float32. The weights, their gradients and the optimizer state stay
/// float32: gradients flow back through the casts. Outside a scope nothing changes, bit for bit.
/// </summary>
/// <remarks>
/// The scope is per thread, as TorchSharp's grad mode is: enter it on the thread that runs the forward pass. The trainer
/// enters it for <see cref="Training.TrainerOptions.MixedPrecision"/>, the predictors for
/// <see cref="Inference.Predictor.MixedPrecision"/>.
/// </remarks>
/// <example>
/// <code>
/// using (Autocast.Enter(ScalarType.BFloat16))
/// {
///     using var output = model.Forward(batch);   // bf16 matmuls, float32 logits and loss
///     output.Loss!.backward();                   // float32 gradients
/// }
/// </code>
/// </example>
public static class Autocast
{
    [ThreadStatic]
    private static ScalarType? t_computeType;

    [ThreadStatic]
    private static WeightCastCache? t_cache;

    private static readonly Lazy<string?> CpuBFloat16Problem = new(FindCpuBFloat16Problem, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The compute type of the innermost scope on this thread, or null when mixed precision is off.</summary>
    public static ScalarType? ComputeType => t_computeType;

    /// <summary>
    /// Runs this thread's BERT blocks in <paramref name="computeType"/> until the returned scope is disposed; scopes nest,
    /// and disposing one restores the setting before it. <see cref="ScalarType.Float32"/> turns mixed precision off inside.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The type is not BFloat16, Float16 or Float32.</exception>
    public static IDisposable Enter(ScalarType computeType)
    {
        if (computeType is not (ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float32))
        {
            throw new ArgumentOutOfRangeException(nameof(computeType), computeType,
                "Mixed precision computes in BFloat16 or Float16 (Float32 turns it off).");
        }
        return Begin(computeType == ScalarType.Float32 ? null : computeType, cache: null);
    }

    /// <summary>
    /// Whether bfloat16 compute is worth using on <paramref name="device"/>: always on CUDA; on the CPU only when it has
    /// native bfloat16 instructions (AVX512-BF16 or AMX-BF16), without which libtorch emulates bf16 more slowly than
    /// float32. <paramref name="reason"/> says why not, or names what was found.
    /// </summary>
    public static bool IsBFloat16Supported(Device device, out string reason)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device.type != DeviceType.CPU)
        {
            reason = $"{device.type} device";
            return true;
        }
        var problem = CpuSupportOverride is { } forced ? forced() : CpuBFloat16Problem.Value;
        reason = problem ?? "the CPU has native bfloat16 instructions";
        return problem is null;
    }

    /// <summary>Tests set this to pretend the CPU has (the function returns null) or lacks bfloat16 support (it returns why).</summary>
    internal static Func<string?>? CpuSupportOverride { get; set; }

    /// <summary>Enters a scope with an optional cache of weight casts (null <paramref name="computeType"/> = off).</summary>
    internal static Scope Begin(ScalarType? computeType, WeightCastCache? cache)
    {
        var scope = new Scope(t_computeType, t_cache);
        t_computeType = computeType;
        t_cache = computeType is null ? null : cache;
        return scope;
    }

    /// <summary>
    /// <paramref name="linear"/> applied to <paramref name="input"/>: unchanged outside a scope; inside one, computed in
    /// the compute type on cast input, weight and bias, and returned in the compute type.
    /// </summary>
    internal static Tensor Linear(Linear linear, Tensor input)
    {
        if (t_computeType is not { } type)
        {
            return linear.forward(input);
        }
        var weight = Cast(linear.weight!, type);
        var bias = linear.bias is { } b ? Cast(b, type) : null;
        return nn.functional.linear(input.dtype == type ? input : input.to_type(type), weight, bias);
    }

    /// <summary>functional.linear with a weight that is not a <see cref="TorchSharp.Modules.Linear"/> (the tied masked-LM decoder).</summary>
    internal static Tensor Linear(Tensor input, Tensor weight, Tensor? bias)
    {
        if (t_computeType is not { } type)
        {
            return nn.functional.linear(input, weight, bias);
        }
        return nn.functional.linear(input.dtype == type ? input : input.to_type(type), Cast(weight, type),
            bias is null ? null : Cast(bias, type));
    }

    /// <summary><paramref name="tensor"/> in <paramref name="type"/>, as it is when it has that type already (no operation).</summary>
    internal static Tensor To(Tensor tensor, ScalarType type) => tensor.dtype == type ? tensor : tensor.to_type(type);

    /// <summary>
    /// The weight in <paramref name="type"/>. With a cache, the cast is reused when the weight cannot change under it:
    /// always while grad mode is off, or for a frozen weight (requires_grad false).
    /// </summary>
    private static Tensor Cast(Tensor weight, ScalarType type)
    {
        if (weight.dtype == type)
        {
            return weight;
        }
        if (t_cache is { } cache && (!weight.requires_grad || (!cache.FrozenOnly && !is_grad_enabled())))
        {
            return cache.Get(weight, type);
        }
        return weight.to_type(type);
    }

    private static string? FindCpuBFloat16Problem()
    {
        try
        {
            if (X86Base.IsSupported)
            {
                var (maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
                if (maxLeaf >= 7)
                {
                    var (_, _, _, leaf7Edx) = X86Base.CpuId(7, 0);
                    var (leaf71Eax, _, _, _) = X86Base.CpuId(7, 1);
                    bool amx = (leaf7Edx & (1 << 22)) != 0;
                    bool avx512 = (leaf71Eax & (1 << 5)) != 0 && Avx512F.IsSupported;
                    if (amx || avx512)
                    {
                        return null;
                    }
                }
                return "the CPU has neither AVX512-BF16 nor AMX-BF16 instructions, so bfloat16 matmuls would be emulated and slower than float32";
            }
            if (OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo"))
            {
                var flags = File.ReadLines("/proc/cpuinfo")
                    .FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal) || l.StartsWith("Features", StringComparison.Ordinal));
                var names = flags?.Split([' ', '\t', ':'], StringSplitOptions.RemoveEmptyEntries) ?? [];
                if (names.Contains("avx512_bf16") || names.Contains("amx_bf16"))
                {
                    return null;
                }
            }
            return "no native bfloat16 instructions (AVX512-BF16 or AMX-BF16) were found on this CPU";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            return $"the CPU's bfloat16 support could not be determined ({e.Message})";
        }
    }

    /// <summary>Restores the previous setting of the thread when disposed.</summary>
    internal sealed class Scope : IDisposable
    {
        private readonly ScalarType? _previousType;
        private readonly WeightCastCache? _previousCache;
        private bool _disposed;

        public Scope(ScalarType? previousType, WeightCastCache? previousCache)
        {
            _previousType = previousType;
            _previousCache = previousCache;
        }

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            t_computeType = _previousType;
            t_cache = _previousCache;
        }
    }
}

/// <summary>
/// Low-precision copies of weights, made once and reused while the weights cannot change: for a whole evaluation or
/// prediction (grad mode off), or for the frozen weights of a training run (<see cref="FrozenOnly"/>).
/// </summary>
internal sealed class WeightCastCache : IDisposable
{
    private readonly Dictionary<(IntPtr Handle, ScalarType Type), Tensor> _casts = [];

    /// <summary>Creates a cache; <paramref name="frozenOnly"/> limits it to weights with requires_grad false.</summary>
    public WeightCastCache(bool frozenOnly = false) => FrozenOnly = frozenOnly;

    /// <summary>Whether only frozen weights are cached (during training, trainable weights change every step).</summary>
    public bool FrozenOnly { get; }

    /// <summary>Number of cached casts.</summary>
    public int Count => _casts.Count;

    /// <summary>The cached cast of <paramref name="weight"/>, made on first use (outside any dispose scope and without grad).</summary>
    public Tensor Get(Tensor weight, ScalarType type)
    {
        var key = (weight.Handle, type);
        if (!_casts.TryGetValue(key, out var cast))
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            cast = weight.detach().to_type(type).DetachFromDisposeScope();
            _casts[key] = cast;
        }
        return cast;
    }

    /// <summary>Drops every cast, so the next use copies the current weights.</summary>
    public void Clear()
    {
        foreach (var cast in _casts.Values)
        {
            cast.Dispose();
        }
        _casts.Clear();
    }

    /// <inheritdoc />
    public void Dispose() => Clear();
}
