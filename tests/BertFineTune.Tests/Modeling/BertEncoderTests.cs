using BertFineTune.Modeling;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Modeling;

public class BertEncoderTests
{
    private static (Tensor Ids, Tensor Mask) Inputs() =>
        (tensor(new long[,] { { 2, 11, 17, 23, 0, 0 }, { 3, 5, 7, 9, 13, 1 } }),
         tensor(new long[,] { { 1, 1, 1, 1, 0, 0 }, { 1, 1, 1, 1, 1, 1 } }));

    [Fact]
    public void Parameter_names_are_the_hugging_face_keys()
    {
        using var encoder = new BertEncoder(TinyModels.Config());

        var keys = encoder.state_dict().Keys.ToHashSet();

        foreach (var key in new[]
        {
            "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight", "embeddings.token_type_embeddings.weight",
            "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
            "encoder.layer.1.attention.self.query.weight", "encoder.layer.1.attention.self.key.bias",
            "encoder.layer.1.attention.self.value.weight", "encoder.layer.1.attention.output.dense.weight",
            "encoder.layer.1.attention.output.LayerNorm.bias", "encoder.layer.1.intermediate.dense.weight",
            "encoder.layer.1.output.dense.bias", "encoder.layer.1.output.LayerNorm.weight",
            "pooler.dense.weight", "pooler.dense.bias",
        })
        {
            Assert.Contains(key, keys);
        }
        // 5 embedding tensors + 16 per layer × 2 layers + 2 pooler.
        Assert.Equal(5 + 16 * 2 + 2, keys.Count);
    }

    [Fact]
    public void Encoder_without_pooler_has_no_pooler_weights_or_output()
    {
        using var encoder = new BertEncoder(TinyModels.Config(), addPoolingLayer: false);
        encoder.eval();
        using var scope = NewDisposeScope();
        var (ids, mask) = Inputs();

        using var output = encoder.Forward(ids, mask);

        Assert.DoesNotContain(encoder.state_dict().Keys, k => k.StartsWith("pooler.", StringComparison.Ordinal));
        Assert.Null(output.PoolerOutput);
    }

    [Fact]
    public void Hidden_states_and_attentions_are_returned_only_when_requested()
    {
        using var encoder = new BertEncoder(TinyModels.Config());
        encoder.eval();
        using var scope = NewDisposeScope();
        var (ids, mask) = Inputs();

        using var plain = encoder.Forward(ids, mask);
        using var full = encoder.Forward(ids, mask, options: new EncoderOutputOptions(OutputHiddenStates: true, OutputAttentions: true));

        Assert.Null(plain.HiddenStates);
        Assert.Null(plain.Attentions);
        Assert.Equal(3, full.HiddenStates!.Count);
        Assert.Equal(2, full.Attentions!.Count);
        Assert.Equal(new long[] { 2, 2, 6, 6 }, full.Attentions[0].shape);
        Assert.True(full.HiddenStates[^1].eq(full.LastHiddenState).all().item<bool>());
    }

    [Fact]
    public void Attention_probabilities_give_padding_zero_weight_and_sum_to_one()
    {
        using var encoder = new BertEncoder(TinyModels.Config());
        encoder.eval();
        using var scope = NewDisposeScope();
        var (ids, mask) = Inputs();

        using var output = encoder.Forward(ids, mask, options: new EncoderOutputOptions(OutputAttentions: true));

        var first = output.Attentions![0];
        Assert.Equal(0.0, first[0, .., .., 4..].abs().max().item<float>(), 10);
        Assert.True(first.sum(-1).sub(1).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void Explicit_and_fused_attention_paths_agree()
    {
        using var encoder = new BertEncoder(TinyModels.Config());
        encoder.eval();
        using var scope = NewDisposeScope();
        var (ids, mask) = Inputs();

        using var fused = encoder.Forward(ids, mask);
        using var explicitPath = encoder.Forward(ids, mask, options: new EncoderOutputOptions(OutputAttentions: true));

        Assert.True((fused.LastHiddenState - explicitPath.LastHiddenState).abs().max().item<float>() < 1e-5);
    }

    [Fact]
    public void Dropout_acts_in_training_mode_only()
    {
        var config = TinyModels.Config() with { HiddenDropoutProb = 0.5, AttentionProbsDropoutProb = 0.5 };
        using var encoder = new BertEncoder(config);
        using var scope = NewDisposeScope();
        var (ids, mask) = Inputs();

        encoder.eval();
        using var evalA = encoder.Forward(ids, mask);
        using var evalB = encoder.Forward(ids, mask);
        encoder.train();
        using var trainA = encoder.Forward(ids, mask);
        using var trainB = encoder.Forward(ids, mask);

        Assert.True(evalA.LastHiddenState.eq(evalB.LastHiddenState).all().item<bool>());
        Assert.False(trainA.LastHiddenState.eq(trainB.LastHiddenState).all().item<bool>());
    }

    [Theory]
    [InlineData("gelu")]
    [InlineData("gelu_new")]
    [InlineData("gelu_pytorch_tanh")]
    [InlineData("relu")]
    public void Activation_named_in_config_is_used(string activation)
    {
        using var scope = NewDisposeScope();
        var x = linspace(-3, 3, 13);
        var expected = activation switch
        {
            // Hand formulas: exact GELU with erf, the tanh approximation, and ReLU.
            "gelu" => x * 0.5 * (1 + special.erf(x / Math.Sqrt(2))),
            "relu" => x.clamp_min(0),
            _ => 0.5 * x * (1 + (Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))).tanh()),
        };

        var actual = Activations.Get(activation)(x);

        Assert.True((actual - expected).abs().max().item<float>() < 1e-6);
    }

