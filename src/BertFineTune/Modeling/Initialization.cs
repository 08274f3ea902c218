using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Modeling;

/// <summary>transformers' initialisation of new BERT weights (<c>BertPreTrainedModel._init_weights</c>).</summary>
internal static class Initialization
{
    /// <summary>Normal(0, <paramref name="std"/>) weights and zero bias.</summary>
    public static void Init(Linear linear, double std)
    {
        using var _ = no_grad();
        nn.init.normal_(linear.weight, 0, std);
        if (linear.bias is { } bias)
        {
            nn.init.zeros_(bias);
        }
    }

    /// <summary>Normal(0, <paramref name="std"/>) rows, with the padding row zeroed.</summary>
    public static void Init(Embedding embedding, double std, long? paddingIndex)
    {
        using var _ = no_grad();
        nn.init.normal_(embedding.weight, 0, std);
        if (paddingIndex is { } pad)
        {
            embedding.weight![pad].zero_();
        }
    }

    /// <summary>Unit scale and zero shift.</summary>
    public static void Init(LayerNorm norm)
    {
        using var _ = no_grad();
        nn.init.ones_(norm.weight);
        nn.init.zeros_(norm.bias);
    }
}
