using static TorchSharp.torch;

namespace BertFineTune.Modeling;

/// <summary>The feed-forward activations named by <c>hidden_act</c>.</summary>
internal static class Activations
{
    /// <summary>The function transformers uses for <paramref name="name"/>.</summary>
    public static Func<Tensor, Tensor> Get(string name) => name switch
    {
        "gelu" => x => nn.functional.gelu(x),
        // gelu_new, gelu_fast and gelu_pytorch_tanh are the same tanh approximation written three ways.
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => x => nn.functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh),
        "relu" => x => nn.functional.relu(x),
        "silu" or "swish" => x => nn.functional.silu(x),
        "tanh" => x => x.tanh(),
        _ => throw new ArgumentException($"hidden_act '{name}' is not supported.", nameof(name)),
    };
}
