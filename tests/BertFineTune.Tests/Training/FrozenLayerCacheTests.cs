using System.Text.RegularExpressions;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Modeling;
using BertFineTune.Training;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Training;

/// <summary>
/// The frozen-layer cache with the lowest 2 of 4 layers frozen (<see cref="TrainerOptions.FreezeLowestLayers"/> +
/// <see cref="TrainerOptions.CacheFrozenLayers"/>): layers 2 and 3, the pooler and the head run on the cached output of
/// layer 1. The expected values are those of the same run without the cache (the frozen layers recomputed every batch).
/// </summary>
public partial class FrozenLayerCacheTests
{
    private const int Layers = 4;
    private const int Frozen = 2;

    private static BertConfig Config(double dropout, PoolingMode pooling = PoolingMode.Pooler) =>
        TrainingKit.Config(dropout) with { NumHiddenLayers = Layers, ClassifierPooling = pooling };

    private static TrainerOptions Options(bool cache, CachePrecision precision = CachePrecision.Float32) => TrainingKit.Quiet() with
    {
        LearningRate = 1e-2,
        Epochs = 3,
        BatchSize = 4,
        GroupByLength = true,
        PadToMultipleOf = 4,
        FreezeLowestLayers = Frozen,
        CacheFrozenLayers = cache,
        CachePrecision = precision,
        EvaluateEveryEpoch = true,
    };

    private static BertForTask Model(BertConfig config, bool tokens = false)
    {
        random.manual_seed(1);
        return new BertForTask(config, tokens ? new TokenClassificationHead(config) : new SequenceClassificationHead(config));
    }

    /// <summary>Examples with one label per token (the first token's label is -100, ignored, as for [CLS]).</summary>
    private static List<EncodedExample> TokenExamples(int count, int seed) =>
        TrainingKit.Examples(count, seed, minLength: 3, maxLength: 12).Select(e => new EncodedExample(e.InputIds, null,
            new Dictionary<string, TargetValue>
            {
                ["labels"] = TargetValue.TokenLabels(e.InputIds.Select((id, k) => k == 0 ? -100L : id % 3).ToArray()),
            })).ToList();

    private static (InMemoryExamples Train, InMemoryExamples Evaluation) Data(bool tokens) => tokens
        ? (new InMemoryExamples(TokenExamples(10, 5)), new InMemoryExamples(TokenExamples(5, 9)))
        : (new InMemoryExamples(TrainingKit.Examples(10, minLength: 3, maxLength: 12)), new InMemoryExamples(TrainingKit.Examples(5, seed: 9)));

    private static void AssertSameLosses(TrainingResult expected, TrainingResult actual, double tolerance)
    {
        Assert.Equal(9, expected.Steps.Count);
        Assert.Equal(expected.Steps.Count, actual.Steps.Count);
        for (int i = 0; i < expected.Steps.Count; i++)
        {
            Assert.True(Math.Abs(expected.Steps[i].Loss - actual.Steps[i].Loss) <= tolerance,
                $"step {i + 1}: {expected.Steps[i].Loss} uncached vs {actual.Steps[i].Loss} cached");
        }
        Assert.Equal(3, expected.Evaluations.Count);
        Assert.Equal(expected.Evaluations.Count, actual.Evaluations.Count);
        for (int i = 0; i < expected.Evaluations.Count; i++)
        {
            Assert.True(Math.Abs(expected.Evaluations[i].Metrics["loss"] - actual.Evaluations[i].Metrics["loss"]) <= tolerance,
                $"evaluation {i + 1}: {expected.Evaluations[i].Metrics["loss"]} vs {actual.Evaluations[i].Metrics["loss"]}");
        }
    }

    [Theory]
    [InlineData(PoolingMode.Pooler, false)]
    [InlineData(PoolingMode.Mean, false)]
    [InlineData(PoolingMode.Cls, true)] // token classification (pooling unused)
    public void With_dropout_zero_and_a_float32_cache_every_loss_equals_the_uncached_runs(PoolingMode pooling, bool tokens)
    {
        // Lengths 3 to 12 in batches of 4 padded to a multiple of 4: the cached states of a batch are padded with zeros,
        // which the attention mask must keep out of layers 2 and 3 as it keeps the real padding's states out.
        var (train, evaluation) = Data(tokens);
        using var recomputed = Model(Config(0.0, pooling), tokens);
        using var cached = Model(Config(0.0, pooling), tokens);

        var expected = new Trainer(recomputed, Options(cache: false)).Train(train, evaluation);
        var actual = new Trainer(cached, Options(cache: true)).Train(train, evaluation);

        AssertSameLosses(expected, actual, 1e-5);
        // The live weights of both models (state_dict holds the parameters themselves, nothing to dispose).
        Assert.True(TrainingKit.MaxDifference(recomputed.state_dict(), cached.state_dict()) < 1e-5);
    }

