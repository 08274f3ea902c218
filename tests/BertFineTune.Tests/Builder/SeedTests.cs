using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Tests.Training;
using BertFineTune.Training;

namespace BertFineTune.Tests.Builder;

/// <summary>
/// Issue 15 item 4: a seed reproduces a run. transformers' Trainer calls <c>set_seed(args.seed)</c> before
/// <c>model_init</c> (trainer.py) so new heads are drawn from the seed; <see cref="BertModelBuilder.WithSeed"/> seeds the
/// generator before the model is created, and <see cref="TrainerOptions.Seed"/> seeds dropout, shuffling and layer
/// re-initialisation when training starts. Each head kind is put on the bare-encoder fixture (architectures BertModel),
/// so its head is new, then trained (with dropout 0.1 from the fixture's config, shuffling and a re-initialised top
/// layer) and saved; the saved model.safetensors must be equal byte for byte. A different builder seed must change it,
/// so the comparison can fail.
/// </summary>
public class SeedTests
{
    public static TheoryData<string> Kinds => new() { "sequence", "multilabel", "regression", "token", "qa", "multiple_choice", "mlm" };

    private static BertModelBuilder Builder(string kind)
    {
        var builder = BertModelBuilder.FromPretrained(Fixtures.Model("bert_model"));
        return kind switch
        {
            "sequence" => builder.WithSequenceClassification(["x", "y"]),
            "multilabel" => builder.WithMultiLabelClassification(["x", "y"]),
            "regression" => builder.WithRegression(),
            "token" => builder.WithTokenClassification(["O", "B-X", "I-X"]),
            "qa" => builder.WithQuestionAnswering(),
            "multiple_choice" => builder.WithMultipleChoice(),
            "mlm" => builder.WithMaskedLanguageModel(),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
        };
    }

    /// <summary>12 examples of random tokens with the kind's targets; null for multiple choice (init only, its batches need choices).</summary>
    private static List<EncodedExample>? Examples(string kind)
    {
        if (kind == "multiple_choice")
        {
            return null;
        }
        var rng = new Random(5);
        var examples = new List<EncodedExample>();
        for (int i = 0; i < 12; i++)
        {
            int length = rng.Next(4, 10);
            var ids = new int[length];
            ids[0] = 2;
            for (int k = 1; k < length; k++)
            {
                ids[k] = rng.Next(5, 200);
            }
            var targets = kind switch
            {
                "sequence" => new Dictionary<string, TargetValue> { ["labels"] = TargetValue.Integer(i % 2) },
                "multilabel" => new Dictionary<string, TargetValue> { ["labels"] = TargetValue.Vector([i % 2, (i / 2) % 2]) },
                "regression" => new Dictionary<string, TargetValue> { ["labels"] = TargetValue.Number(i / 12f) },
                "token" => new Dictionary<string, TargetValue> { ["labels"] = TargetValue.TokenLabels(ids.Select(t => (long)(t % 3)).ToArray()) },
                "qa" => new Dictionary<string, TargetValue>
                {
                    ["start_positions"] = TargetValue.Integer(1),
                    ["end_positions"] = TargetValue.Integer(length - 1),
                },
                "mlm" => new Dictionary<string, TargetValue>
                {
                    ["labels"] = TargetValue.TokenLabels(ids.Select((t, k) => k % 3 == 1 ? (long)t : -100L).ToArray()),
                },
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
            };
            examples.Add(new EncodedExample(ids, null, targets));
        }
        return examples;
    }

    private static byte[] TrainAndSave(string kind, int builderSeed)
    {
        using var temp = new TempFolder();
        using var model = Builder(kind).WithSeed(builderSeed).Build();
        if (Examples(kind) is { } examples)
        {
            var options = TrainingKit.Quiet() with
            {
                Epochs = 1,
                BatchSize = 4,
                Shuffle = true,
                LearningRate = 1e-3,
                ReinitializeTopLayers = 1,
                Seed = 42,
                LoggingSteps = 100,
            };
            model.CreateTrainer(options).Train(new InMemoryExamples(examples));
        }
        model.Save(temp.Path);
        return File.ReadAllBytes(Path.Combine(temp.Path, WeightsFiles.SafeWeightsName));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void The_same_seed_saves_the_same_weights_bit_for_bit_for_every_head_kind(string kind)
    {
        var first = TrainAndSave(kind, builderSeed: 42);
        // Something else draws from the generator in between, as another model or run in the same process would.
        using (TorchSharp.torch.rand(1000))
        {
        }
        var second = TrainAndSave(kind, builderSeed: 42);
        var other = TrainAndSave(kind, builderSeed: 43);

        Assert.True(first.AsSpan().SequenceEqual(second), $"{kind}: two runs with seed 42 saved different weights");
        Assert.False(first.AsSpan().SequenceEqual(other), $"{kind}: seeds 42 and 43 saved the same weights, so the new head ignores the seed");
    }

    [Fact]
    public void Two_builds_from_a_config_with_the_same_seed_are_identical()
    {
        var tokenizer = BertFineTune.Tokenization.BertTokenizer.Load(Fixtures.Model("bert_model"));
        var config = TinyModels.Config() with { VocabSize = tokenizer.VocabularySize };
        using var a = BertModelBuilder.FromConfig(config, tokenizer).WithSeed(3).Build();
        using var b = BertModelBuilder.FromConfig(config, tokenizer).WithSeed(3).Build();
        var wa = TrainingKit.Snapshot(a.Model);
        var wb = TrainingKit.Snapshot(b.Model);
        try
        {
            Assert.Empty(TrainingKit.Changed(wa, wb));
        }
        finally
        {
            TrainingKit.Dispose(wa);
            TrainingKit.Dispose(wb);
        }
    }
}
