using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Modeling;
using BertFineTune.Training;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Training;

public class FeatureCacheTests
{
    private static TrainerOptions Options(bool cache) => TrainingKit.Quiet() with
    {
        LearningRate = 1e-2,
        Epochs = 3,
        BatchSize = 4,
        GroupByLength = true,
        PadToMultipleOf = 4,
        FreezeEncoder = true,
        CacheFrozenLayers = cache,
        // Float32: the cached features are exactly the encoder's, so the losses can match to 1e-5.
        CachePrecision = CachePrecision.Float32,
    };

    /// <summary>Counts the sequences the encoder runs on from now on: one per example.</summary>
    private static Func<long> CountEncodedRows(BertForTask model)
    {
        long start = model.Encoder.SequencesEncoded;
        return () => model.Encoder.SequencesEncoded - start;
    }

    [Theory]
    [InlineData(PoolingMode.Pooler)]
    [InlineData(PoolingMode.Cls)]
    [InlineData(PoolingMode.Mean)]
    [InlineData(PoolingMode.Max)]
    public void With_dropout_zero_cached_features_train_the_head_to_the_same_losses(PoolingMode pooling)
    {
        // Lengths 3 to 12 in batches of 4, padded to a multiple of 4: mean and max pool over batches with padding, whose
        // cached hidden states are zeros the attention mask must drop.
        var examples = new InMemoryExamples(TrainingKit.Examples(10, minLength: 3, maxLength: 12));
        var evaluation = new InMemoryExamples(TrainingKit.Examples(5, seed: 9));
        var config = TrainingKit.Config(dropout: 0.0) with { ClassifierPooling = pooling };
        using var recomputed = TrainingKit.Model(config);
        using var cached = TrainingKit.Model(config);
        var evaluateEveryEpoch = new Func<bool, TrainerOptions>(cache => Options(cache) with { EvaluateEveryEpoch = true });

        var expected = new Trainer(recomputed, evaluateEveryEpoch(false)).Train(examples, evaluation);
        var actual = new Trainer(cached, evaluateEveryEpoch(true)).Train(examples, evaluation);

        Assert.Equal(9, expected.Steps.Count);
        Assert.Equal(expected.Steps.Count, actual.Steps.Count);
        for (int i = 0; i < expected.Steps.Count; i++)
        {
            Assert.Equal(expected.Steps[i].Loss, actual.Steps[i].Loss, 1e-5);
        }
        Assert.Equal(expected.Evaluations.Count, actual.Evaluations.Count);
        for (int i = 0; i < expected.Evaluations.Count; i++)
        {
            Assert.Equal(expected.Evaluations[i].Metrics["loss"], actual.Evaluations[i].Metrics["loss"], 1e-5);
        }
        // The live weights of both models (state_dict holds the parameters themselves, nothing to dispose).
        Assert.True(TrainingKit.MaxDifference(recomputed.state_dict(), cached.state_dict()) < 1e-5);
    }

    [Fact]
    public void The_encoder_runs_once_per_example_however_many_epochs()
    {
        const int count = 10;
        var examples = new InMemoryExamples(TrainingKit.Examples(count));
        using var cached = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));
        using var recomputed = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));
        var cachedRows = CountEncodedRows(cached);
        var recomputedRows = CountEncodedRows(recomputed);
        var logs = new RecordingLoggerFactory();

        new Trainer(cached, Options(cache: true), logs).Train(examples);
        new Trainer(recomputed, Options(cache: false)).Train(examples);

        Assert.Equal(count, cachedRows());
        Assert.Equal(3 * count, recomputedRows());
        Assert.Contains(logs.Messages, m => m.Contains($"the output of the whole encoder for {count} examples", StringComparison.Ordinal));
    }

    [Fact]
    public void The_cache_leaves_the_frozen_encoder_unchanged_and_trains_the_head()
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));
        var before = TrainingKit.Snapshot(model);

        new Trainer(model, Options(cache: true)).Train(new InMemoryExamples(TrainingKit.Examples(8)));

        var after = TrainingKit.Snapshot(model);
        try
        {
            var changed = TrainingKit.Changed(before, after);
            Assert.Equal(["classifier.bias", "classifier.weight"], changed);
            Assert.True(model.training is false);
        }
        finally
        {
            TrainingKit.Dispose(before);
            TrainingKit.Dispose(after);
        }
    }

    [Fact]
    public void Caching_needs_a_frozen_encoder_or_frozen_lowest_layers()
    {
        var error = Assert.Throws<ArgumentException>(() => TrainingKit.Quiet(new TrainerOptions { CacheFrozenLayers = true, FreezeEmbeddings = true }).Validate());

        Assert.Contains("CacheFrozenLayers", error.Message, StringComparison.Ordinal);
        Assert.Contains("FreezeEncoder", error.Message, StringComparison.Ordinal);
        Assert.Contains("FreezeLowestLayers > 0", error.Message, StringComparison.Ordinal);
        TrainingKit.Quiet(new TrainerOptions { CacheFrozenLayers = true, FreezeLowestLayers = 1 }).Validate();
        TrainingKit.Quiet(new TrainerOptions { CacheFrozenLayers = true, FreezeEncoder = true }).Validate();
        Assert.Contains("CacheMemoryLimitBytes", Assert.Throws<ArgumentException>(() => TrainingKit.Quiet(
            new TrainerOptions { CacheFrozenLayers = true, FreezeEncoder = true, CacheMemoryLimitBytes = -1 }).Validate()).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Streamed_examples_or_ready_batches_fall_back_to_running_the_encoder_with_a_log_line()
    {
        var list = TrainingKit.Examples(8);
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));
        var rows = CountEncodedRows(model);
        var logs = new RecordingLoggerFactory();
        var trainer = new Trainer(model, Options(cache: true) with { Epochs = 2 }, logs);

        trainer.Train(new StreamingExamples(() => list));
        Assert.Equal(16, rows());
        using var batch = new BatchCollator().Collate(list);
        trainer.Train(BatchSource.FromBatches([batch]));

        var lines = logs.Messages.Where(m => m.Contains("CacheFrozenLayers is off", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Contains("streamed", lines[0], StringComparison.Ordinal);
        Assert.Contains("batches", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public void A_batch_with_precomputed_encoder_outputs_gives_the_heads_outputs_without_the_encoder()
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.0));
        model.eval();
        var rows = CountEncodedRows(model);
        using var batch = new BatchCollator().Collate(TrainingKit.Examples(4));
        using var _ = no_grad();
        using var expected = model.Forward(batch);
        using var features = model.Encoder.Forward(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
        Assert.Equal(8, rows());

        using var precomputed = batch.WithEncoderOutput(features);
        using var actual = model.Forward(precomputed);

        Assert.Equal(8, rows());
        Assert.True(TrainingKit.BitIdentical(expected.Logits!, actual.Logits!));
        Assert.True(TrainingKit.BitIdentical(expected.Loss!, actual.Loss!));
        // The batch shares the features: they are still alive after the forward pass and the batch's dispose.
        precomputed.Dispose();
        Assert.Equal(batch.Size, features.LastHiddenState.shape[0]);
        Assert.Throws<InvalidOperationException>(() => model.Forward(precomputed, new EncoderOutputOptions(OutputHiddenStates: true)));
    }
}
