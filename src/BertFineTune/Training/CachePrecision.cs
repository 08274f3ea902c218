namespace BertFineTune.Training;

/// <summary>The element type of the frozen-layer cache (<see cref="TrainerOptions.CacheFrozenLayers"/>).</summary>
public enum CachePrecision
{
    /// <summary>bfloat16: 2 bytes per value, half of float32's; the cached states keep 8 significant bits.</summary>
    BFloat16 = 0,

    /// <summary>float32: 4 bytes per value; the cached states are exactly the frozen layers' float32 output.</summary>
    Float32 = 1,
}
