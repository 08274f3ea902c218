using BertFineTune.Heads;
using static TorchSharp.torch;

namespace BertFineTune.Data;

/// <summary>
/// BERT's masking for masked-language modelling (transformers' <c>DataCollatorForLanguageModeling</c>): each
/// non-special token is chosen with <see cref="Probability"/>; a chosen token becomes <c>[MASK]</c> 80 % of the time, a
/// random token 10 % and stays 10 %; labels hold the original id at chosen positions and -100 elsewhere.
/// </summary>
/// <param name="MaskTokenId">Id of <c>[MASK]</c>.</param>
/// <param name="VocabularySize">Random replacements are drawn from [0, this).</param>
/// <param name="SpecialTokenIds">Ids never chosen ([CLS], [SEP], [PAD], …).</param>
/// <param name="Probability">Share of tokens to predict.</param>
public sealed record MaskedLanguageModeling(int MaskTokenId, int VocabularySize, IReadOnlySet<int> SpecialTokenIds, double Probability = 0.15)
{
    /// <summary>
    /// Masks a copy of each example's ids with <paramref name="random"/> and stacks them into a batch with <c>labels</c>.
    /// Masking is redrawn every time (dynamic masking), reproducibly for a given random state.
    /// </summary>
    public BertBatch Collate(IReadOnlyList<EncodedExample> examples, Random random, int padTokenId = 0, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(examples);
        ArgumentNullException.ThrowIfNull(random);
        if (!(Probability is > 0 and < 1))
        {
            throw new InvalidOperationException($"The masking probability must be in (0, 1), got {Probability}.");
        }
        var masked = examples.Select(example =>
        {
            var ids = example.InputIds.ToArray();
            var labels = new long[ids.Length];
            for (int i = 0; i < ids.Length; i++)
            {
                labels[i] = -100;
                if (SpecialTokenIds.Contains(ids[i]) || random.NextDouble() >= Probability)
                {
                    continue;
                }
                labels[i] = ids[i];
                double action = random.NextDouble();
                if (action < 0.8)
                {
                    ids[i] = MaskTokenId;
                }
                else if (action < 0.9)
                {
                    ids[i] = random.Next(VocabularySize);
                }
            }
            return example with { InputIds = ids, Targets = new Dictionary<string, TargetValue> { ["labels"] = TargetValue.TokenLabels(labels) } };
        }).ToList();
        return new BatchCollator(padTokenId).Collate(masked, device);
    }
}

public abstract partial class BatchSource
{
    /// <summary>
    /// Batches for masked-language modelling: examples (texts tokenized without targets) masked anew each epoch with a
    /// seed derived from <paramref name="seed"/>, the epoch and the batch, so a resumed run masks exactly as before.
    /// </summary>
    public static BatchSource ForMaskedLanguageModeling(ExampleSource examples, MaskedLanguageModeling masking, int batchSize,
        int padTokenId = 0, bool shuffle = true, int seed = 42)
    {
        ArgumentNullException.ThrowIfNull(masking);
        return new MaskedBatches(new BatchPlan(examples, batchSize, shuffle, groupByLength: false, seed), masking, padTokenId, seed);
    }

    private sealed class MaskedBatches(BatchPlan plan, MaskedLanguageModeling masking, int padTokenId, int seed) : BatchSource
    {
        public override int? BatchesPerEpoch => plan.BatchesPerEpoch;

        public override IEnumerable<BertBatch> Batches(int epoch, int skip = 0) =>
            plan.Batches(epoch, skip).Select((examples, i) =>
                masking.Collate(examples, new Random(unchecked((seed * 31 + epoch) * 1_000_003 + skip + i)), padTokenId));

        public override int CountBatches() => plan.BatchesPerEpoch ?? plan.Batches(0).Count();
    }
}
