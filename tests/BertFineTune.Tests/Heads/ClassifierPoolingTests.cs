using System.Text.Json.Nodes;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Tests.Training;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Heads;

/// <summary>
/// The classification heads' pooling choice (<c>classifier_pooling</c>): what the classifier reads, checked against a hand
/// computation from the encoder's outputs on the transformers fixtures, its round trip through config.json, and the rule
/// that padding never changes a text's result.
/// </summary>
public class ClassifierPoolingTests
{
    /// <summary>The fixture's <c>reference_io.safetensors</c> inputs (inputs with padding, written by transformers).</summary>
    private static (Tensor Ids, Tensor Mask, Tensor Types) ReferenceInputs(string fixture)
    {
        using var reference = SafeTensorsFile.Open(Path.Combine(Fixtures.Model(fixture), "reference_io.safetensors"));
        return (reference.ReadTensor("in.input_ids"), reference.ReadTensor("in.attention_mask"), reference.ReadTensor("in.token_type_ids"));
    }

    /// <summary>The fixture model with its config's <c>classifier_pooling</c> set to <paramref name="pooling"/>.</summary>
    private static BertForTask LoadWithPooling(string fixture, PoolingMode pooling) =>
        BertForTask.LoadFolder(Fixtures.Model(fixture), new FolderLoadOptions { Configure = c => c with { ClassifierPooling = pooling } });

    /// <summary>The fixture's classifier weight and bias, read from its checkpoint file (not from the model).</summary>
    private static (Tensor Weight, Tensor Bias) Classifier(string fixture)
    {
        using var weights = SafeTensorsFile.Open(Path.Combine(Fixtures.Model(fixture), "model.safetensors"));
        return (weights.ReadTensor("classifier.weight"), weights.ReadTensor("classifier.bias"));
    }

    /// <summary>
    /// The pooled vector of each row computed by hand: the positions whose attention mask is 1 are picked by index
    /// (<c>nonzero</c>), then their first vector (cls), their mean or their element-wise maximum is taken, the definitions
    /// of sentence-transformers' <c>Pooling</c> modes and of ModernBERT's <c>classifier_pooling</c>
    /// (<c>modeling_modernbert.py</c>, <c>ModernBertForSequenceClassification.forward</c>: <c>last_hidden_state[:, 0]</c>
    /// and the masked sum divided by the mask's sum).
    /// </summary>
    private static Tensor PoolByHand(Tensor hidden, Tensor mask, PoolingMode pooling)
    {
        var rows = new List<Tensor>();
        for (long i = 0; i < hidden.shape[0]; i++)
        {
            var kept = hidden[i].index_select(0, mask[i].nonzero().squeeze(-1));
            rows.Add(pooling switch
            {
                PoolingMode.Cls => hidden[i][0],
                PoolingMode.Mean => kept.mean([0]),
                PoolingMode.Max => kept.max(0).values,
                _ => throw new ArgumentOutOfRangeException(nameof(pooling)),
            });
        }
        return stack(rows);
    }

