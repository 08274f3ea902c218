using System.Globalization;
using System.Text.Json;
using BertFineTune.Checkpoints;

namespace BertFineTune.Tests.Checkpoints;

public class BertConfigTests
{
    public static TheoryData<string> FixtureModels() =>
        new(Directory.GetDirectories(Path.Combine(Fixtures.HfReference, "models"))
            .Where(d => File.Exists(Path.Combine(d, "config.json")))
            .Select(d => Path.GetFileName(d)!)
            .OrderBy(n => n, StringComparer.Ordinal));

    private static string ConfigPath(string model) => Path.Combine(Fixtures.Model(model), "config.json");

    private static JsonElement ReadFixtureJson(string model)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(ConfigPath(model)));
        return document.RootElement.Clone();
    }

    /// <summary>
    /// transformers' three <c>problem_type</c> spellings (configuration_utils.py, PretrainedConfig.__init__: the allowed
    /// problem types) and the <see cref="ProblemType"/> each means.
    /// </summary>
    private static readonly Dictionary<string, ProblemType> TransformersProblemTypes = new(StringComparer.Ordinal)
    {
        ["regression"] = ProblemType.Regression,
        ["single_label_classification"] = ProblemType.SingleLabelClassification,
        ["multi_label_classification"] = ProblemType.MultiLabelClassification,
    };

    public static TheoryData<string, ProblemType> ProblemTypeSpellings()
    {
        var data = new TheoryData<string, ProblemType>();
        foreach (var (spelling, problemType) in TransformersProblemTypes)
        {
            data.Add(spelling, problemType);
        }
        return data;
    }

    private static BertConfigException ParseFails(string json) =>
        Assert.Throws<BertConfigException>(() => BertConfig.Parse(json));

    // ---- fixture configs ----------------------------------------------------------------------------------------

    [Fact]
    public void Every_fixture_model_folder_is_covered_by_the_fixture_theories()
    {
        // The fixture README lists these 13 folders; the theories below must see all of them.
        Assert.Equal(13, FixtureModels().Count);
    }

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void Loading_a_fixture_config_gives_the_integer_sizes_in_the_file(string model)
    {
        var file = ReadFixtureJson(model);

        var config = BertConfig.Load(ConfigPath(model));

        Assert.Equal(file.GetProperty("vocab_size").GetInt32(), config.VocabSize);
        Assert.Equal(file.GetProperty("hidden_size").GetInt32(), config.HiddenSize);
        Assert.Equal(file.GetProperty("num_hidden_layers").GetInt32(), config.NumHiddenLayers);
        Assert.Equal(file.GetProperty("num_attention_heads").GetInt32(), config.NumAttentionHeads);
        Assert.Equal(file.GetProperty("intermediate_size").GetInt32(), config.IntermediateSize);
        Assert.Equal(file.GetProperty("max_position_embeddings").GetInt32(), config.MaxPositionEmbeddings);
        Assert.Equal(file.GetProperty("type_vocab_size").GetInt32(), config.TypeVocabSize);
        Assert.Equal(file.GetProperty("pad_token_id").GetInt32(), config.PadTokenId);
    }

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void Loading_a_fixture_config_gives_the_numbers_and_strings_in_the_file(string model)
    {
        var file = ReadFixtureJson(model);

        var config = BertConfig.Load(ConfigPath(model));

        Assert.Equal(file.GetProperty("hidden_act").GetString(), config.HiddenAct);
        Assert.Equal(file.GetProperty("hidden_dropout_prob").GetDouble(), config.HiddenDropoutProb);
        Assert.Equal(file.GetProperty("attention_probs_dropout_prob").GetDouble(), config.AttentionProbsDropoutProb);
        Assert.Equal(file.GetProperty("initializer_range").GetDouble(), config.InitializerRange);
        Assert.Equal(file.GetProperty("layer_norm_eps").GetDouble(), config.LayerNormEps);
        Assert.Equal(file.GetProperty("model_type").GetString(), config.ModelType);
        Assert.Equal(file.GetProperty("dtype").GetString(), config.DType);
        Assert.Equal(file.GetProperty("tie_word_embeddings").GetBoolean(), config.TieWordEmbeddings);
        Assert.Null(config.ClassifierDropout); // every fixture has "classifier_dropout": null
    }

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void Loading_a_fixture_config_gives_the_architectures_in_the_file(string model)
    {
        var file = ReadFixtureJson(model);
        var expected = file.GetProperty("architectures").EnumerateArray().Select(a => a.GetString()!).ToList();

        var config = BertConfig.Load(ConfigPath(model));

        Assert.Equal(expected, config.Architectures);
    }

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void Loading_a_fixture_config_gives_the_labels_of_its_id2label_or_the_two_default_labels(string model)
    {
        var file = ReadFixtureJson(model);
        var expected = file.TryGetProperty("id2label", out var id2label)
            ? id2label.EnumerateObject().OrderBy(p => int.Parse(p.Name, CultureInfo.InvariantCulture)).Select(p => p.Value.GetString()!).ToList()
            : ["LABEL_0", "LABEL_1"];

        var config = BertConfig.Load(ConfigPath(model));

        Assert.Equal(expected, config.Labels);
        Assert.Equal(expected.Count, config.NumLabels);
    }

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void Loading_a_fixture_config_gives_the_problem_type_in_the_file_or_none(string model)
    {
        var file = ReadFixtureJson(model);
        ProblemType? expected = file.TryGetProperty("problem_type", out var problemType) ? TransformersProblemTypes[problemType.GetString()!] : null;

        var config = BertConfig.Load(ConfigPath(model));

        Assert.Equal(expected, config.ProblemType);
    }

    [Fact]
    public void The_seq_cls_fixture_has_the_labels_negative_neutral_positive()
    {
        var config = BertConfig.Load(ConfigPath("seq_cls"));

        Assert.Equal(["negative", "neutral", "positive"], config.Labels);
        Assert.Equal(2, config.LabelToId["positive"]);
    }

    [Fact]
    public void The_seq_multilabel_fixture_is_multi_label_classification()
    {
        var config = BertConfig.Load(ConfigPath("seq_multilabel"));

        Assert.Equal(ProblemType.MultiLabelClassification, config.ProblemType);
        Assert.Equal(4, config.NumLabels);
    }

    [Fact]
    public void The_fixture_architecture_is_hidden_32_with_2_layers_4_heads_and_intermediate_64()
    {
        // manifest.json: hidden 32, 2 layers, 4 heads, intermediate 64, max positions 128.
        var config = BertConfig.Load(ConfigPath("bert_model"));

        Assert.Equal(32, config.HiddenSize);
        Assert.Equal(2, config.NumHiddenLayers);
        Assert.Equal(4, config.NumAttentionHeads);
        Assert.Equal(64, config.IntermediateSize);
        Assert.Equal(128, config.MaxPositionEmbeddings);
        Assert.Equal(8, config.HeadSize);
    }

    [Fact]
    public void The_first_architecture_names_the_class_the_fixture_was_saved_from()
    {
        Assert.Equal("BertModel", BertConfig.Load(ConfigPath("bert_model")).Architectures[0]);
        Assert.Equal("BertForMaskedLM", BertConfig.Load(ConfigPath("mlm")).Architectures[0]);
        Assert.Equal("BertForTokenClassification", BertConfig.Load(ConfigPath("token_cls")).Architectures[0]);
    }

    [Fact]
    public void The_fp16_fixture_reports_dtype_float16()
    {
        Assert.Equal("float16", BertConfig.Load(ConfigPath("seq_cls_fp16")).DType);
    }

    [Fact]
    public void Loading_a_missing_file_throws_file_not_found_naming_the_path()
    {
        using var folder = new TempFolder();
        var path = folder.File("config.json");

        var error = Assert.Throws<FileNotFoundException>(() => BertConfig.Load(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loading_a_folder_without_config_json_names_the_folder_and_the_missing_file()
    {
        using var folder = new TempFolder();

        var error = Assert.Throws<FileNotFoundException>(() => BertConfig.Load(folder.Path));

        Assert.Contains(folder.Path, error.Message, StringComparison.Ordinal);
        Assert.Contains("config.json", error.Message, StringComparison.Ordinal);
        Assert.Equal(folder.File("config.json"), error.FileName);
    }

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void Loading_a_model_folder_reads_the_same_config_as_loading_its_config_json(string model)
    {
        // transformers' PretrainedConfig.from_pretrained takes the folder or the file (configuration_utils.py, _get_config_dict).
        var fromFolder = BertConfig.Load(Fixtures.Model(model));
        var fromFile = BertConfig.Load(ConfigPath(model));

        Assert.Equal(fromFile.ToJson(), fromFolder.ToJson());
    }

    // ---- defaults ---------------------------------------------------------------------------------------------

    [Fact]
    public void An_empty_config_gets_the_transformers_default_sizes()
    {
        var config = BertConfig.Parse("{}");

        Assert.Equal(30522, config.VocabSize);
        Assert.Equal(768, config.HiddenSize);
        Assert.Equal(12, config.NumHiddenLayers);
        Assert.Equal(12, config.NumAttentionHeads);
        Assert.Equal(3072, config.IntermediateSize);
        Assert.Equal(512, config.MaxPositionEmbeddings);
        Assert.Equal(2, config.TypeVocabSize);
    }

    [Fact]
    public void An_empty_config_gets_the_transformers_default_activation_dropouts_and_initialisation()
    {
        var config = BertConfig.Parse("{}");

        Assert.Equal("gelu", config.HiddenAct);
        Assert.Equal(0.1, config.HiddenDropoutProb);
        Assert.Equal(0.1, config.AttentionProbsDropoutProb);
        Assert.Null(config.ClassifierDropout);
        Assert.Equal(0.02, config.InitializerRange);
        Assert.Equal(1e-12, config.LayerNormEps);
    }

    [Fact]
    public void An_empty_config_gets_pad_token_id_0_absolute_positions_and_model_type_bert()
    {
        var config = BertConfig.Parse("{}");

        Assert.Equal(0, config.PadTokenId);
        Assert.Equal("absolute", config.PositionEmbeddingType);
        Assert.Equal("bert", config.ModelType);
        Assert.Null(config.DType);
        Assert.Null(config.ProblemType);
        Assert.Empty(config.Architectures);
    }

    [Fact]
    public void An_empty_config_gets_two_labels_named_LABEL_0_and_LABEL_1()
    {
        var config = BertConfig.Parse("{}");

        Assert.Equal(["LABEL_0", "LABEL_1"], config.Labels);
        Assert.Equal(2, config.NumLabels);
    }

    [Fact]
    public void An_empty_config_ties_word_embeddings_and_is_not_a_decoder()
    {
        var config = BertConfig.Parse("{}");

        Assert.True(config.TieWordEmbeddings);
        Assert.False(config.IsDecoder);
        Assert.False(config.AddCrossAttention);
    }

    [Fact]
    public void An_explicit_null_pad_token_id_means_no_padding_token()
    {
        var config = BertConfig.Parse("""{"pad_token_id": null}""");

        Assert.Null(config.PadTokenId);
    }

    [Fact]
    public void An_explicit_null_classifier_dropout_stays_null()
    {
        Assert.Null(BertConfig.Parse("""{"classifier_dropout": null}""").ClassifierDropout);
        Assert.Equal(0.25, BertConfig.Parse("""{"classifier_dropout": 0.25}""").ClassifierDropout);
    }

    [Fact]
    public void The_dtype_field_is_read()
    {
        Assert.Equal("bfloat16", BertConfig.Parse("""{"dtype": "bfloat16"}""").DType);
    }

    [Fact]
    public void The_older_torch_dtype_field_is_read_when_dtype_is_absent()
    {
        Assert.Equal("float16", BertConfig.Parse("""{"torch_dtype": "float16"}""").DType);
    }

    [Fact]
    public void Num_labels_without_id2label_gives_LABEL_i_names()
    {
        var config = BertConfig.Parse("""{"num_labels": 4}""");

        Assert.Equal(["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"], config.Labels);
    }

    [Fact]
    public void Id2label_keys_are_ordered_by_id_not_by_their_order_in_the_file()
    {
        var config = BertConfig.Parse("""{"id2label": {"2": "c", "0": "a", "1": "b"}}""");

        Assert.Equal(["a", "b", "c"], config.Labels);
    }

    [Fact]
    public void Label_to_id_is_the_inverse_of_the_labels()
    {
        var config = BertConfig.Parse("""{"id2label": {"0": "neg", "1": "pos"}}""");

        Assert.Equal(new Dictionary<string, int> { ["neg"] = 0, ["pos"] = 1 }, config.LabelToId);
    }

    [Fact]
    public void Head_size_is_hidden_size_over_the_head_count()
    {
        Assert.Equal(64, BertConfig.Parse("{}").HeadSize);
    }

    // ---- re-saving ------------------------------------------------------------------------------------------------

    private const string ConfigWithUnknownFields = """
        {
          "hidden_size": 32,
          "num_attention_heads": 4,
          "my_custom_field": {"a": [1, 2]},
          "transformers_version": "5.17.0",
          "bos_token_id": null,
          "use_cache": true
        }
        """;

    [Fact]
    public void Unknown_object_fields_are_written_back_unchanged()
    {
        var json = BertConfig.Parse(ConfigWithUnknownFields).ToJson();

        using var document = JsonDocument.Parse(json);
        var custom = document.RootElement.GetProperty("my_custom_field");
        Assert.Equal(JsonValueKind.Object, custom.ValueKind);
        Assert.Equal([1, 2], custom.GetProperty("a").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Single(custom.EnumerateObject());
    }

    [Fact]
    public void The_transformers_version_is_written_back_unchanged()
    {
        var json = BertConfig.Parse(ConfigWithUnknownFields).ToJson();

        using var document = JsonDocument.Parse(json);
        Assert.Equal("5.17.0", document.RootElement.GetProperty("transformers_version").GetString());
    }

    [Fact]
    public void Unknown_null_and_boolean_fields_are_written_back_unchanged()
    {
        var json = BertConfig.Parse(ConfigWithUnknownFields).ToJson();

        using var document = JsonDocument.Parse(json);
        Assert.Equal(JsonValueKind.Null, document.RootElement.GetProperty("bos_token_id").ValueKind);
        Assert.True(document.RootElement.GetProperty("use_cache").GetBoolean());
    }

    [Fact]
    public void Unknown_fields_are_readable_through_GetOtherField()
    {
        var config = BertConfig.Parse(ConfigWithUnknownFields);

        Assert.Equal("""{"a":[1,2]}""", config.GetOtherField("my_custom_field")!.ToJsonString());
        Assert.Null(config.GetOtherField("hidden_size"));
    }

    [Fact]
    public void Id2label_is_written_with_string_keys_from_0()
    {
        var json = BertConfig.Parse("""{"id2label": {"0": "neg", "1": "neu", "2": "pos"}}""").ToJson();

        using var document = JsonDocument.Parse(json);
        var id2label = document.RootElement.GetProperty("id2label").EnumerateObject()
            .Select(p => (p.Name, p.Value.GetString())).ToList();
        Assert.Equal([("0", "neg"), ("1", "neu"), ("2", "pos")], id2label);
    }

    [Fact]
    public void Label2id_is_written_as_the_inverse_of_id2label()
    {
        var json = BertConfig.Parse("""{"id2label": {"0": "neg", "1": "neu", "2": "pos"}}""").ToJson();

        using var document = JsonDocument.Parse(json);
        var label2id = document.RootElement.GetProperty("label2id").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(new Dictionary<string, int> { ["neg"] = 0, ["neu"] = 1, ["pos"] = 2 }, label2id);
    }

    [Fact]
    public void Default_labels_are_written_as_id2label_and_label2id()
    {
        using var document = JsonDocument.Parse(BertConfig.Parse("{}").ToJson());

        Assert.Equal("LABEL_1", document.RootElement.GetProperty("id2label").GetProperty("1").GetString());
        Assert.Equal(1, document.RootElement.GetProperty("label2id").GetProperty("LABEL_1").GetInt32());
    }

    [Fact]
    public void Num_labels_is_not_written_because_id2label_carries_it()
    {
        using var document = JsonDocument.Parse(BertConfig.Parse("""{"num_labels": 3}""").ToJson());

        Assert.False(document.RootElement.TryGetProperty("num_labels", out _));
        Assert.Equal(3, document.RootElement.GetProperty("id2label").EnumerateObject().Count());
    }

    [Fact]
    public void A_torch_dtype_config_is_written_with_the_current_dtype_field()
    {
        using var document = JsonDocument.Parse(BertConfig.Parse("""{"torch_dtype": "float16"}""").ToJson());

        Assert.Equal("float16", document.RootElement.GetProperty("dtype").GetString());
    }

    [Fact]
    public void ToJson_writes_the_modelled_fields_with_their_values()
    {
        var config = BertConfig.Parse("""{"hidden_size": 48, "num_attention_heads": 6, "layer_norm_eps": 1e-7, "hidden_act": "relu"}""");

        using var document = JsonDocument.Parse(config.ToJson());
        var root = document.RootElement;
        Assert.Equal(48, root.GetProperty("hidden_size").GetInt32());
        Assert.Equal(6, root.GetProperty("num_attention_heads").GetInt32());
        Assert.Equal(1e-7, root.GetProperty("layer_norm_eps").GetDouble());
        Assert.Equal("relu", root.GetProperty("hidden_act").GetString());
        Assert.Equal("bert", root.GetProperty("model_type").GetString());
        Assert.Equal(30522, root.GetProperty("vocab_size").GetInt32());
    }

    [Fact]
    public void ToJson_writes_the_keys_in_ordinal_order_as_transformers_does()
    {
        using var document = JsonDocument.Parse(BertConfig.Parse(ConfigWithUnknownFields).ToJson());
        var keys = document.RootElement.EnumerateObject().Select(p => p.Name).ToList();

        Assert.Equal(keys.OrderBy(k => k, StringComparer.Ordinal), keys);
    }

    [Fact]
    public void Save_leaves_only_config_json_in_the_folder()
    {
        using var folder = new TempFolder();

        BertConfig.Parse(ConfigWithUnknownFields).Save(folder.Path);

        var files = Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName);
        Assert.Equal(["config.json"], files);
    }

    [Fact]
    public void Save_replaces_an_existing_config_without_leaving_temporary_files()
    {
        using var folder = new TempFolder();
        var path = folder.File("config.json");
        File.WriteAllText(path, "old content");

        BertConfig.Parse("""{"hidden_size": 48, "num_attention_heads": 6}""").Save(folder.Path);

        Assert.Equal(["config.json"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName));
        Assert.Equal(48, BertConfig.Load(path).HiddenSize);
    }

    [Fact]
    public void Save_creates_the_model_folder_when_it_does_not_exist()
    {
        using var folder = new TempFolder();
        var model = Path.Combine(folder.Path, "new", "model");

        TinyModels.Config().Save(model);

        Assert.Equal(TinyModels.Config().HiddenSize, BertConfig.Load(model).HiddenSize);
    }

    [Fact]
    public void Save_given_the_path_of_an_existing_file_refuses_it_and_leaves_the_file_alone()
    {
        // transformers' save_pretrained also refuses a file: the argument names the folder the model files go into.
        using var folder = new TempFolder();
        var path = folder.File("config.json");
        File.WriteAllText(path, "old content");

        var error = Assert.Throws<ArgumentException>(() => TinyModels.Config().Save(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Equal("old content", File.ReadAllText(path));
    }

    private static BertConfig UnusualConfig() => new()
    {
        VocabSize = 1234,
        HiddenSize = 48,
        NumHiddenLayers = 3,
        NumAttentionHeads = 6,
        IntermediateSize = 100,
        HiddenAct = "gelu_new",
        HiddenDropoutProb = 0.05,
        AttentionProbsDropoutProb = 0.2,
        MaxPositionEmbeddings = 77,
        TypeVocabSize = 3,
        InitializerRange = 0.03,
        LayerNormEps = 1e-6,
        PadTokenId = 7,
        ClassifierDropout = 0.3,
        ClassifierPooling = PoolingMode.Max,
        Labels = ["x", "y", "z"],
        ProblemType = ProblemType.MultiLabelClassification,
        Architectures = ["BertForSequenceClassification"],
        DType = "bfloat16",
        TieWordEmbeddings = false,
    };

    [Fact]
    public void Load_of_Save_gives_back_every_field()
    {
        using var folder = new TempFolder();
        var original = UnusualConfig();

        original.Save(folder.Path);
        var loaded = BertConfig.Load(folder.Path);

        Assert.Equal(1234, loaded.VocabSize);
        Assert.Equal(48, loaded.HiddenSize);
        Assert.Equal(3, loaded.NumHiddenLayers);
        Assert.Equal(6, loaded.NumAttentionHeads);
        Assert.Equal(100, loaded.IntermediateSize);
        Assert.Equal("gelu_new", loaded.HiddenAct);
        Assert.Equal(0.05, loaded.HiddenDropoutProb);
        Assert.Equal(0.2, loaded.AttentionProbsDropoutProb);
        Assert.Equal(77, loaded.MaxPositionEmbeddings);
        Assert.Equal(3, loaded.TypeVocabSize);
        Assert.Equal(0.03, loaded.InitializerRange);
        Assert.Equal(1e-6, loaded.LayerNormEps);
        Assert.Equal(7, loaded.PadTokenId);
        Assert.Equal("absolute", loaded.PositionEmbeddingType);
        Assert.Equal(0.3, loaded.ClassifierDropout);
        Assert.Equal(PoolingMode.Max, loaded.ClassifierPooling);
        Assert.Equal(["x", "y", "z"], loaded.Labels);
        Assert.Equal(ProblemType.MultiLabelClassification, loaded.ProblemType);
        Assert.Equal(["BertForSequenceClassification"], loaded.Architectures);
        Assert.Equal("bert", loaded.ModelType);
        Assert.Equal("bfloat16", loaded.DType);
        Assert.False(loaded.TieWordEmbeddings);
    }

    [Fact]
    public void Load_of_Save_writes_the_same_json_again()
    {
        using var folder = new TempFolder();
        var original = BertConfig.Parse(ConfigWithUnknownFields) with { Labels = ["a", "b", "c"] };

        original.Save(folder.Path);
        var loaded = BertConfig.Load(folder.File("config.json"));

        Assert.Equal(original.ToJson(), loaded.ToJson());
        Assert.Equal("5.17.0", loaded.GetOtherField("transformers_version")!.GetValue<string>());
    }

    [Fact]
    public void Load_of_Save_keeps_a_null_pad_token_id()
    {
        using var folder = new TempFolder();

        (TinyModels.Config() with { PadTokenId = null }).Save(folder.Path);

        Assert.Null(BertConfig.Load(folder.File("config.json")).PadTokenId);
    }

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void Re_saving_a_fixture_config_keeps_every_field_of_the_file(string model)
    {
        // transformers writes no num_labels and no torch_dtype in these files, so every field must come back as it was.
        var file = ReadFixtureJson(model);

        using var saved = JsonDocument.Parse(BertConfig.Load(ConfigPath(model)).ToJson());

        foreach (var property in file.EnumerateObject())
        {
            Assert.True(saved.RootElement.TryGetProperty(property.Name, out var value), $"{property.Name} was dropped");
            Assert.True(JsonElement.DeepEquals(property.Value, value), $"{property.Name}: {property.Value} became {value}");
        }
    }

    // ---- invalid fields -------------------------------------------------------------------------------------------

    [Fact]
    public void Hidden_size_not_divisible_by_the_head_count_names_hidden_size_and_both_numbers()
    {
        var error = ParseFails("""{"hidden_size": 770, "num_attention_heads": 12}""");

        Assert.Equal("hidden_size", error.Field);
        Assert.Contains("770", error.Message, StringComparison.Ordinal);
        Assert.Contains("12", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unsupported_activation_names_hidden_act_and_the_value()
    {
        var error = ParseFails("""{"hidden_act": "mish_x"}""");

        Assert.Equal("hidden_act", error.Field);
        Assert.Contains("mish_x", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("gelu")]
    [InlineData("gelu_new")]
    [InlineData("relu")]
    [InlineData("tanh")]
    public void A_supported_activation_is_accepted(string activation)
    {
        Assert.Equal(activation, BertConfig.Parse($$"""{"hidden_act": "{{activation}}"}""").HiddenAct);
    }

    [Fact]
    public void Relative_position_embeddings_are_refused_naming_the_field_and_value()
    {
        var error = ParseFails("""{"position_embedding_type": "relative_key"}""");

        Assert.Equal("position_embedding_type", error.Field);
        Assert.Contains("relative_key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_roberta_model_type_is_refused_naming_the_field_and_value()
    {
        var error = ParseFails("""{"model_type": "roberta"}""");

        Assert.Equal("model_type", error.Field);
        Assert.Contains("roberta", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("vocab_size", -5)]
    [InlineData("vocab_size", 0)]
    [InlineData("hidden_size", -768)]
    [InlineData("num_hidden_layers", 0)]
    [InlineData("num_attention_heads", -2)]
    [InlineData("num_attention_heads", 0)]
    [InlineData("intermediate_size", -3)]
    [InlineData("max_position_embeddings", 0)]
    [InlineData("type_vocab_size", -1)]
    public void A_size_that_is_not_positive_names_the_field_and_value(string field, int value)
    {
        var error = ParseFails($$"""{"{{field}}": {{value}}, "pad_token_id": null}""");

        Assert.Equal(field, error.Field);
        Assert.Contains(value.ToString(CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Zero_labels_are_refused_naming_num_labels()
    {
        var error = ParseFails("""{"num_labels": 0}""");

        Assert.Equal("num_labels", error.Field);
        Assert.Contains("0", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hidden_dropout_prob", "1")]
    [InlineData("hidden_dropout_prob", "1.5")]
    [InlineData("attention_probs_dropout_prob", "1.0")]
    [InlineData("attention_probs_dropout_prob", "-0.1")]
    [InlineData("classifier_dropout", "2.5")]
    public void A_dropout_outside_0_to_1_names_the_field_and_value(string field, string value)
    {
        var error = ParseFails($$"""{"{{field}}": {{value}}}""");

        Assert.Equal(field, error.Field);
        var expected = double.Parse(value, CultureInfo.InvariantCulture).ToString(CultureInfo.InvariantCulture);
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dropout_of_zero_is_accepted()
    {
        Assert.Equal(0.0, BertConfig.Parse("""{"hidden_dropout_prob": 0}""").HiddenDropoutProb);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0.5")]
    public void A_layer_norm_eps_that_is_not_positive_names_the_field_and_value(string value)
    {
        var error = ParseFails($$"""{"layer_norm_eps": {{value}}}""");

        Assert.Equal("layer_norm_eps", error.Field);
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_negative_initializer_range_names_the_field_and_value()
    {
        var error = ParseFails("""{"initializer_range": -0.25}""");

        Assert.Equal("initializer_range", error.Field);
        Assert.Contains("-0.25", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Numbers_in_messages_are_written_as_in_json_whatever_the_current_culture()
    {
        var previous = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
        try
        {
            var eps = ParseFails("""{"layer_norm_eps": -0.5}""");
            var range = ParseFails("""{"initializer_range": -0.25}""");

            Assert.Contains("-0.5", eps.Message, StringComparison.Ordinal);
            Assert.Contains("-0.25", range.Message, StringComparison.Ordinal);
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Theory]
    [InlineData(50)]
    [InlineData(51)]
    [InlineData(-1)]
    public void A_pad_token_id_outside_the_vocabulary_names_the_field_and_value(int pad)
    {
        var error = ParseFails($$"""{"vocab_size": 50, "pad_token_id": {{pad}}}""");

        Assert.Equal("pad_token_id", error.Field);
        Assert.Contains(pad.ToString(CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_last_vocabulary_id_is_a_valid_pad_token_id()
    {
        Assert.Equal(49, BertConfig.Parse("""{"vocab_size": 50, "pad_token_id": 49}""").PadTokenId);
    }

    [Fact]
    public void An_unknown_problem_type_names_the_field_and_value()
    {
        var error = ParseFails("""{"problem_type": "ordinal_regression"}""");

        Assert.Equal("problem_type", error.Field);
        Assert.Contains("ordinal_regression", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(ProblemTypeSpellings))]
    public void Each_transformers_problem_type_is_read_as_its_enum_value(string spelling, ProblemType problemType)
    {
        Assert.Equal(problemType, BertConfig.Parse($$"""{"problem_type": "{{spelling}}"}""").ProblemType);
    }

    [Theory]
    [MemberData(nameof(ProblemTypeSpellings))]
    public void Each_problem_type_is_written_with_the_transformers_spelling(string spelling, ProblemType problemType)
    {
        using var document = JsonDocument.Parse((TinyModels.Config() with { ProblemType = problemType }).ToJson());

        Assert.Equal(spelling, document.RootElement.GetProperty("problem_type").GetString());
    }

    [Fact]
    public void Every_problem_type_has_a_transformers_spelling()
    {
        Assert.Equal(Enum.GetValues<ProblemType>().Order(), TransformersProblemTypes.Values.Order());
    }

    [Theory]
    [InlineData("Regression")]
    [InlineData("REGRESSION")]
    [InlineData("2")]
    public void A_problem_type_spelled_other_than_transformers_spells_it_is_refused(string spelling)
    {
        // Enum names, other casings and numbers are not problem_type values in transformers' config.json.
        var error = ParseFails($$"""{"problem_type": "{{spelling}}"}""");

        Assert.Equal("problem_type", error.Field);
        Assert.Contains("single_label_classification", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_refuses_a_problem_type_value_outside_the_enum()
    {
        var error = Assert.Throws<BertConfigException>(() => (TinyModels.Config() with { ProblemType = (ProblemType)7 }).Validate());

        Assert.Equal("problem_type", error.Field);
        Assert.Contains("7", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_id2label_key_that_is_not_an_integer_names_id2label_and_the_key()
    {
        var error = ParseFails("""{"id2label": {"0": "a", "first": "b"}}""");

        Assert.Equal("id2label", error.Field);
        Assert.Contains("first", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_id2label_with_a_gap_names_id2label_and_the_key_past_the_gap()
    {
        var error = ParseFails("""{"id2label": {"0": "a", "2": "c"}}""");

        Assert.Equal("id2label", error.Field);
        Assert.Contains("'2'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_id2label_whose_keys_name_the_same_id_twice_names_id2label()
    {
        // "0" and "00" are both id 0, so id 1 has no label: a gap by another route.
        var error = ParseFails("""{"id2label": {"0": "a", "00": "b"}}""");

        Assert.Equal("id2label", error.Field);
        Assert.Contains("00", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_id2label_name_that_is_not_a_string_names_id2label_and_the_value()
    {
        var error = ParseFails("""{"id2label": {"0": "a", "1": 17}}""");

        Assert.Equal("id2label", error.Field);
        Assert.Contains("17", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_id2label_that_is_not_an_object_names_id2label()
    {
        var error = ParseFails("""{"id2label": ["a", "b"]}""");

        Assert.Equal("id2label", error.Field);
        Assert.Contains("[\"a\",\"b\"]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_label_name_for_two_ids_names_id2label_and_the_label()
    {
        var error = ParseFails("""{"id2label": {"0": "same", "1": "same"}}""");

        Assert.Equal("id2label", error.Field);
        Assert.Contains("same", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_label2id_that_disagrees_with_id2label_names_label2id_and_the_entry()
    {
        var error = ParseFails("""{"id2label": {"0": "neg", "1": "pos"}, "label2id": {"neg": 1, "pos": 0}}""");

        Assert.Equal("label2id", error.Field);
        Assert.Contains("neg", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_label2id_with_a_name_id2label_lacks_names_label2id_and_the_name()
    {
        var error = ParseFails("""{"id2label": {"0": "neg", "1": "pos"}, "label2id": {"neg": 0, "positive": 1}}""");

        Assert.Equal("label2id", error.Field);
        Assert.Contains("positive", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_num_labels_that_disagrees_with_id2label_names_num_labels_and_both_counts()
    {
        var error = ParseFails("""{"num_labels": 5, "id2label": {"0": "a", "1": "b", "2": "c"}}""");

        Assert.Equal("num_labels", error.Field);
        Assert.Contains("5", error.Message, StringComparison.Ordinal);
        Assert.Contains("3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_num_labels_that_agrees_with_id2label_is_accepted()
    {
        Assert.Equal(["a", "b"], BertConfig.Parse("""{"num_labels": 2, "id2label": {"0": "a", "1": "b"}}""").Labels);
    }

    [Fact]
    public void A_size_written_as_a_string_names_the_field_and_value()
    {
        var error = ParseFails("""{"hidden_size": "768"}""");

        Assert.Equal("hidden_size", error.Field);
        Assert.Contains("\"768\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_fractional_size_names_the_field_and_value()
    {
        var error = ParseFails("""{"num_hidden_layers": 2.5}""");

        Assert.Equal("num_hidden_layers", error.Field);
        Assert.Contains("2.5", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_dropout_written_as_a_string_names_the_field_and_value()
    {
        var error = ParseFails("""{"hidden_dropout_prob": "0.1"}""");

        Assert.Equal("hidden_dropout_prob", error.Field);
        Assert.Contains("\"0.1\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_activation_written_as_a_number_names_the_field_and_value()
    {
        var error = ParseFails("""{"hidden_act": 42}""");

        Assert.Equal("hidden_act", error.Field);
        Assert.Contains("42", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_boolean_written_as_a_string_names_the_field_and_value()
    {
        var error = ParseFails("""{"tie_word_embeddings": "yes"}""");

        Assert.Equal("tie_word_embeddings", error.Field);
        Assert.Contains("yes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Architectures_that_are_not_a_list_of_strings_name_the_field_and_value()
    {
        var error = ParseFails("""{"architectures": ["BertModel", 3]}""");

        Assert.Equal("architectures", error.Field);
        Assert.Contains("3", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_json_throws_a_config_exception_for_the_whole_file_naming_the_source()
    {
        var error = Assert.Throws<BertConfigException>(() => BertConfig.Parse("""{"hidden_size": 32,""", "my/config.json"));

        Assert.Null(error.Field);
        Assert.Equal("my/config.json", error.FilePath);
        Assert.Contains("my/config.json", error.Message, StringComparison.Ordinal);
        Assert.Contains("JSON", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[1, 2]")]
    [InlineData("null")]
    [InlineData("\"text\"")]
    public void Json_that_is_not_an_object_throws_a_config_exception_for_the_whole_file(string json)
    {
        var error = Assert.Throws<BertConfigException>(() => BertConfig.Parse(json));

        Assert.Null(error.Field);
        Assert.Contains("object", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_field_given_twice_throws_a_config_exception_naming_the_field()
    {
        var error = ParseFails("""{"hidden_size": 32, "hidden_size": 64}""");

        Assert.Equal("hidden_size", error.Field);
        Assert.Contains("hidden_size", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_id2label_key_given_twice_throws_a_config_exception_naming_id2label()
    {
        var error = ParseFails("""{"id2label": {"0": "a", "1": "b", "0": "c"}}""");

        Assert.Equal("id2label", error.Field);
        Assert.Contains("id2label.0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_name_given_twice_inside_an_unknown_field_throws_a_config_exception_naming_the_field()
    {
        var error = ParseFails("""{"my_custom_field": [{"a": 1, "a": 2}]}""");

        Assert.Equal("my_custom_field", error.Field);
        Assert.Contains("my_custom_field[0].a", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_decoder_config_is_refused_naming_is_decoder_and_its_value()
    {
        var error = ParseFails("""{"is_decoder": true}""");

        Assert.Equal("is_decoder", error.Field);
        Assert.Contains("is_decoder", error.Message, StringComparison.Ordinal);
        Assert.Contains("true", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cross_attention_config_is_refused_naming_add_cross_attention_and_its_value()
    {
        var error = ParseFails("""{"add_cross_attention": true}""");

        Assert.Equal("add_cross_attention", error.Field);
        Assert.Contains("add_cross_attention", error.Message, StringComparison.Ordinal);
        Assert.Contains("true", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dtype", "int8")]
    [InlineData("torch_dtype", "float8_e4m3fn")]
    public void An_unsupported_dtype_names_dtype_and_the_value(string field, string value)
    {
        var error = ParseFails($$"""{"{{field}}": "{{value}}"}""");

        Assert.Equal("dtype", error.Field);
        Assert.Contains(value, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_exception_message_names_the_source_file()
    {
        var error = Assert.Throws<BertConfigException>(() => BertConfig.Parse("""{"hidden_act": "mish_x"}""", "/models/x/config.json"));

        Assert.StartsWith("/models/x/config.json: ", error.Message, StringComparison.Ordinal);
        Assert.Equal("/models/x/config.json", error.FilePath);
    }

    [Fact]
    public void Loading_an_invalid_file_names_its_path()
    {
        using var folder = new TempFolder();
        var path = folder.File("config.json");
        File.WriteAllText(path, """{"model_type": "roberta"}""");

        var error = Assert.Throws<BertConfigException>(() => BertConfig.Load(path));

        Assert.Equal(path, error.FilePath);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_refuses_a_config_built_in_code_with_an_invalid_field()
    {
        var config = TinyModels.Config() with { NumAttentionHeads = 3 };

        var error = Assert.Throws<BertConfigException>(() => config.Validate());

        Assert.Equal("hidden_size", error.Field);
        Assert.Contains("16", error.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// <c>classifier_pooling</c> spellings: ModernBERT's <c>"cls"</c> and <c>"mean"</c> (configuration_modernbert.py,
    /// ModernBertConfig.__init__, which refuses any other value), and this library's <c>"max"</c> and <c>"pooler"</c>
    /// (docs/file-formats.md), with the <see cref="PoolingMode"/> each means.
    /// </summary>
    private static readonly Dictionary<string, PoolingMode> PoolingSpellings = new(StringComparer.Ordinal)
    {
        ["pooler"] = PoolingMode.Pooler,
        ["cls"] = PoolingMode.Cls,
        ["mean"] = PoolingMode.Mean,
        ["max"] = PoolingMode.Max,
    };

    public static TheoryData<string, PoolingMode> ClassifierPoolingSpellings()
    {
        var data = new TheoryData<string, PoolingMode>();
        foreach (var (spelling, pooling) in PoolingSpellings)
        {
            data.Add(spelling, pooling);
        }
        return data;
    }

    [Fact]
    public void Every_pooling_has_a_classifier_pooling_spelling()
    {
        Assert.Equal(Enum.GetValues<PoolingMode>().Order(), PoolingSpellings.Values.Order());
    }

    [Theory]
    [MemberData(nameof(ClassifierPoolingSpellings))]
    public void Each_classifier_pooling_spelling_is_read_as_its_pooling(string spelling, PoolingMode pooling)
    {
        Assert.Equal(pooling, BertConfig.Parse($$"""{"classifier_pooling": "{{spelling}}"}""").ClassifierPooling);
    }

    [Theory]
    [MemberData(nameof(ClassifierPoolingSpellings))]
    public void Each_pooling_but_the_pooler_is_written_and_read_back_the_pooler_leaves_the_field_out(string spelling, PoolingMode pooling)
    {
        var json = (TinyModels.Config() with { ClassifierPooling = pooling }).ToJson();
        using var document = JsonDocument.Parse(json);

        bool written = document.RootElement.TryGetProperty("classifier_pooling", out var field);
        // Absent means the pooler, so configs that keep transformers' behaviour are written as transformers writes them.
        Assert.Equal(pooling != PoolingMode.Pooler, written);
        if (written)
        {
            Assert.Equal(spelling, field.GetString());
        }
        Assert.Equal(pooling, BertConfig.Parse(json).ClassifierPooling);
    }

    [Theory]
    [MemberData(nameof(FixtureModels))]
    public void A_transformers_config_without_the_field_pools_with_the_pooler(string model)
    {
        Assert.False(ReadFixtureJson(model).TryGetProperty("classifier_pooling", out _));

        Assert.Equal(PoolingMode.Pooler, BertConfig.Load(ConfigPath(model)).ClassifierPooling);
    }

    [Theory]
    [InlineData("\"avg\"", "'avg' is not one of pooler, cls, mean, max")]
    [InlineData("\"Mean\"", "'Mean' is not one of pooler, cls, mean, max")]
    [InlineData("\"CLS\"", "'CLS' is not one of pooler, cls, mean, max")]
    [InlineData("1", "classifier_pooling must be a string, found 1")]
    public void An_unknown_classifier_pooling_is_refused_naming_the_field_and_the_allowed_values(string value, string message)
    {
        var error = ParseFails($$"""{"classifier_pooling": {{value}}}""");

        Assert.Equal("classifier_pooling", error.Field);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_refuses_a_classifier_pooling_outside_the_enum()
    {
        var error = Assert.Throws<BertConfigException>(() => (TinyModels.Config() with { ClassifierPooling = (PoolingMode)9 }).Validate());

        Assert.Equal("classifier_pooling", error.Field);
        Assert.Contains("Pooler, Cls, Mean, Max", error.Message, StringComparison.Ordinal);
    }
}
