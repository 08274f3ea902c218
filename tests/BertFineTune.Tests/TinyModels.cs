using BertFineTune.Checkpoints;

namespace BertFineTune.Tests;

/// <summary>Small random configurations for tests that need no reference numbers.</summary>
internal static class TinyModels
{
    /// <summary>A 2-layer, hidden-16 BERT config with <paramref name="labels"/> labels.</summary>
    public static BertConfig Config(int labels = 3) => new()
    {
        VocabSize = 50,
        HiddenSize = 16,
        NumHiddenLayers = 2,
        NumAttentionHeads = 2,
        IntermediateSize = 24,
        MaxPositionEmbeddings = 32,
        Labels = Enumerable.Range(0, labels).Select(i => $"L{i}").ToList(),
    };
}
