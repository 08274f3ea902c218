using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Inference;
using BertFineTune.Modeling;
using BertFineTune.Runtime;
using BertFineTune.Tests.Training;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Runtime;

public class MixedPrecisionTests
{
    /// <summary>A tiny config a little wider than the usual one, so bf16 rounding averages out as in a real model.</summary>
    private static BertConfig Config(double dropout = 0.0) => TrainingKit.Config(dropout) with
    {
        HiddenSize = 64,
        NumAttentionHeads = 4,
        IntermediateSize = 128,
    };

    private static BertBatch Batch()
    {
        var examples = TrainingKit.Examples(6, seed: 11, minLength: 4, maxLength: 12);
        return new BatchCollator().Collate(examples);
    }

    private static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        var a = actual.detach().to_type(ScalarType.Float64);
        var e = expected.detach().to_type(ScalarType.Float64);
        return (a - e).norm().item<double>() / e.norm().item<double>();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Bf16_logits_are_close_to_float32_and_come_out_in_float32(bool explicitAttention)
    {
        using var model = TrainingKit.Model(Config());
        model.eval();
        using var batch = Batch();
        using var _ = no_grad();
        var options = new EncoderOutputOptions(OutputAttentions: explicitAttention);

        using var reference = model.Forward(batch, options);
        using var mixed = Forward(model, batch, options);

        Assert.Equal(ScalarType.Float32, mixed.Logits!.dtype);
        Assert.Equal(ScalarType.Float32, mixed.Loss!.dtype);
        double error = RelativeError(mixed.Logits, reference.Logits!);
        Assert.True(error < 2e-2, $"relative error {error}");
        Assert.True(error > 0, "the bf16 path computed exactly the float32 numbers: it did not run in bf16");
        if (explicitAttention)
        {
            // The explicit path's softmax runs in float32, so the probabilities it returns are float32 and sum to one.
            var attention = mixed["attentions.0"];
            Assert.Equal(ScalarType.Float32, attention.dtype);
            using var sums = attention.sum(-1);
            Assert.True(sums.allclose(ones_like(sums), rtol: 0, atol: 1e-5));
        }
    }

    [Theory]
    [InlineData(PoolingMode.Cls)]
    [InlineData(PoolingMode.Mean)]
    [InlineData(PoolingMode.Max)]
    public void Each_classifier_pooling_runs_in_bf16_close_to_float32_with_float32_logits_and_gradients(PoolingMode pooling)
    {
        using var model = TrainingKit.Model(Config() with { ClassifierPooling = pooling });
        using var batch = Batch();
        model.eval();
        ModelOutput reference;
        using (no_grad())
        {
            reference = model.Forward(batch);
        }
        using var _ = reference;
        model.train();

        using var mixed = Forward(model, batch);
        mixed.Loss!.backward();

        Assert.Equal(ScalarType.Float32, mixed.Logits!.dtype);
        double error = RelativeError(mixed.Logits, reference.Logits!);
        Assert.True(error < 2e-2, $"{pooling}: relative error {error}");
        Assert.True(error > 0, $"{pooling}: the bf16 path computed exactly the float32 numbers");
        foreach (var (name, parameter) in model.named_parameters())
        {
            using var grad = parameter.grad;
            Assert.True(grad is not null && grad.dtype == ScalarType.Float32, $"{pooling}: {name} has no float32 gradient");
        }
    }

    [Theory]
    [InlineData(PoolingMode.Mean)]
    [InlineData(PoolingMode.Max)]
    public void Cached_features_in_mixed_precision_train_a_pooled_head_like_the_uncached_run(PoolingMode pooling)
    {
        AssertCachedRunTrainsLikeTheUncached(Config() with { ClassifierPooling = pooling }, TrainingKit.Quiet() with { FreezeEncoder = true });
    }

    [Fact]
    public void Cached_frozen_layers_in_mixed_precision_train_the_top_layers_like_the_uncached_run()
    {
        // Config(): 4 layers, dropout 0. The lowest 2 are frozen and cached (bf16 by default, which holds the bf16 states exactly).
        AssertCachedRunTrainsLikeTheUncached(Config(), TrainingKit.Quiet() with { FreezeLowestLayers = 2 });
    }

