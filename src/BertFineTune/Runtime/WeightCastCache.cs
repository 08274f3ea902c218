using static TorchSharp.torch;

namespace BertFineTune.Runtime;

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

    /// <summary>Disposes every cast.</summary>
    public void Dispose()
    {
        foreach (var cast in _casts.Values)
        {
            cast.Dispose();
        }
        _casts.Clear();
    }
}
