using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

/// <summary>
/// How every sample begins: from the checkpoint folder or hub id given as its first argument, or else from a small BERT
/// with random weights over the sample's own <c>data/vocab.txt</c> (this machine cannot download pretrained weights).
/// Shared by the samples as a linked source file, so each stays one runnable project.
/// </summary>
internal static class SampleStart
{
    /// <summary>The checkpoint folder or hub id given as the first argument, or null.</summary>
    public static string? Checkpoint(string[] args)
    {
        var checkpoint = args.Length > 0 ? args[0] : null;
        Console.WriteLine(checkpoint is null
            ? "no pretrained checkpoint: starting from random weights, expect lower scores"
            : $"Starting from the pretrained checkpoint {checkpoint}");
        return checkpoint;
    }

    /// <summary>
    /// A builder over <paramref name="checkpoint"/> (whose head may be replaced by the sample's), or over a new 2-layer,
    /// hidden-64 model seeded with 1, with <paramref name="maxPositions"/> positions.
    /// </summary>
    public static BertModelBuilder Builder(string? checkpoint, string dataFolder, int maxPositions = 64)
    {
        if (checkpoint is not null)
        {
            return BertModelBuilder.FromPretrained(checkpoint).ReplacingExistingHead();
        }
        random.manual_seed(1);
        var tokenizer = BertTokenizer.Load(Path.Combine(dataFolder, "vocab.txt"));
        var config = new BertConfig
        {
            VocabSize = tokenizer.VocabularySize,
            HiddenSize = 64,
            NumHiddenLayers = 2,
            NumAttentionHeads = 2,
            IntermediateSize = 128,
            MaxPositionEmbeddings = maxPositions,
        };
        return BertModelBuilder.FromConfig(config, tokenizer);
    }
}