    [Fact]
    public void A_bfloat16_cache_holds_two_bytes_a_value_and_trains_close_to_the_uncached_run()
    {
        var (train, evaluation) = Data(tokens: false);
        using var recomputed = Model(Config(0.0));
        using var cached = Model(Config(0.0));
        var logs = new RecordingLoggerFactory();

        var expected = new Trainer(recomputed, Options(cache: false)).Train(train, evaluation);
        var actual = new Trainer(cached, Options(cache: true, CachePrecision.BFloat16), logs).Train(train, evaluation);

        // bf16 keeps 8 significant bits: each cached value is rounded by at most 2^-9 ≈ 0.2 % of itself. Layers 2 and 3
        // end in LayerNorm, which does not amplify a relative error of the input, and a loss of about 1 moves by about
        // that relative error; 9 steps at lr 1e-2 compound it a little. 1e-2 (five times 2^-9) bounds that with margin,
        // and is far below the losses' own changes over the run (tenths).
        AssertSameLosses(expected, actual, 1e-2);
        Assert.Contains(expected.Steps.Zip(actual.Steps), p => p.First.Loss != p.Second.Loss);
        long tokens = train.Examples.Sum(e => (long)e.Length);
        long hidden = Config(0.0).HiddenSize;
        var line = Assert.Single(logs.Messages, m => m.Contains("Frozen-layer cache", StringComparison.Ordinal) && m.Contains("for 10 examples", StringComparison.Ordinal));
        Assert.Contains($"embeddings + layers 0..1 for 10 examples, {tokens} tokens, {hidden * 2} bytes per token, {tokens * hidden * 2} bytes in all, in memory", line, StringComparison.Ordinal);
    }

    [Fact]
    public void The_cache_runs_the_frozen_layers_once_per_example_and_the_top_layers_every_batch()
    {
        const int count = 10;
        var examples = new InMemoryExamples(TrainingKit.Examples(count));
        using var cached = Model(Config(0.1));
        using var recomputed = Model(Config(0.1));
        long cachedStart = cached.Encoder.LayerPasses, recomputedStart = recomputed.Encoder.LayerPasses;

        new Trainer(cached, Options(cache: true) with { EvaluateEveryEpoch = false }).Train(examples);
        new Trainer(recomputed, Options(cache: false) with { EvaluateEveryEpoch = false }).Train(examples);

        // Uncached: 4 layers × 10 examples × 3 epochs. Cached: layers 0–1 once per example, layers 2–3 every epoch.
        Assert.Equal(Layers * count * 3, recomputed.Encoder.LayerPasses - recomputedStart);
        Assert.Equal((Frozen * count) + ((Layers - Frozen) * count * 3), cached.Encoder.LayerPasses - cachedStart);
    }

    [Fact]
    public void A_spilled_cache_gives_the_in_memory_caches_losses_bit_for_bit_and_its_file_is_deleted()
    {
        var (train, evaluation) = Data(tokens: false);
        using var inMemory = Model(Config(0.1));
        using var spilled = Model(Config(0.1));
        var logs = new RecordingLoggerFactory();
        var seenDuringRun = new List<bool>();

        var expected = new Trainer(inMemory, Options(cache: true, CachePrecision.BFloat16)).Train(train, evaluation);
        var actual = new Trainer(spilled, Options(cache: true, CachePrecision.BFloat16) with { CacheMemoryLimitBytes = 0 }, logs)
            .Train(train, evaluation, callbacks: [new Hooks { Step = _ => { seenDuringRun.Add(SpillFiles(logs).All(File.Exists)); return false; } }]);

        Assert.Equal(expected.Steps.Select(s => s.Loss), actual.Steps.Select(s => s.Loss));
        Assert.Equal(expected.Evaluations.Select(e => e.Metrics["loss"]), actual.Evaluations.Select(e => e.Metrics["loss"]));
        var files = SpillFiles(logs);
        Assert.Equal(2, files.Count); // the training and the evaluation cache
        Assert.All(files, f => Assert.StartsWith(Path.GetTempPath(), f, StringComparison.Ordinal));
        Assert.NotEmpty(seenDuringRun);
        Assert.All(seenDuringRun, Assert.True);
        Assert.All(files, f => Assert.False(File.Exists(f), f));
    }

