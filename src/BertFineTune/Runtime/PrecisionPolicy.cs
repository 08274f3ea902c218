using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BertFineTune.Runtime;

/// <summary>
/// The precision a model computes in: float32, or mixed precision (the encoder's matmuls and attention in bfloat16 on
/// float32 weights, see <see cref="Autocast"/>). Decided once, when the model is built (<see cref="Resolve"/>), and
/// followed alike by the trainer, its encoder-feature cache and the predictors.
/// </summary>
internal sealed class PrecisionPolicy
{
    private static readonly PrecisionPolicy Float32 = new(null);
    private static readonly PrecisionPolicy MixedBFloat16 = new(ScalarType.BFloat16);

    private PrecisionPolicy(ScalarType? computeType) => ComputeType = computeType;

    /// <summary>The compute type inside the model's BERT blocks, or null for float32 throughout.</summary>
    public ScalarType? ComputeType { get; }

    /// <summary>Whether the blocks compute in a low-precision type.</summary>
    public bool IsMixed => ComputeType is not null;

    /// <summary>Mixed precision in bfloat16 when <paramref name="mixedPrecision"/>, float32 otherwise.</summary>
    public static PrecisionPolicy For(bool mixedPrecision) => mixedPrecision ? MixedBFloat16 : Float32;

    /// <summary>
    /// Whether mixed precision asked for (<paramref name="requested"/>) is used on <paramref name="device"/>: only where
    /// <see cref="BFloat16Support"/> says bfloat16 is worth using there. Logs one line saying which and why.
    /// </summary>
    public static bool Resolve(bool requested, Device device, ILogger logger)
    {
        if (!requested)
        {
            return false;
        }
        bool supported = BFloat16Support.IsSupported(device, out var reason);
        if (supported)
        {
            Log.MixedPrecisionOn(logger, reason);
        }
        else
        {
            Log.MixedPrecisionUnavailable(logger, reason);
        }
        return supported;
    }

    /// <summary>
    /// A cache for the weights' low-precision casts (null in float32, where nothing is cast); <paramref name="frozenOnly"/>
    /// limits it to frozen weights, for a run whose trainable weights change every step.
    /// </summary>
    public WeightCastCache? CreateCastCache(bool frozenOnly = false) => IsMixed ? new WeightCastCache(frozenOnly) : null;

    /// <summary>Runs this thread's forward passes in this precision until disposed, reusing the casts in <paramref name="casts"/>.</summary>
    public IDisposable Enter(WeightCastCache? casts) => Autocast.Begin(ComputeType, casts);
}