    /// <summary>
    /// Trains two copies of a model built from <paramref name="config"/> in mixed precision, without and with
    /// <see cref="TrainerOptions.CacheFrozenLayers"/>, and checks that every step's loss agrees within 2 % relative.
    /// </summary>
    private static void AssertCachedRunTrainsLikeTheUncached(BertConfig config, TrainerOptions frozen)
    {
        var examples = new InMemoryExamples(TrainingKit.Examples(8, seed: 7, minLength: 3, maxLength: 12));
        var options = frozen with { LearningRate = 1e-2, Epochs = 2, BatchSize = 4 };
        using var recomputed = TrainingKit.Model(config);
        using var cached = TrainingKit.Model(config);

        var expected = new Trainer(recomputed, options, mixedPrecision: true).Train(examples);
        var actual = new Trainer(cached, options with { CacheFrozenLayers = true }, mixedPrecision: true).Train(examples);

        Assert.Equal(expected.Steps.Count, actual.Steps.Count);
        for (int i = 0; i < expected.Steps.Count; i++)
        {
            // bf16 hidden states of a text depend a little on its batch's padded length (the matmul shapes), and the
            // cache encodes in other batches than training: close, not equal.
            Assert.True(Math.Abs(expected.Steps[i].Loss - actual.Steps[i].Loss) < 2e-2 * Math.Abs(expected.Steps[i].Loss),
                $"step {i}: {expected.Steps[i].Loss} vs {actual.Steps[i].Loss}");
        }
    }

    private static ModelOutput Forward(BertForTask model, BertBatch batch, EncoderOutputOptions? options = null)
    {
        using var autocast = Autocast.Enter(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, Autocast.ComputeType);
        return model.Forward(batch, options);
    }

    [Fact]
    public void Hidden_states_stay_bf16_between_blocks_and_the_public_outputs_come_back_float32()
    {
        using var model = TrainingKit.Model(Config());
        model.train();
        using var batch = Batch();
        var encoder = model.Encoder;
        using var scope = NewDisposeScope();
        using (Autocast.Enter(ScalarType.BFloat16))
        {
            // Internal probes: what one block hands the next.
            var embedded = encoder.Embeddings.Forward(batch.InputIds, batch.TokenTypeIds);
            Assert.Equal(ScalarType.BFloat16, embedded.dtype);
            var (hidden, _) = encoder.Layers[0].Forward(embedded, mask: null, returnProbabilities: false);
            Assert.Equal(ScalarType.BFloat16, hidden.dtype);
            var (top, _) = encoder.Layers[1].Forward(hidden, mask: null, returnProbabilities: false);
            Assert.Equal(ScalarType.BFloat16, top.dtype);

            using var output = encoder.Forward(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds,
                new EncoderOutputOptions(OutputHiddenStates: true, OutputAttentions: true));
            Assert.Equal(ScalarType.Float32, output.LastHiddenState.dtype);
            Assert.Equal(ScalarType.Float32, output.PoolerOutput!.dtype);
            Assert.All(output.HiddenStates!, t => Assert.Equal(ScalarType.Float32, t.dtype));
            Assert.All(output.Attentions!, t => Assert.Equal(ScalarType.Float32, t.dtype));
            // The last hidden state is the bf16 state widened, so it holds bf16 values exactly (bf16 → float32 → bf16 is exact).
            using var roundTrip = output.LastHiddenState.to_type(ScalarType.BFloat16).to_type(ScalarType.Float32);
            Assert.True(TrainingKit.BitIdentical(output.LastHiddenState, roundTrip));
            Assert.True(TrainingKit.BitIdentical(output.HiddenStates![^1], output.LastHiddenState));
        }
    }