    public static TheoryData<string, PoolingMode> SequenceFixtures()
    {
        var data = new TheoryData<string, PoolingMode>();
        foreach (var fixture in new[] { "seq_cls", "seq_multilabel", "seq_regression" })
        {
            foreach (var pooling in new[] { PoolingMode.Cls, PoolingMode.Mean, PoolingMode.Max })
            {
                data.Add(fixture, pooling);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(SequenceFixtures))]
    public void Each_pooling_classifies_the_hand_pooled_encoder_output(string fixture, PoolingMode pooling)
    {
        using var model = LoadWithPooling(fixture, pooling);
        model.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (ids, mask, types) = ReferenceInputs(fixture);
        var (weight, bias) = Classifier(fixture);

        using var output = model.Forward(new BertBatch(ids, mask, types));
        using var encoded = model.Encoder.Forward(ids, mask, types);
        // Eval mode: the classifier's dropout is the identity, so logits = pooled · Wᵀ + b.
        var expected = PoolByHand(encoded.LastHiddenState, mask, pooling).matmul(weight.t()) + bias;

        Assert.Equal(pooling, Assert.IsType<SequenceClassificationHead>(model.Head).Pooling);
        Assert.False(model.Encoder.HasPooler);
        double difference = TrainingKit.MaxDifference(output.Logits!, expected);
        Assert.True(difference < 1e-6, $"{fixture} {pooling}: logits differ from the hand computation by {difference}");
    }

    [Theory]
    [InlineData(PoolingMode.Cls)]
    [InlineData(PoolingMode.Mean)]
    [InlineData(PoolingMode.Max)]
    public void Multiple_choice_scores_each_choice_from_its_hand_pooled_encoder_output(PoolingMode pooling)
    {
        const string fixture = "multiple_choice";
        using var model = LoadWithPooling(fixture, pooling);
        model.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (ids, mask, types) = ReferenceInputs(fixture);
        var (weight, bias) = Classifier(fixture);
        long choices = ids.shape[1];

        using var output = model.Forward(new BertBatch(ids, mask, types));
        // transformers' BertForMultipleChoice flattens [batch, choices, seq] to [batch × choices, seq] and views the
        // scores back as [batch, choices].
        var flatMask = mask.view(-1, mask.shape[^1]);
        using var encoded = model.Encoder.Forward(ids.view(-1, ids.shape[^1]), flatMask, types.view(-1, types.shape[^1]));
        var expected = (PoolByHand(encoded.LastHiddenState, flatMask, pooling).matmul(weight.t()) + bias).view(-1, choices);

        Assert.Equal(pooling, Assert.IsType<MultipleChoiceHead>(model.Head).Pooling);
        double difference = TrainingKit.MaxDifference(output.Logits!, expected);
        Assert.True(difference < 1e-6, $"{pooling}: logits differ from the hand computation by {difference}");
    }

    [Theory]
    [InlineData("seq_cls")]
    [InlineData("multiple_choice")]
    public void The_default_pooling_is_the_pooler_and_gives_transformers_logits(string fixture)
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model(fixture));
        model.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (ids, mask, types) = ReferenceInputs(fixture);
        using var reference = SafeTensorsFile.Open(Path.Combine(Fixtures.Model(fixture), "reference_io.safetensors"));

        using var output = model.Forward(new BertBatch(ids, mask, types));

