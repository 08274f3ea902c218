using BertFineTune.Builder;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Runtime;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using static TorchSharp.torch;

namespace BertFineTune.Testing;

/// <summary>
/// The one SST-2 fine-tuning recipe of the ONNX accuracy test (MiniLMSst2ExportAccuracyTests) and the <c>onnx</c>
/// benchmark, so that the benchmark's accuracy column and the test's assertions are about the same model: a fixed random
/// subset of SST-2 train, one epoch of the quick start's recipe (lr 1e-4, batch 16, warm-up 0.1, weight decay 0.01,
/// bfloat16 mixed precision where the CPU has it), sentences cut to 64 tokens, saved in float32.
/// Linked into both projects (tests/Shared).
/// </summary>
internal static class MiniLMSst2Recipe
{
    /// <summary>Seed of the subset's shuffle.</summary>
    public const int SubsetSeed = 1234;

    /// <summary>Seed of the classifier's initialisation and of the trainer.</summary>
    public const int Seed = 42;

    /// <summary>Tokens per training sentence.</summary>
    public const int MaxLength = 64;

    /// <summary>The SST-2 labels as the files write them (0 negative, 1 positive).</summary>
    public static LabelSchema Labels { get; } = LabelSchema.SingleLabel(["0", "1"]);

    /// <summary>Fine-tunes <paramref name="pretrained"/> on <paramref name="trainSentences"/> sentences of <paramref name="trainFile"/> (stsa.binary.train) and saves it to <paramref name="output"/>.</summary>
    public static void FineTune(string pretrained, string trainFile, int trainSentences, string output)
    {
        var train = LabelPrefixedLineReader.Read(trainFile, Labels).Items;
        var order = Enumerable.Range(0, train.Count).ToArray();
        new Random(SubsetSeed).Shuffle(order);
        var subset = order.Take(trainSentences).Select(i => train[i]).ToList();
        manual_seed(Seed);
        var builder = BertModelBuilder.FromPretrained(pretrained).WithSequenceClassification(Labels.Labels);
        if (BFloat16Support.IsSupported(CPU, out _))
        {
            builder = builder.UseMixedPrecision();
        }
        using var model = builder.Build();
        var examples = TextExampleEncoder.Encode(subset, model.Tokenizer,
            new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = MaxLength }).ToList();
        model.CreateTrainer(new TrainerOptions
        {
            LearningRate = 1e-4,
            WeightDecay = 0.01,
            WarmupRatio = 0.1,
            Epochs = 1,
            BatchSize = 16,
            GroupByLength = true,
            LoggingSteps = 1_000_000,
            Seed = Seed,
        }).Train(new InMemoryExamples(examples));
        // Saved in float32: whoever loads it chooses the precision.
        model.Save(output);
    }
}