    [Fact]
    public void LayerNorm_takes_bf16_input_with_float32_weights_and_gives_float32_weight_gradients()
    {
        // libtorch's mixed-dtype layer_norm (aten/src/ATen/native/layer_norm.cpp, is_mixed_type): bf16 input, float32
        // gamma/beta, float32 statistics, bf16 output; the gradients of gamma/beta come back float32.
        using var scope = NewDisposeScope();
        var norm = nn.LayerNorm(16);
        using (no_grad())
        {
            norm.weight!.uniform_(0.5, 1.5);
            norm.bias!.uniform_(-0.5, 0.5);
        }
        var input = randn(3, 5, 16).to_type(ScalarType.BFloat16).requires_grad_();
        var output = norm.forward(input);
        Assert.Equal(ScalarType.BFloat16, output.dtype);

        // The same normalisation in float32 from the same bf16 values: the mixed path's output is its bf16 rounding.
        var reference = nn.functional.layer_norm(input.detach().to_type(ScalarType.Float32), [16], norm.weight, norm.bias);
        var difference = (output.detach().to_type(ScalarType.Float32) - reference).abs().max().item<float>();
        // One bf16 rounding of values up to ~4: at most half an ulp of 4 (2^-7 · 4 / 2 = 2^-6).
        Assert.True(difference <= 1.0f / 64, $"largest difference {difference}");

        output.to_type(ScalarType.Float32).square().sum().backward();
        Assert.Equal(ScalarType.Float32, norm.weight!.grad!.dtype);
        Assert.Equal(ScalarType.Float32, norm.bias!.grad!.dtype);
        Assert.Equal(ScalarType.BFloat16, input.grad!.dtype);
        Assert.True(norm.weight.grad.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Scopes_nest_and_float32_inside_turns_mixed_precision_off_bit_for_bit()
    {
        using var model = TrainingKit.Model(Config());
        model.eval();
        using var batch = Batch();
        using var _ = no_grad();
        using var plain = model.Forward(batch);

        Assert.Null(Autocast.ComputeType);
        ModelOutput inner;
        using (Autocast.Enter(ScalarType.BFloat16))
        {
            using (Autocast.Enter(ScalarType.Float32))
            {
                Assert.Null(Autocast.ComputeType);
                inner = model.Forward(batch);
            }
            Assert.Equal(ScalarType.BFloat16, Autocast.ComputeType);
        }
        Assert.Null(Autocast.ComputeType);

        using (inner)
        {
            Assert.True(TrainingKit.BitIdentical(plain.Logits!, inner.Logits!));
        }
    }

    [Fact]
    public void Enter_refuses_a_type_that_is_not_a_float_compute_type()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Autocast.Enter(ScalarType.Int64));
        Assert.Throws<ArgumentOutOfRangeException>(() => Autocast.Enter(ScalarType.Float64));
    }

    [Fact]
    public void Gradients_reach_the_float32_weights_through_the_casts()
    {
        using var model = TrainingKit.Model(Config());
        model.train();
        using var batch = Batch();
        using (var scope = NewDisposeScope())
        {
            using var output = Forward(model, batch);
            output.Loss!.backward();
        }

        foreach (var (name, parameter) in model.named_parameters())
        {
            Assert.Equal(ScalarType.Float32, parameter.dtype);
            using var grad = parameter.grad;
            Assert.True(grad is not null, $"{name} has no gradient");
            Assert.Equal(ScalarType.Float32, grad!.dtype);
            if (name.Contains("encoder.layer.", StringComparison.Ordinal) && name.EndsWith(".weight", StringComparison.Ordinal)
                && !name.Contains("LayerNorm", StringComparison.Ordinal))
            {
                using var norm = grad.norm();
                Assert.True(norm.item<float>() > 0, $"{name}: zero gradient");
            }
        }
    }