        Assert.Equal(PoolingMode.Pooler, model.Config.ClassifierPooling);
        Assert.True(model.Encoder.HasPooler);
        Assert.True(model.LoadReport!.IsExactMatch, model.LoadReport.ToString());
        // out.logits was written by transformers' BertFor… (the pooler output through the classifier).
        Assert.True(TrainingKit.MaxDifference(output.Logits!, reference.ReadTensor("out.logits")) < 1e-5);
    }

    [Theory]
    [InlineData(PoolingMode.Mean)]
    [InlineData(PoolingMode.Max)]
    public void Padding_does_not_change_mean_or_max(PoolingMode pooling)
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls"))
            .WithSequenceClassification(["negative", "neutral", "positive"], pooling).Build();
        model.Model.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        const string text = "a quiet film";
        var alone = model.Tokenizer.Encode(text);
        var longer = model.Tokenizer.Encode("a long and winding story that takes its time to say very little about anything");
        Assert.True(longer.Ids.Count > alone.Ids.Count + 5);

        Tensor Logits(params EncodedText[] texts)
        {
            int length = texts.Max(t => t.Ids.Count);
            var ids = zeros(texts.Length, length, ScalarType.Int64);
            var mask = zeros(texts.Length, length, ScalarType.Int64);
            for (int i = 0; i < texts.Length; i++)
            {
                ids[i].narrow(0, 0, texts[i].Ids.Count).copy_(tensor(texts[i].Ids.Select(x => (long)x).ToArray()));
                mask[i].narrow(0, 0, texts[i].Ids.Count).fill_(1);
            }
            using var output = model.Model.Forward(new BertBatch(ids, mask));
            return output.Logits!.clone();
        }

        var single = Logits(alone)[0];
        var padded = Logits(longer, alone)[1];

        // The padded row's hidden states come from a longer matmul, so they agree to float32 rounding, not bit for bit;
        // counting the padding positions in would move the result by far more.
        double difference = TrainingKit.MaxDifference(single, padded);
        Assert.True(difference < 1e-5, $"{pooling}: padding moved the logits by {difference}");
    }

    [Theory]
    [InlineData(PoolingMode.Cls)]
    [InlineData(PoolingMode.Mean)]
    [InlineData(PoolingMode.Max)]
    public void Save_and_reload_restore_the_pooling_and_give_identical_logits(PoolingMode pooling)
    {
        using var temp = new TempFolder();
        var logs = new RecordingLoggerFactory();
        using var built = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls"))
            .WithSequenceClassification(["negative", "neutral", "positive"], pooling).UseLoggerFactory(logs).Build();
        built.Model.eval();
        var (ids, mask, types) = ReferenceInputs("seq_cls");
        using var batch = new BertBatch(ids, mask, types, ownsTensors: true);
        using var _ = no_grad();
        using var before = built.Model.Forward(batch);

        built.Save(temp.Path);

        var config = JsonNode.Parse(File.ReadAllText(temp.File("config.json")))!.AsObject();
        Assert.Equal(pooling.ToString().ToLowerInvariant(), config["classifier_pooling"]!.GetValue<string>());
        Assert.Equal("BertForSequenceClassification", config["architectures"]![0]!.GetValue<string>());
        using (var weights = SafeTensorsFile.Open(temp.File("model.safetensors")))
        {
            Assert.DoesNotContain(weights.Tensors, t => t.Name.StartsWith("bert.pooler.", StringComparison.Ordinal));
        }
        var warning = Assert.Single(logs.Messages, m => m.Contains("classifier_pooling", StringComparison.Ordinal));
        Assert.Contains("transformers", warning, StringComparison.Ordinal);

        // Loaded as the folder says (its architectures), and through a head step that leaves the pooling to the checkpoint.
        using var reloaded = BertModelBuilder.FromPretrained(temp.Path).Build();
        using var continued = BertModelBuilder.FromPretrained(temp.Path).WithSequenceClassification(["negative", "neutral", "positive"]).Build();
        foreach (var model in new[] { reloaded, continued })
        {
            model.Model.eval();
            Assert.Equal(pooling, Assert.IsType<SequenceClassificationHead>(model.Model.Head).Pooling);
            Assert.True(model.Model.LoadReport!.IsExactMatch, model.Model.LoadReport.ToString());
            using var after = model.Model.Forward(batch);
            Assert.True(TrainingKit.BitIdentical(before.Logits!, after.Logits!));
        }
    }

    [Fact]
    public void Multiple_choice_saves_and_restores_its_pooling()
    {
        using var temp = new TempFolder();
        using var built = BertModelBuilder.FromPretrained(Fixtures.Model("multiple_choice")).WithMultipleChoice(PoolingMode.Mean).Build();
        built.Model.eval();
        var (ids, mask, types) = ReferenceInputs("multiple_choice");
        using var batch = new BertBatch(ids, mask, types, ownsTensors: true);
        using var _ = no_grad();
        using var before = built.Model.Forward(batch);

        built.Save(temp.Path);
        using var reloaded = BertModelBuilder.FromPretrained(temp.Path).Build();
        reloaded.Model.eval();
        using var after = reloaded.Model.Forward(batch);

        Assert.Equal("mean", JsonNode.Parse(File.ReadAllText(temp.File("config.json")))!["classifier_pooling"]!.GetValue<string>());
        Assert.Equal(PoolingMode.Mean, Assert.IsType<MultipleChoiceHead>(reloaded.Model.Head).Pooling);
        Assert.True(TrainingKit.BitIdentical(before.Logits!, after.Logits!));
    }

    [Fact]
    public void The_pooler_default_writes_no_field_and_logs_no_warning()
    {
        using var temp = new TempFolder();
        var logs = new RecordingLoggerFactory();
        using var built = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).UseLoggerFactory(logs).Build();

        built.Save(temp.Path);

        Assert.False(JsonNode.Parse(File.ReadAllText(temp.File("config.json")))!.AsObject().ContainsKey("classifier_pooling"));
        Assert.DoesNotContain(logs.Messages, m => m.Contains("classifier_pooling", StringComparison.Ordinal));
        using var weights = SafeTensorsFile.Open(temp.File("model.safetensors"));
        Assert.Contains(weights.Tensors, t => t.Name == "bert.pooler.dense.weight");
    }

    [Fact]
    public void A_checkpoint_with_a_pooler_loads_under_another_pooling_and_reports_the_pooler_unused()
    {
        using var model = LoadWithPooling("seq_cls", PoolingMode.Mean);

        Assert.False(model.Encoder.HasPooler);
        Assert.Equal(["bert.pooler.dense.bias", "bert.pooler.dense.weight"], model.LoadReport!.UnexpectedKeys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Empty(model.LoadReport.MissingKeys);
        Assert.DoesNotContain(model.state_dict().Keys, k => k.StartsWith("bert.pooler.", StringComparison.Ordinal));
    }

    [Fact]
    public void Choosing_the_pooler_for_a_folder_saved_without_one_initialises_it_and_reports_it_missing()
    {
        using var temp = new TempFolder();
        using (var mean = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithSequenceClassification(["negative", "neutral", "positive"], PoolingMode.Mean).Build())
        {
            mean.Save(temp.Path);
        }

        using var pooler = BertModelBuilder.FromPretrained(temp.Path).WithSequenceClassification(["negative", "neutral", "positive"], PoolingMode.Pooler).Build();

        Assert.True(pooler.Model.Encoder.HasPooler);
        Assert.Equal(["bert.pooler.dense.bias", "bert.pooler.dense.weight"], pooler.Model.LoadReport!.MissingKeys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(PoolingMode.Pooler, pooler.Model.Config.ClassifierPooling);
    }

    [Fact]
    public void Precomputed_encoder_outputs_give_the_same_logits_for_every_pooling()
    {
        foreach (var pooling in Enum.GetValues<PoolingMode>())
        {
            using var model = LoadWithPooling("seq_cls", pooling);
            model.eval();
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var (ids, mask, types) = ReferenceInputs("seq_cls");
            using var batch = new BertBatch(ids, mask, types);
            using var expected = model.Forward(batch);
            using var features = model.Encoder.Forward(ids, mask, types);
            using var precomputed = batch.WithEncoderOutput(features);

            using var actual = model.Forward(precomputed);

            Assert.True(TrainingKit.BitIdentical(expected.Logits!, actual.Logits!), pooling.ToString());
        }
    }

    [Fact]
    public void The_builder_refuses_an_undefined_pooling()
    {
        var builder = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls"));

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => builder.WithSequenceClassification(["a", "b"], (PoolingMode)7));

        Assert.Equal("pooling", error.ParamName);
        Assert.Contains("Pooler, Cls, Mean, Max", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sentence_embeddings_with_the_pooler_are_the_bare_encoders_pooler_output()
    {
        using var embedder = BertForTask.LoadFolder(Fixtures.Model("bert_model"), new FolderLoadOptions { Head = _ => new SentenceEmbeddingHead(PoolingMode.Pooler) });
        using var bare = BertForTask.LoadFolder(Fixtures.Model("bert_model"));
        embedder.eval();
        bare.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = tensor(new long[,] { { 2, 15, 27, 3, 0 }, { 2, 40, 41, 42, 3 } });
        var mask = tensor(new long[,] { { 1, 1, 1, 1, 0 }, { 1, 1, 1, 1, 1 } });

        using var embeddings = embedder.Forward(new BertBatch(ids, mask));
        using var features = bare.Forward(new BertBatch(ids, mask));

        Assert.True(TrainingKit.BitIdentical(features["pooler_output"], embeddings["embeddings"]));
    }
}
