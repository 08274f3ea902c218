using System.Text.Json;
using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints;

public class StateDictLoaderTests
{
    private static readonly string[] ClassifierKeys = ["classifier.bias", "classifier.weight"];

    private static string WeightsOf(string folder) => Path.Combine(folder, WeightsFiles.SafeWeightsName);

    /// <summary>torch.equal: same shape, dtype and every element.</summary>
    private static bool Same(Tensor expected, Tensor actual)
    {
        if (expected.dtype != actual.dtype || !expected.shape.SequenceEqual(actual.shape))
        {
            return false;
        }
        using var scope = NewDisposeScope();
        return expected.eq(actual).all().item<bool>();
    }

    private static List<string> KeysOf(string weightsFile)
    {
        using var file = SafeTensorsFile.Open(weightsFile);
        return file.Tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal).ToList();
    }

    /// <summary>A tiny model whose every parameter is random (no zero biases or unit LayerNorm weights to hide a skipped copy).</summary>
    private static BertForTask RandomModel(Func<BertConfig, TaskHead> head, BertConfig? config = null)
    {
        config ??= TinyModels.Config();
        manual_seed(1234);
        var model = new BertForTask(config, head(config));
        using (no_grad())
        {
            foreach (var (_, parameter) in model.named_parameters())
            {
                parameter.normal_(0, 0.5);
            }
        }
        model.eval();
        return model;
    }

    /// <summary>Rewrites a folder's model.safetensors: <paramref name="rename"/> maps each key to its new name (null drops it), then <paramref name="extra"/> is added.</summary>
    private static void RewriteWeights(string folder, Func<string, string?> rename, Func<SafeTensorsFile, IEnumerable<(string Name, Tensor Value)>>? extra = null)
    {
        using var scope = NewDisposeScope();
        var tensors = new List<KeyValuePair<string, Tensor>>();
        using (var file = SafeTensorsFile.Open(WeightsOf(folder)))
        {
            foreach (var info in file.Tensors)
            {
                if (rename(info.Name) is { } name)
                {
                    tensors.Add(new(name, file.ReadTensor(info.Name)));
                }
            }
            foreach (var (name, value) in extra?.Invoke(file) ?? [])
            {
                tensors.Add(new(name, value));
            }
        }
        SafeTensorsWriter.Write(WeightsOf(folder), tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>Asserts every tensor of <paramref name="weightsFile"/> equals the model's parameter named <paramref name="toModelKey"/>(file key).</summary>
    private static void AssertParametersEqualFile(BertForTask model, string weightsFile, Func<string, string?> toModelKey)
    {
        var state = model.state_dict();
        using var file = SafeTensorsFile.Open(weightsFile);
        int compared = 0;
        foreach (var info in file.Tensors)
        {
            if (toModelKey(info.Name) is not { } key)
            {
                continue;
            }
            using var expected = file.ReadTensor(info.Name, ScalarType.Float32);
            Assert.True(state.ContainsKey(key), $"the model has no parameter {key}");
            Assert.True(Same(expected, state[key]), $"{key} differs from the file's {info.Name}");
            compared++;
        }
        Assert.True(compared > 0, "no tensor was compared");
    }

    private static BertBatch TinyBatch()
    {
        var ids = tensor(new long[,] { { 2, 17, 5, 33, 49, 3 }, { 2, 8, 41, 3, 0, 0 } });
        var mask = tensor(new long[,] { { 1, 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 0, 0 } });
        var types = tensor(new long[,] { { 0, 0, 0, 1, 1, 1 }, { 0, 0, 1, 1, 0, 0 } });
        return new BertBatch(ids, mask, types);
    }

    private static BertBatch TinyChoiceBatch()
    {
        var ids = tensor(new long[] { 2, 17, 5, 3, 2, 8, 41, 3, 2, 11, 12, 3, 2, 30, 31, 3, 2, 44, 0, 0, 2, 9, 9, 3 }).view(2, 3, 4);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1 }).view(2, 3, 4);
        return new BertBatch(ids, mask);
    }

    // ---- bare encoder checkpoint into a task model ----------------------------------------------------------------

    private static readonly FolderLoadOptions AsSequenceClassifier = new() { Head = c => new SequenceClassificationHead(c) };

    [Fact]
    public void A_bare_encoder_checkpoint_loads_every_encoder_weight_into_a_sequence_classifier()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("bert_model"), AsSequenceClassifier);

        // bert_model's keys have no "bert." prefix: each fills the model's "bert." + key.
        AssertParametersEqualFile(model, WeightsOf(Fixtures.Model("bert_model")), key => "bert." + key);
    }

    [Fact]
    public void A_bare_encoder_checkpoint_in_a_sequence_classifier_reports_exactly_the_classifier_as_missing()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("bert_model"), AsSequenceClassifier);

        Assert.Equal(ClassifierKeys, model.LoadReport!.MissingKeys);
    }

    [Fact]
    public void A_bare_encoder_checkpoint_in_a_sequence_classifier_has_no_unexpected_keys()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("bert_model"), AsSequenceClassifier);

        Assert.Empty(model.LoadReport!.UnexpectedKeys);
        Assert.Empty(model.LoadReport.MismatchedKeys);
        Assert.False(model.LoadReport.IsExactMatch);
    }

    [Fact]
    public void The_load_report_of_a_partial_load_names_the_new_keys_in_transformers_words()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("bert_model"), AsSequenceClassifier);

        var text = model.LoadReport!.ToString();

        Assert.Contains("newly initialized", text, StringComparison.Ordinal);
        Assert.Contains("classifier.weight", text, StringComparison.Ordinal);
    }

    // ---- head checkpoint into the bare encoder ----------------------------------------------------------------

    private static readonly FolderLoadOptions AsBareEncoder = new() { Head = _ => new FeatureExtractionHead() };

    [Fact]
    public void A_head_checkpoint_loads_every_encoder_weight_into_the_bare_encoder()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("seq_cls"), AsBareEncoder);

        AssertParametersEqualFile(model, WeightsOf(Fixtures.Model("seq_cls")),
            key => key.StartsWith("bert.", StringComparison.Ordinal) ? key : null);
    }

    [Fact]
    public void A_head_checkpoint_in_the_bare_encoder_reports_the_classifier_as_unexpected()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("seq_cls"), AsBareEncoder);

        Assert.Equal(ClassifierKeys, model.LoadReport!.UnexpectedKeys);
        Assert.Empty(model.LoadReport.MissingKeys);
    }

    [Fact]
    public void A_head_checkpoint_loaded_into_an_encoder_state_dict_has_its_bert_prefix_stripped()
    {
        var config = BertConfig.Load(Path.Combine(Fixtures.Model("seq_cls"), "config.json"));
        using var encoder = new global::BertFineTune.Modeling.BertEncoder(config);
        using var checkpoint = SafeTensorsCheckpoint.OpenFolder(Fixtures.Model("seq_cls"));
        var state = encoder.state_dict();

        var report = StateDictLoader.Load(checkpoint, state);

        Assert.Empty(report.MissingKeys);
        Assert.Equal(ClassifierKeys, report.UnexpectedKeys);
        using var expected = checkpoint.ReadTensor("bert.embeddings.word_embeddings.weight");
        Assert.True(Same(expected, state["embeddings.word_embeddings.weight"]));
    }

    [Fact]
    public void A_bare_encoder_checkpoint_loads_exactly_into_the_bare_encoder()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("bert_model"));

        Assert.IsType<FeatureExtractionHead>(model.Head);
        Assert.True(model.LoadReport!.IsExactMatch, model.LoadReport.ToString());
    }

    // ---- legacy names and buffers -----------------------------------------------------------------------------

    [Fact]
    public void Legacy_LayerNorm_gamma_and_beta_load_into_weight_and_bias()
    {
        using var folder = new TempFolder();
        using var original = RandomModel(c => new SequenceClassificationHead(c));
        original.Save(folder.Path);
        RewriteWeights(folder.Path, key => key.Contains("LayerNorm.", StringComparison.Ordinal)
            ? key.Replace("LayerNorm.weight", "LayerNorm.gamma", StringComparison.Ordinal).Replace("LayerNorm.bias", "LayerNorm.beta", StringComparison.Ordinal)
            : key);
        Assert.Contains("bert.embeddings.LayerNorm.gamma", KeysOf(WeightsOf(folder.Path)));

        using var loaded = BertForTask.LoadFolder(folder.Path);

        var expected = original.state_dict();
        foreach (var (name, value) in loaded.state_dict())
        {
            Assert.True(Same(expected[name], value), $"{name} differs");
        }
    }

    [Fact]
    public void Legacy_LayerNorm_gamma_and_beta_leave_no_key_missing_or_unexpected()
    {
        using var folder = new TempFolder();
        using (var original = RandomModel(c => new SequenceClassificationHead(c)))
        {
            original.Save(folder.Path);
        }
        RewriteWeights(folder.Path, key => key.EndsWith("LayerNorm.weight", StringComparison.Ordinal)
            ? key[..^"weight".Length] + "gamma"
            : key.EndsWith("LayerNorm.bias", StringComparison.Ordinal) ? key[..^"bias".Length] + "beta" : key);

        using var loaded = BertForTask.LoadFolder(folder.Path);

        Assert.True(loaded.LoadReport!.IsExactMatch, loaded.LoadReport.ToString());
    }

    [Fact]
    public void A_position_ids_buffer_in_the_checkpoint_is_ignored_not_unexpected()
    {
        using var folder = new TempFolder();
        using (var original = RandomModel(c => new SequenceClassificationHead(c)))
        {
            original.Save(folder.Path);
        }
        RewriteWeights(folder.Path, key => key, _ => [("bert.embeddings.position_ids", arange(32L).unsqueeze(0))]);

        using var loaded = BertForTask.LoadFolder(folder.Path);

        Assert.Equal(["bert.embeddings.position_ids"], loaded.LoadReport!.IgnoredKeys);
        Assert.Empty(loaded.LoadReport.UnexpectedKeys);
        Assert.True(loaded.LoadReport.IsExactMatch);
    }

    [Fact]
    public void A_position_ids_buffer_of_a_bare_encoder_checkpoint_is_ignored_too()
    {
        using var folder = new TempFolder();
        using (var original = RandomModel(_ => new FeatureExtractionHead()))
        {
            original.Save(folder.Path);
        }
        RewriteWeights(folder.Path, key => key, _ => [("embeddings.position_ids", arange(32L).unsqueeze(0))]);

        using var loaded = BertForTask.LoadFolder(folder.Path, AsSequenceClassifier);

        Assert.Equal(["embeddings.position_ids"], loaded.LoadReport!.IgnoredKeys);
        Assert.Empty(loaded.LoadReport.UnexpectedKeys);
    }

    // ---- masked LM and tied weights ---------------------------------------------------------------------------

    [Fact]
    public void The_mlm_fixture_without_a_decoder_weight_loads_with_no_missing_or_unexpected_keys()
    {
        Assert.DoesNotContain("cls.predictions.decoder.weight", KeysOf(WeightsOf(Fixtures.Model("mlm"))));

        using var model = BertForTask.LoadFolder(Fixtures.Model("mlm"));

        Assert.IsType<MaskedLanguageModelHead>(model.Head);
        Assert.Empty(model.LoadReport!.MissingKeys);
        Assert.Empty(model.LoadReport.UnexpectedKeys);
    }

    [Fact]
    public void A_tied_masked_lm_has_no_decoder_weight_of_its_own()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("mlm"));

        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains("decoder", StringComparison.Ordinal));
    }

    [Fact]
    public void The_loaded_mlm_logits_use_the_word_embeddings_and_match_the_reference()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("mlm"));
        model.eval();
        using var reference = SafeTensorsFile.Open(Path.Combine(Fixtures.Model("mlm"), "reference_io.safetensors"));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var batch = new BertBatch(reference.ReadTensor("in.input_ids"), reference.ReadTensor("in.attention_mask"),
            reference.ReadTensor("in.token_type_ids"));

        using var output = model.Forward(batch);

        var expected = reference.ReadTensor("out.logits_first512");
        var actual = output.Logits!.narrow(-1, 0, 512);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5), $"max difference {(actual - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void Changing_the_word_embeddings_changes_the_tied_mlm_logits()
    {
        using var model = RandomModel(c => new MaskedLanguageModelHead(c));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var batch = TinyBatch();
        var before = model.Forward(batch).Logits!.clone();

        // Zeroing the word-embedding row of token 7 changes every position's score for token 7 when the decoder is tied.
        model.state_dict()["bert.embeddings.word_embeddings.weight"][7].zero_();
        var after = model.Forward(batch).Logits!;

        Assert.False(Same(before.select(-1, 7), after.select(-1, 7)));
    }

    [Fact]
    public void A_legacy_decoder_bias_fills_the_prediction_bias()
    {
        using var folder = new TempFolder();
        using var original = RandomModel(c => new MaskedLanguageModelHead(c));
        original.Save(folder.Path);
        RewriteWeights(folder.Path, key => key == "cls.predictions.bias" ? "cls.predictions.decoder.bias" : key);
        Assert.DoesNotContain("cls.predictions.bias", KeysOf(WeightsOf(folder.Path)));

        using var loaded = BertForTask.LoadFolder(folder.Path);

        Assert.True(Same(original.state_dict()["cls.predictions.bias"], loaded.state_dict()["cls.predictions.bias"]));
    }

    [Fact]
    public void A_legacy_decoder_bias_leaves_no_key_missing_or_unexpected()
    {
        using var folder = new TempFolder();
        using (var original = RandomModel(c => new MaskedLanguageModelHead(c)))
        {
            original.Save(folder.Path);
        }
        RewriteWeights(folder.Path, key => key == "cls.predictions.bias" ? "cls.predictions.decoder.bias" : key);

        using var loaded = BertForTask.LoadFolder(folder.Path);

        Assert.True(loaded.LoadReport!.IsExactMatch, loaded.LoadReport.ToString());
    }

    [Fact]
    public void Tied_decoder_copies_beside_the_real_bias_are_ignored_not_unexpected()
    {
        using var folder = new TempFolder();
        using var original = RandomModel(c => new MaskedLanguageModelHead(c));
        original.Save(folder.Path);
        // Older transformers versions saved the tied decoder weight and the decoder bias as copies.
        RewriteWeights(folder.Path, key => key, file =>
        [
            ("cls.predictions.decoder.weight", file.ReadTensor("bert.embeddings.word_embeddings.weight")),
            ("cls.predictions.decoder.bias", zeros(50)),
        ]);

        using var loaded = BertForTask.LoadFolder(folder.Path);

        Assert.Equal(["cls.predictions.decoder.bias", "cls.predictions.decoder.weight"], loaded.LoadReport!.IgnoredKeys.Order(StringComparer.Ordinal));
        Assert.Empty(loaded.LoadReport.UnexpectedKeys);
        // The real bias wins over the zero copy.
        Assert.True(Same(original.state_dict()["cls.predictions.bias"], loaded.state_dict()["cls.predictions.bias"]));
    }

    // ---- strict mode ----------------------------------------------------------------------------------------------

    [Fact]
    public void Strict_loading_with_a_missing_key_throws_with_the_key_in_the_report()
    {
        var error = Assert.Throws<CheckpointMismatchException>(() => BertForTask.LoadFolder(
            Fixtures.Model("bert_model"), AsSequenceClassifier with { Strict = true }));

        Assert.Equal(ClassifierKeys, error.Report.MissingKeys);
        Assert.Empty(error.Report.UnexpectedKeys);
    }

    [Fact]
    public void Strict_loading_with_a_missing_key_names_it_in_the_message()
    {
        var error = Assert.Throws<CheckpointMismatchException>(() => BertForTask.LoadFolder(
            Fixtures.Model("bert_model"), AsSequenceClassifier with { Strict = true }));

        Assert.Contains("classifier.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains("classifier.bias", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Strict_loading_with_an_unexpected_key_throws_with_the_key_in_the_report()
    {
        var error = Assert.Throws<CheckpointMismatchException>(() => BertForTask.LoadFolder(
            Fixtures.Model("seq_cls"), AsBareEncoder with { Strict = true }));

        Assert.Equal(ClassifierKeys, error.Report.UnexpectedKeys);
        Assert.Empty(error.Report.MissingKeys);
    }

    [Fact]
    public void Strict_loading_with_an_unexpected_key_names_it_in_the_message()
    {
        var error = Assert.Throws<CheckpointMismatchException>(() => BertForTask.LoadFolder(
            Fixtures.Model("seq_cls"), AsBareEncoder with { Strict = true }));

        Assert.Contains("classifier.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains("not used", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Strict_loading_of_an_exactly_matching_checkpoint_succeeds()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("seq_cls"), new FolderLoadOptions { Strict = true });

        Assert.True(model.LoadReport!.IsExactMatch);
        Assert.Equal("all weights loaded", model.LoadReport.ToString());
    }

    [Fact]
    public void Strict_loading_ignores_the_position_ids_buffer()
    {
        using var folder = new TempFolder();
        using (var original = RandomModel(c => new SequenceClassificationHead(c)))
        {
            original.Save(folder.Path);
        }
        RewriteWeights(folder.Path, key => key, _ => [("bert.embeddings.position_ids", arange(32L).unsqueeze(0))]);

        using var loaded = BertForTask.LoadFolder(folder.Path, new FolderLoadOptions { Strict = true });

        Assert.True(loaded.LoadReport!.IsExactMatch);
    }

    // ---- shape mismatches -----------------------------------------------------------------------------------------

    private static readonly FolderLoadOptions WithFiveLabels = new()
    {
        Head = c => new SequenceClassificationHead(c with { Labels = ["a", "b", "c", "d", "e"] }),
    };

    [Fact]
    public void A_head_of_another_label_count_throws_naming_classifier_weight_and_both_shapes()
    {
        var error = Assert.Throws<CheckpointMismatchException>(() => BertForTask.LoadFolder(Fixtures.Model("seq_cls"), WithFiveLabels));

        Assert.Contains("classifier.weight", error.Message, StringComparison.Ordinal);
        Assert.Contains("[3, 32]", error.Message, StringComparison.Ordinal);
        Assert.Contains("[5, 32]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_head_of_another_label_count_throws_with_every_mismatched_key_in_the_report()
    {
        var error = Assert.Throws<CheckpointMismatchException>(() => BertForTask.LoadFolder(Fixtures.Model("seq_cls"), WithFiveLabels));

        Assert.Equal(ClassifierKeys, error.Report.MismatchedKeys.Select(k => k[..k.IndexOf(':', StringComparison.Ordinal)]));
        Assert.Empty(error.Report.MissingKeys);
    }

    [Fact]
    public void The_mismatch_message_suggests_ignoring_mismatched_sizes()
    {
        var error = Assert.Throws<CheckpointMismatchException>(() => BertForTask.LoadFolder(Fixtures.Model("seq_cls"), WithFiveLabels));

        Assert.Contains("IgnoreMismatchedSizes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_shape_mismatch_leaves_the_model_state_unchanged()
    {
        var config = BertConfig.Load(Path.Combine(Fixtures.Model("seq_cls"), "config.json")) with { Labels = ["a", "b", "c", "d", "e"] };
        using var model = new BertForTask(config, new SequenceClassificationHead(config));
        using var checkpoint = SafeTensorsCheckpoint.OpenFolder(Fixtures.Model("seq_cls"));
        var state = model.state_dict();
        using var before = state["bert.embeddings.word_embeddings.weight"].clone();

        Assert.Throws<CheckpointMismatchException>(() => StateDictLoader.Load(checkpoint, state));

        Assert.True(Same(before, state["bert.embeddings.word_embeddings.weight"]));
    }

    private static readonly FolderLoadOptions WithFiveLabelsIgnoringSizes = WithFiveLabels with { IgnoreMismatchedSizes = true };

    [Fact]
    public void Ignoring_mismatched_sizes_lists_classifier_weight_with_both_shapes()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("seq_cls"), WithFiveLabelsIgnoringSizes);

        var entry = Assert.Single(model.LoadReport!.MismatchedKeys, k => k.StartsWith("classifier.weight:", StringComparison.Ordinal));
        Assert.Contains("[3, 32]", entry, StringComparison.Ordinal);
        Assert.Contains("[5, 32]", entry, StringComparison.Ordinal);
    }

    [Fact]
    public void Ignoring_mismatched_sizes_keeps_the_new_head_shape_and_does_not_call_it_missing()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("seq_cls"), WithFiveLabelsIgnoringSizes);

        Assert.Equal([5L, 32L], model.state_dict()["classifier.weight"].shape);
        Assert.Empty(model.LoadReport!.MissingKeys);
        Assert.Empty(model.LoadReport.UnexpectedKeys);
    }

    [Fact]
    public void Ignoring_mismatched_sizes_still_loads_every_encoder_weight()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("seq_cls"), WithFiveLabelsIgnoringSizes);

        AssertParametersEqualFile(model, WeightsOf(Fixtures.Model("seq_cls")),
            key => key.StartsWith("bert.", StringComparison.Ordinal) ? key : null);
    }

    [Fact]
    public void Ignoring_mismatched_sizes_gives_the_model_the_new_labels()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("seq_cls"), WithFiveLabelsIgnoringSizes);

        Assert.Equal(["a", "b", "c", "d", "e"], model.Config.Labels);
    }

    // ---- half-precision checkpoints -------------------------------------------------------------------------------

    public static TheoryData<string, ScalarType> HalfPrecisionFixtures() => new()
    {
        { "seq_cls_fp16", ScalarType.Float16 },
        { "seq_cls_bf16", ScalarType.BFloat16 },
    };

    public static TheoryData<string> HalfPrecisionFixtureNames() => ["seq_cls_fp16", "seq_cls_bf16"];

    [Theory]
    [MemberData(nameof(HalfPrecisionFixtureNames))]
    public void A_half_precision_checkpoint_loads_as_float32_parameters(string fixture)
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model(fixture));

        Assert.All(model.state_dict(), p => Assert.Equal(ScalarType.Float32, p.Value.dtype));
        Assert.True(model.LoadReport!.IsExactMatch, model.LoadReport.ToString());
    }

    [Theory]
    [MemberData(nameof(HalfPrecisionFixtures))]
    public void A_half_precision_checkpoint_loads_the_fp32_weights_rounded_to_its_dtype(string fixture, ScalarType stored)
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model(fixture));
        var state = model.state_dict();
        using var fp32 = SafeTensorsFile.Open(WeightsOf(Fixtures.Model("seq_cls")));

        foreach (var info in fp32.Tensors)
        {
            using var scope = NewDisposeScope();
            var expected = fp32.ReadTensor(info.Name).to_type(stored).to_type(ScalarType.Float32);
            Assert.True(Same(expected, state[info.Name]), $"{info.Name} is not the fp32 weight rounded to {stored}");
        }
    }

    [Theory]
    [MemberData(nameof(HalfPrecisionFixtureNames))]
    public void A_half_precision_checkpoint_does_not_equal_the_unrounded_fp32_weights(string fixture)
    {
        // Guards the test above: rounding really changes the weights, so equality there is not vacuous.
        using var model = BertForTask.LoadFolder(Fixtures.Model(fixture));
        using var fp32 = SafeTensorsFile.Open(WeightsOf(Fixtures.Model("seq_cls")));
        using var expected = fp32.ReadTensor("bert.embeddings.word_embeddings.weight");

        Assert.False(Same(expected, model.state_dict()["bert.embeddings.word_embeddings.weight"]));
    }

    // ---- save, load, forward --------------------------------------------------------------------------------------

    public static TheoryData<string> HeadNames() =>
    [
        "BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering", "BertForMaskedLM",
        "BertForPreTraining", "BertForMultipleChoice", "BertModel",
    ];

    private static TaskHead CreateHead(string name, BertConfig config) => name switch
    {
        "BertForSequenceClassification" => new SequenceClassificationHead(config),
        "BertForTokenClassification" => new TokenClassificationHead(config),
        "BertForQuestionAnswering" => new QuestionAnsweringHead(config),
        "BertForMaskedLM" => new MaskedLanguageModelHead(config),
        "BertForPreTraining" => new PreTrainingHead(config),
        "BertForMultipleChoice" => new MultipleChoiceHead(config),
        "BertModel" => new FeatureExtractionHead(),
        _ => throw new ArgumentException(name, nameof(name)),
    };

    [Theory]
    [MemberData(nameof(HeadNames))]
    public void Save_then_FromPretrained_gives_bit_identical_outputs(string head)
    {
        using var folder = new TempFolder();
        using var original = RandomModel(c => CreateHead(head, c));
        original.Save(folder.Path);
        using var loaded = BertForTask.LoadFolder(folder.Path);
        loaded.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var batch = head == "BertForMultipleChoice" ? TinyChoiceBatch() : TinyBatch();

        using var expected = original.Forward(batch);
        using var actual = loaded.Forward(batch);

        Assert.Equal(expected.Tensors.Keys.Order(StringComparer.Ordinal), actual.Tensors.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, value) in expected.Tensors)
        {
            Assert.True(Same(value, actual[name]), $"{name} differs after save and load");
        }
    }

    [Theory]
    [MemberData(nameof(HeadNames))]
    public void Save_then_FromPretrained_picks_the_same_head_and_loads_every_key(string head)
    {
        using var folder = new TempFolder();
        using var original = RandomModel(c => CreateHead(head, c));
        original.Save(folder.Path);

        using var loaded = BertForTask.LoadFolder(folder.Path);

        Assert.Equal(original.Head.GetType(), loaded.Head.GetType());
        Assert.True(loaded.LoadReport!.IsExactMatch, loaded.LoadReport.ToString());
        Assert.Empty(loaded.LoadReport.IgnoredKeys);
    }

    [Theory]
    [MemberData(nameof(HeadNames))]
    public void The_saved_config_names_the_class_and_model_type_bert(string head)
    {
        using var folder = new TempFolder();
        using (var original = RandomModel(c => CreateHead(head, c)))
        {
            original.Save(folder.Path);
        }

        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder.Path, "config.json")));

        Assert.Equal([head], document.RootElement.GetProperty("architectures").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal("bert", document.RootElement.GetProperty("model_type").GetString());
        Assert.Equal("float32", document.RootElement.GetProperty("dtype").GetString());
    }

    [Fact]
    public void The_saved_config_of_a_classifier_has_its_labels_as_id2label_and_label2id()
    {
        using var folder = new TempFolder();
        using (var original = RandomModel(c => new TokenClassificationHead(c), TinyModels.Config(labels: 4)))
        {
            original.Save(folder.Path);
        }

        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder.Path, "config.json")));

        var id2label = document.RootElement.GetProperty("id2label").EnumerateObject().Select(p => (p.Name, p.Value.GetString())).ToList();
        var label2id = document.RootElement.GetProperty("label2id").EnumerateObject().Select(p => (p.Name, p.Value.GetInt32())).ToList();
        Assert.Equal([("0", "L0"), ("1", "L1"), ("2", "L2"), ("3", "L3")], id2label);
        Assert.Equal([("L0", 0), ("L1", 1), ("L2", 2), ("L3", 3)], label2id);
    }

    [Fact]
    public void Saving_a_model_loaded_from_seq_cls_writes_the_fixture_labels()
    {
        using var folder = new TempFolder();
        using (var model = BertForTask.LoadFolder(Fixtures.Model("seq_cls")))
        {
            model.Save(folder.Path);
        }

        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder.Path, "config.json")));

        Assert.Equal("positive", document.RootElement.GetProperty("id2label").GetProperty("2").GetString());
        Assert.Equal(0, document.RootElement.GetProperty("label2id").GetProperty("negative").GetInt32());
        Assert.Equal("5.17.0", document.RootElement.GetProperty("transformers_version").GetString());
    }

    [Fact]
    public void Save_writes_no_temporary_files()
    {
        using var folder = new TempFolder();
        using (var model = RandomModel(c => new SequenceClassificationHead(c)))
        {
            model.Save(folder.Path);
        }

        Assert.Equal(["config.json", "model.safetensors"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    public static TheoryData<string> FixturesToResave() =>
        ["bert_model", "seq_cls", "seq_multilabel", "seq_regression", "token_cls", "qa", "mlm", "multiple_choice", "pretraining"];

    [Theory]
    [MemberData(nameof(FixturesToResave))]
    public void Saving_a_model_loaded_from_a_fixture_writes_exactly_the_fixture_keys(string fixture)
    {
        using var folder = new TempFolder();
        using (var model = BertForTask.LoadFolder(Fixtures.Model(fixture)))
        {
            model.Save(folder.Path);
        }

        Assert.Equal(KeysOf(WeightsOf(Fixtures.Model(fixture))), KeysOf(WeightsOf(folder.Path)));
    }

    [Theory]
    [MemberData(nameof(FixturesToResave))]
    public void Saving_a_model_loaded_from_a_fixture_writes_the_fixture_tensors_unchanged(string fixture)
    {
        using var folder = new TempFolder();
        using (var model = BertForTask.LoadFolder(Fixtures.Model(fixture)))
        {
            model.Save(folder.Path);
        }

        using var expected = SafeTensorsFile.Open(WeightsOf(Fixtures.Model(fixture)));
        using var actual = SafeTensorsFile.Open(WeightsOf(folder.Path));
        foreach (var info in expected.Tensors)
        {
            using var scope = NewDisposeScope();
            Assert.Equal(info.Shape, actual.GetInfo(info.Name).Shape);
            Assert.True(Same(expected.ReadTensor(info.Name), actual.ReadTensor(info.Name)), $"{info.Name} differs");
        }
    }

    [Fact]
    public void Saving_the_mlm_fixture_model_writes_no_tied_decoder_weight()
    {
        using var folder = new TempFolder();
        using (var model = BertForTask.LoadFolder(Fixtures.Model("mlm")))
        {
            model.Save(folder.Path);
        }

        Assert.DoesNotContain(KeysOf(WeightsOf(folder.Path)), k => k.StartsWith("cls.predictions.decoder", StringComparison.Ordinal));
    }

    [Fact]
    public void Saving_the_bare_encoder_writes_keys_without_the_bert_prefix()
    {
        using var folder = new TempFolder();
        using (var model = BertForTask.LoadFolder(Fixtures.Model("bert_model")))
        {
            model.Save(folder.Path);
        }

        var keys = KeysOf(WeightsOf(folder.Path));
        Assert.Contains("embeddings.word_embeddings.weight", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("bert.", StringComparison.Ordinal));
    }

    [Fact]
    public void Saving_a_half_precision_fixture_model_writes_float32_weights_and_dtype()
    {
        using var folder = new TempFolder();
        using (var model = BertForTask.LoadFolder(Fixtures.Model("seq_cls_fp16")))
        {
            model.Save(folder.Path);
        }

        using var file = SafeTensorsFile.Open(WeightsOf(folder.Path));
        Assert.All(file.Tensors, t => Assert.Equal(SafeTensorsDType.F32, t.DType));
        Assert.Equal("float32", BertConfig.Load(Path.Combine(folder.Path, "config.json")).DType);
    }

    // ---- FromPretrained choices and failures ----------------------------------------------------------------------

    [Theory]
    [InlineData("seq_cls", typeof(SequenceClassificationHead))]
    [InlineData("token_cls", typeof(TokenClassificationHead))]
    [InlineData("qa", typeof(QuestionAnsweringHead))]
    [InlineData("mlm", typeof(MaskedLanguageModelHead))]
    [InlineData("pretraining", typeof(PreTrainingHead))]
    [InlineData("multiple_choice", typeof(MultipleChoiceHead))]
    [InlineData("bert_model", typeof(FeatureExtractionHead))]
    public void FromPretrained_picks_the_head_named_by_architectures(string fixture, Type head)
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model(fixture));

        Assert.IsType(head, model.Head);
        Assert.True(model.LoadReport!.IsExactMatch, model.LoadReport.ToString());
    }

    [Fact]
    public void FromPretrained_of_a_missing_folder_throws_directory_not_found()
    {
        using var folder = new TempFolder();

        Assert.Throws<DirectoryNotFoundException>(() => BertForTask.LoadFolder(Path.Combine(folder.Path, "absent")));
    }

    [Fact]
    public void FromPretrained_of_a_folder_without_weights_throws_file_not_found()
    {
        using var folder = new TempFolder();
        File.Copy(Path.Combine(Fixtures.Model("seq_cls"), "config.json"), folder.File("config.json"));

        var error = Assert.Throws<FileNotFoundException>(() => BertForTask.LoadFolder(folder.Path));

        Assert.Contains("model.safetensors", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromPretrained_of_a_folder_with_an_invalid_config_throws_the_config_error()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("config.json"), """{"model_type": "roberta"}""");

        var error = Assert.Throws<BertConfigException>(() => BertForTask.LoadFolder(folder.Path));

        Assert.Equal("model_type", error.Field);
    }
}
