using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// A forward pass's outputs by transformers' names (<c>loss</c>, <c>logits</c>, <c>start_logits</c>,
/// <c>hidden_states.0</c>, …). Disposing it disposes every tensor.
/// </summary>
public sealed class ModelOutput : IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors;

    /// <summary>Wraps <paramref name="tensors"/>; the output takes ownership of them.</summary>
    public ModelOutput(IReadOnlyDictionary<string, Tensor> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        _tensors = new Dictionary<string, Tensor>(tensors, StringComparer.Ordinal);
    }

    /// <summary>Every output by name.</summary>
    public IReadOnlyDictionary<string, Tensor> Tensors => _tensors;

    /// <summary>The scalar loss, present when the batch had the targets the head needs.</summary>
    public Tensor? Loss => Get("loss");

    /// <summary>The main prediction scores, for heads that have them.</summary>
    public Tensor? Logits => Get("logits");

    /// <summary>The output named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">This head does not produce it (the message lists what it does produce).</exception>
    public Tensor this[string name] => Get(name)
        ?? throw new KeyNotFoundException($"No output named '{name}'; this model produced: {string.Join(", ", _tensors.Keys)}.");

    /// <summary>The output named <paramref name="name"/>, or null.</summary>
    public Tensor? Get(string name) => _tensors.TryGetValue(name, out var t) ? t : null;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var tensor in _tensors.Values)
        {
            tensor.Dispose();
        }
        _tensors.Clear();
    }
}