    [Fact]
    public void Exact_and_tanh_gelu_differ()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { -1.5f, 1.0f });

        var difference = (Activations.Get("gelu")(x) - Activations.Get("gelu_new")(x)).abs().max().item<float>();

        Assert.True(difference > 1e-5);
    }

    [Fact]
    public void Input_ids_outside_the_vocabulary_are_refused_with_the_limit()
    {
        using var encoder = new BertEncoder(TinyModels.Config());
        using var scope = NewDisposeScope();

        var error = Assert.Throws<ArgumentException>(() => encoder.Forward(tensor(new long[,] { { 2, 50 } })));

        Assert.Contains("input_ids", error.Message, StringComparison.Ordinal);
        Assert.Contains("vocab_size is 50", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sequences_longer_than_the_position_table_are_refused()
    {
        using var encoder = new BertEncoder(TinyModels.Config());
        using var scope = NewDisposeScope();

        var error = Assert.Throws<ArgumentException>(() => encoder.Forward(ones(1, 33, dtype: ScalarType.Int64)));

        Assert.Contains("max_position_embeddings 32", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mask_with_another_shape_than_the_ids_is_refused()
    {
        using var encoder = new BertEncoder(TinyModels.Config());
        using var scope = NewDisposeScope();

        var error = Assert.Throws<ArgumentException>(() => encoder.Forward(ones(2, 4, dtype: ScalarType.Int64), ones(2, 5, dtype: ScalarType.Int64)));

        Assert.Contains("attention_mask", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Layer_norms_use_the_config_epsilon_not_torchsharp_default()
    {
        // A row with variance ~3e-9: BERT's eps 1e-12 normalises it to unit variance, while TorchSharp's default 1e-5
        // would shrink it ~50-fold. Compared with a LayerNorm computed by hand.
        var config = TinyModels.Config() with { LayerNormEps = 1e-12 };
        using var embeddings = new BertEmbeddings(config);
        embeddings.eval();
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            foreach (var (name, p) in embeddings.named_parameters())
            {
                if (name.EndsWith("_embeddings.weight", StringComparison.Ordinal))
                {
                    p.copy_(zeros_like(p));
                }
            }
            // Row 1 of the word table: values with variance ~1e-8, which eps 1e-5 would flatten.
            embeddings.named_parameters().First(p => p.name == "word_embeddings.weight").parameter[1]
                .copy_(linspace(-1e-4, 1e-4, config.HiddenSize));
        }

        var output = embeddings.Forward(tensor(new long[,] { { 1 } }), null)[0, 0];

        var row = linspace(-1e-4, 1e-4, config.HiddenSize, dtype: ScalarType.Float64);
        var centered = row - row.mean();
        var expected = centered / (centered.pow(2).mean() + 1e-12).sqrt();
        var diff = (output.to_type(ScalarType.Float64) - expected).abs().max().item<double>();
        Assert.True(diff < 1e-3, $"max diff {diff}; output {string.Join(",", output.data<float>().Take(4))} expected {string.Join(",", expected.data<double>().Take(4))}");
    }
}
