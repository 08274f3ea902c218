using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Runtime;

/// <summary>
/// Mixed precision for the BERT blocks, the role PyTorch's <c>torch.autocast</c> plays (TorchSharp has none). Inside an
/// <see cref="Enter"/> scope the encoder computes in a low-precision compute type (bfloat16) end to end: the embeddings'
/// sums and LayerNorm run in float32 and their output is cast once; from there the hidden states stay bf16 between the
/// blocks. The linear projections and attention run on bf16 copies of the float32 weights (PyTorch's CPU autocast
/// <c>lower_precision_fp</c> list: linear, matmul, bmm, scaled_dot_product_attention); GELU, dropout and the residual adds
/// run in bf16 (they are on neither CPU list, so autocast leaves them in their input's type); LayerNorm takes libtorch's
/// mixed-dtype path (bf16 input, float32 gamma/beta and statistics, bf16 output), which is what autocast gives on the CPU,
/// where layer_norm is not in the fp32 list. The encoder's outputs (last hidden state, pooler output, hidden states,
/// attentions) are returned in float32, and the heads' losses are float32 (cross_entropy is in the CPU fp32 list). The
/// explicit attention path's mask add and softmax run in float32 because the probabilities it computes are returned.
/// The weights, their gradients and the optimizer state stay float32: gradients flow back through the casts. Outside a
/// scope nothing changes, bit for bit. (Lists: pytorch aten/src/ATen/autocast_mode.cpp, TORCH_LIBRARY_IMPL(aten, AutocastCPU).)
/// </summary>
/// <remarks>
/// The scope is per thread, as TorchSharp's grad mode is: enter it on the thread that runs the forward pass. The trainer
/// and the predictors of a model built with <see cref="Builder.BertModelBuilder.UseMixedPrecision"/> enter it
/// themselves (see <see cref="Builder.TaskModel.MixedPrecision"/>).
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
internal static class Autocast
{
    [ThreadStatic]
    private static ScalarType? t_computeType;

    [ThreadStatic]
    private static WeightCastCache? t_cache;

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
    /// always while grad mode is off, or for a frozen weight (requires_grad false). A trainable weight is cast at each
    /// use, which is once per forward pass (each projection is used once; the tied masked-LM decoder casts the word
    /// embeddings, which the embedding lookup reads in float32), as torch.autocast's cast cache gives within one forward.
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