    [Fact]
    public void A_spilled_cache_file_is_deleted_when_a_callback_throws_mid_run()
    {
        var (train, _) = Data(tokens: false);
        using var model = Model(Config(0.1));
        var logs = new RecordingLoggerFactory();
        bool existed = false;

        var error = Assert.Throws<InvalidOperationException>(() => new Trainer(model, Options(cache: true) with { CacheMemoryLimitBytes = 1 }, logs)
            .Train(train, callbacks: [new Hooks { Step = s =>
            {
                existed = SpillFiles(logs).All(File.Exists);
                return s.Step == 2 ? throw new InvalidOperationException("stop here") : false;
            } }]));

        Assert.Equal("stop here", error.Message);
        Assert.True(existed);
        var file = Assert.Single(SpillFiles(logs));
        Assert.False(File.Exists(file), file);
    }

    [Fact]
    public void Resuming_with_the_cache_ends_with_the_uninterrupted_cached_runs_losses()
    {
        using var straightFolder = new TempFolder();
        using var stoppedFolder = new TempFolder();
        var (train, _) = Data(tokens: false);
        TrainerOptions Saving(string folder) => Options(cache: true) with { EvaluateEveryEpoch = false, OutputDirectory = folder, SaveEverySteps = 2 };

        using var straight = Model(Config(0.1));
        var full = new Trainer(straight, Saving(straightFolder.Path)).Train(train);
        using var stopped = Model(Config(0.1));
        new Trainer(stopped, Saving(stoppedFolder.Path)).Train(train, callbacks: [new Hooks { Step = s => s.Step == 4 }]);
        random.manual_seed(2);
        using var resumed = new BertForTask(Config(0.1), new SequenceClassificationHead(Config(0.1)));
        var rest = new Trainer(resumed, Saving(stoppedFolder.Path) with { ResumeFromCheckpoint = Path.Combine(stoppedFolder.Path, "checkpoint-4") })
            .Train(train);

        // The resumed run's cache is built from the checkpoint's frozen layers, not the new model's random ones.
        Assert.Equal(full.Steps.Skip(4).Select(s => s.Loss), rest.Steps.Select(s => s.Loss));
    }

    [Fact]
    public void Streamed_examples_fall_back_to_running_every_layer_with_one_log_line()
    {
        var list = TrainingKit.Examples(8);
        using var model = Model(Config(0.1));
        long start = model.Encoder.LayerPasses;
        var logs = new RecordingLoggerFactory();

        new Trainer(model, Options(cache: true) with { Epochs = 2, EvaluateEveryEpoch = false }, logs).Train(new StreamingExamples(() => list));

        Assert.Equal(Layers * 8 * 2, model.Encoder.LayerPasses - start);
        var line = Assert.Single(logs.Messages, m => m.Contains("CacheFrozenLayers is off", StringComparison.Ordinal));
        Assert.Contains("streamed", line, StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Messages, m => m.Contains("Frozen-layer cache:", StringComparison.Ordinal));
    }

    [Fact]
    public void Multiple_choice_on_cached_boundary_states_gives_the_full_forward_pass()
    {
        // Multiple-choice examples are not EncodedExamples (the trainer's cache needs those), so the head is checked on a
        // batch carrying the states the cache would hold: layer 1's output of the flattened [batch × choices, seq] inputs.
        var config = Config(0.0, PoolingMode.Mean) with { Labels = ["L0"] };
        random.manual_seed(3);
        using var model = new BertForTask(config, new MultipleChoiceHead(config));
        model.train();
        using var ids = randint(2, 50, [2, 3, 6], dtype: ScalarType.Int64);
        using var mask = ones([2, 3, 6], ScalarType.Int64);
        mask[.., 1, 4..] = zeros(1, ScalarType.Int64);
        using var labels = tensor(new long[] { 2, 0 });
        using var batch = new BertBatch(ids, mask, targets: new Dictionary<string, Tensor> { ["labels"] = labels });
        using var expected = model.Forward(batch);
        using var boundary = model.Encoder.ForwardTo(Frozen, ids.view(-1, 6), mask.view(-1, 6), null);
        using var withStates = new BertBatch(ids, mask, null, batch.Targets, null, null, ownsTensors: false,
            new FrozenLayerStates(boundary, Frozen));
        long passes = model.Encoder.LayerPasses;

        using var actual = model.Forward(withStates);

        Assert.Equal((Layers - Frozen) * 6, model.Encoder.LayerPasses - passes);
        Assert.True(TrainingKit.MaxDifference(expected.Logits!, actual.Logits!) < 1e-6);
        Assert.True(TrainingKit.MaxDifference(expected.Loss!, actual.Loss!) < 1e-6);
        Assert.Throws<InvalidOperationException>(() => model.Forward(withStates, new EncoderOutputOptions(OutputAttentions: true)));
    }

    private static List<string> SpillFiles(RecordingLoggerFactory logs) =>
        logs.Messages.Select(m => SpillFile().Match(m)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToList();

    [GeneratedRegex(@"in memory-mapped file (.+?); built in")]
    private static partial Regex SpillFile();
}