    [Fact]
    public void Bf16_gradients_are_close_to_float32_gradients()
    {
        using var reference = TrainingKit.Model(Config(), seed: 3);
        using var mixed = TrainingKit.Model(Config(), seed: 3);
        using var batch = Batch();
        foreach (var (model, bf16) in new[] { (reference, false), (mixed, true) })
        {
            model.train();
            using var scope = NewDisposeScope();
            using var output = bf16 ? Forward(model, batch) : model.Forward(batch);
            output.Loss!.backward();
        }
        var mixedParameters = mixed.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, parameter) in reference.named_parameters())
        {
            using var expected = parameter.grad!;
            using var actual = mixedParameters[name].grad!;
            using var expectedNorm = expected.norm();
            if (expectedNorm.item<float>() < 1e-6)
            {
                continue;
            }
            double error = RelativeError(actual, expected);
            Assert.True(error < 0.1, $"{name}: relative gradient error {error}");
        }
    }

    [Fact]
    public void Training_with_mixed_precision_lowers_the_loss_and_keeps_weights_and_optimizer_state_float32()
    {
        using var model = TrainingKit.Model(Config());
        using var folder = new TempFolder();
        {
            var options = TrainingKit.Quiet() with
            {
                LearningRate = 5e-3,
                MaxSteps = 12,
                BatchSize = 8,
                Shuffle = false,
                OutputDirectory = folder.Path,
                SaveEverySteps = 12,
            };
            var logs = new RecordingLoggerFactory();
            var examples = new InMemoryExamples(TrainingKit.Examples(8, seed: 7));

            var result = new Trainer(model, options, logs, mixedPrecision: true).Train(examples);

            Assert.Equal(12, result.Steps.Count);
            Assert.True(result.Steps[^1].Loss < result.Steps[0].Loss * 0.8,
                $"loss went from {result.Steps[0].Loss} to {result.Steps[^1].Loss}");
            Assert.All(result.Steps, s => Assert.False(s.Skipped));
            Assert.Contains(logs.Messages, m => m.Contains("Training in mixed precision", StringComparison.Ordinal));
            Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
            using var optimizer = SafeTensorsFile.Open(Path.Combine(result.LastCheckpoint!, "optimizer.safetensors"));
            Assert.NotEmpty(optimizer.Tensors);
            Assert.All(optimizer.Tensors, t => Assert.Equal(SafeTensorsDType.F32, t.DType));
        }
    }

    [Fact]
    public void Frozen_layers_keep_their_weights_under_mixed_precision_and_evaluation_matches_float32()
    {
        using var model = TrainingKit.Model(Config(dropout: 0.1));
        var before = TrainingKit.Snapshot(model);
        var examples = new InMemoryExamples(TrainingKit.Examples(12, seed: 4));
        var options = TrainingKit.Quiet() with { LearningRate = 5e-3, MaxSteps = 4, BatchSize = 4, FreezeLowestLayers = 1 };
        var mixed = new Trainer(model, options, mixedPrecision: true);

        var result = mixed.Train(examples);

        var after = TrainingKit.Snapshot(model);
        try
        {
            var changed = TrainingKit.Changed(before, after);
            Assert.DoesNotContain(changed, n => n.StartsWith("bert.embeddings.", StringComparison.Ordinal) || n.StartsWith("bert.encoder.layer.0.", StringComparison.Ordinal));
            Assert.Contains("bert.encoder.layer.1.intermediate.dense.weight", changed);
            Assert.All(result.Steps, s => Assert.True(double.IsFinite(s.Loss)));
        }
        finally
        {
            TrainingKit.Dispose(before);
            TrainingKit.Dispose(after);
        }
        var batches = BatchSource.FromExamples(examples, new BatchCollator(), 4);
        double mixedLoss = mixed.Evaluate(batches)["loss"];
        double plainLoss = new Trainer(model, options).Evaluate(batches)["loss"];
        Assert.Equal(plainLoss, mixedLoss, 2e-2 * Math.Abs(plainLoss));
        Assert.NotEqual(plainLoss, mixedLoss);
    }

    /// <summary>A sequence classifier built with the builder (the one way in), its weights from seed 1.</summary>
    private static TaskModel Build(bool useMixedPrecision, double dropout, RecordingLoggerFactory? logs = null)
    {
        var tokenizer = BertTokenizer.Load(Path.Combine(Fixtures.HfReference, "vocab8k.txt"));
        var builder = BertModelBuilder.FromConfig(Config(dropout) with { VocabSize = tokenizer.VocabularySize, MaxPositionEmbeddings = 64 }, tokenizer)
            .WithSequenceClassification(["L0", "L1", "L2"])
            .UseMixedPrecision(useMixedPrecision)
            .UseLoggerFactory(logs ?? new RecordingLoggerFactory());
        random.manual_seed(1);
        return builder.Build();
    }

    [Fact]
    public void UseMixedPrecision_reaches_the_trainer_whose_first_loss_is_close_to_float32_but_not_equal()
    {
        using var forced = ForceCpuSupport(null);
        var options = TrainingKit.Quiet() with { LearningRate = 1e-2, MaxSteps = 3, BatchSize = 4, Shuffle = false };
        var examples = new InMemoryExamples(TrainingKit.Examples(8));
        using var plain = Build(useMixedPrecision: false, dropout: 0.0);
        var logs = new RecordingLoggerFactory();
        using var mixed = Build(useMixedPrecision: true, dropout: 0.0, logs);

        var expected = plain.CreateTrainer(options).Train(examples);
        var actual = mixed.CreateTrainer(options).Train(examples);

        Assert.True(mixed.MixedPrecision);
        Assert.Contains(logs.Messages, m => m.Contains("Training in mixed precision", StringComparison.Ordinal));
        // Same weights and batch: the first step's loss differs only by bf16 rounding in the encoder.
        double first = expected.Steps[0].Loss;
        Assert.Equal(first, actual.Steps[0].Loss, 2e-2 * Math.Abs(first));
        Assert.NotEqual(first, actual.Steps[0].Loss);
    }

    [Fact]
    public void Without_cpu_support_UseMixedPrecision_logs_why_once_and_trains_exactly_as_in_float32()
    {
        using var forced = ForceCpuSupport("no bf16 here (test)");
        var options = TrainingKit.Quiet() with { LearningRate = 1e-2, MaxSteps = 3, BatchSize = 4 };
        var examples = new InMemoryExamples(TrainingKit.Examples(8));
        using var plain = Build(useMixedPrecision: false, dropout: 0.1);
        var logs = new RecordingLoggerFactory();
        using var fallback = Build(useMixedPrecision: true, dropout: 0.1, logs);

        var expected = plain.CreateTrainer(options).Train(examples);
        var actual = fallback.CreateTrainer(options).Train(examples, examples);

        Assert.False(fallback.MixedPrecision);
        Assert.Equal(expected.Steps.Select(s => s.Loss), actual.Steps.Select(s => s.Loss));
        var line = Assert.Single(logs.Messages, m => m.Contains("mixed precision", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("no bf16 here (test)", line, StringComparison.Ordinal);
        var before = TrainingKit.Snapshot(plain.Model);
        var after = TrainingKit.Snapshot(fallback.Model);
        try
        {
            Assert.Empty(TrainingKit.Changed(before, after));
        }
        finally
        {
            TrainingKit.Dispose(before);
            TrainingKit.Dispose(after);
        }
    }

    [Fact]
    public void Cpu_support_is_reported_with_a_reason()
    {
        bool supported = BFloat16Support.IsSupported(CPU, out var reason);

        Assert.False(string.IsNullOrWhiteSpace(reason));
        if (!supported)
        {
            Assert.Contains("bfloat16", reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_mixed_precision_predictor_scores_like_the_float32_one_and_reuses_its_weight_casts()
    {
        var tokenizer = BertTokenizer.Load(Path.Combine(Fixtures.HfReference, "vocab8k.txt"));
        using var model = TrainingKit.Model(Config() with { VocabSize = tokenizer.VocabularySize, MaxPositionEmbeddings = 64 });
        string[] texts = ["a short one", "a somewhat longer sentence about nothing much", "the end"];
        var reference = TorchPredictors.TextClassification(model, tokenizer).PredictBatch(texts, topK: null);
        var predictor = TorchPredictors.TextClassification(model, tokenizer, batchSize: 2, mixedPrecision: true);

        var first = predictor.PredictBatch(texts, topK: null);
        var second = predictor.PredictBatch(texts, topK: null);

        for (int i = 0; i < texts.Length; i++)
        {
            var expected = reference[i].ToDictionary(s => s.Label, s => s.Score);
            foreach (var score in first[i])
            {
                Assert.Equal(expected[score.Label], score.Score, 0.02);
            }
            Assert.Equal(first[i], second[i]);
        }
    }

    private static Restore ForceCpuSupport(string? problem)
    {
        var previous = BFloat16Support.CpuSupportOverride;
        BFloat16Support.CpuSupportOverride = () => problem;
        return new Restore(() => BFloat16Support.CpuSupportOverride = previous);
    }

    private sealed class Restore(Action restore) : IDisposable
    {
        public void Dispose() => restore();
    }
}
