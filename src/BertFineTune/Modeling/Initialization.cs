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

    /// <summary>
    /// <paramref name="old"/> with its first dimension resized to <paramref name="rows"/>, as transformers'
    /// <c>_get_resized_embeddings</c> / <c>_get_resized_lm_head</c> (<c>modeling_utils.py</c>) build it: the first
    /// min(old, new) rows copied, new rows filled by <paramref name="newRows"/>. The result is on the same device, in the
    /// same dtype.
    /// </summary>
    public static Tensor Resize(Tensor old, long rows, NewRows newRows, double std)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        long oldRows = old.shape[0];
        var shape = old.shape.ToArray();
        shape[0] = rows;
        var resized = zeros(shape, dtype: old.dtype, device: old.device);
        long kept = Math.Min(oldRows, rows);
        resized.narrow(0, 0, kept).copy_(old.narrow(0, 0, kept));
        if (rows > oldRows)
        {
            var added = resized.narrow(0, oldRows, rows - oldRows);
            switch (newRows)
            {
                case NewRows.Mean:
                    // transformers' mean_resizing: the mean of the old rows (computed in float32), see BertForTask.ResizeTokenEmbeddings.
                    added.copy_(old.to_type(ScalarType.Float32).mean([0], keepdim: true).expand_as(added));
                    break;
                case NewRows.Normal:
                    nn.init.normal_(added, 0, std);
                    break;
                case NewRows.Zero:
                    break;
            }
        }
        return resized.MoveToOuterDisposeScope();
    }

    /// <summary>How <see cref="Resize"/> fills the rows it adds.</summary>
    public enum NewRows
    {
        /// <summary>Each new row is the mean of the old rows.</summary>
        Mean,
        /// <summary>Normal(0, std), as a new weight is initialised.</summary>
        Normal,
        /// <summary>Zeros.</summary>
        Zero,
    }

    /// <summary>Unit scale and zero shift.</summary>
    public static void Init(LayerNorm norm)
    {
        using var _ = no_grad();
        nn.init.ones_(norm.weight);
        nn.init.zeros_(norm.bias);
    }
}
