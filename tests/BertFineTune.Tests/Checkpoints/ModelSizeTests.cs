using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Tests.Cli;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints;

/// <summary>
/// Issue 15, item 6: sizes read from config.json are bounded before anything is built: by the checkpoint's tensor
/// shapes (safetensors header only) when weights are loaded, and by the memory the process may use; a native
/// allocation failure is reported with the sizes, without C++ frames.
/// </summary>
public sealed class ModelSizeTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>A copy of the seq_cls fixture (hidden 32, 2 layers, vocab 8000, positions 128, intermediate 64) with config.json's <paramref name="field"/> set.</summary>
    private string SeqClsWith(string field, long value)
    {
        var folder = _folder.File($"{field}-{value}");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(Fixtures.Model("seq_cls")))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }
        var configPath = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config[field] = value;
        File.WriteAllText(configPath, config.ToJsonString());
        return folder;
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The parameter count formula.
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// bert-base-uncased: 109,482,240 parameters, the number transformers prints for
    /// <c>BertModel(BertConfig()).num_parameters()</c> (the defaults are bert-base's sizes).
    /// </summary>
    [Fact]
    public void The_formula_gives_bert_base_its_known_count() =>
        Assert.Equal((Int128)109_482_240, ModelSize.ParameterCount(new BertConfig()));

    /// <summary>The formula against the parameters the encoder actually allocates, over a grid of shapes.</summary>
    [Theory]
    [InlineData(50, 16, 2, 2, 24, 32, 2)]
    [InlineData(97, 8, 1, 1, 5, 7, 1)]
    [InlineData(10, 12, 3, 3, 48, 20, 4)]
    [InlineData(1, 4, 5, 2, 1, 1, 3)]
    public void The_formula_counts_the_parameters_the_encoder_allocates(int vocab, int hidden, int layers, int heads, int intermediate, int positions, int types)
    {
        var config = new BertConfig
        {
            VocabSize = vocab, HiddenSize = hidden, NumHiddenLayers = layers, NumAttentionHeads = heads,
            IntermediateSize = intermediate, MaxPositionEmbeddings = positions, TypeVocabSize = types,
        };
        using var model = new BertForTask(config, new SequenceClassificationHead(config));
        long allocated = model.Encoder.parameters().Sum(p => p.numel());
        Assert.Equal((Int128)allocated, ModelSize.ParameterCount(config));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Sizes backed by the checkpoint's shapes.
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// The issue's examples (num_hidden_layers 100000, hidden_size 2^30, vocab_size 2^31−1) and the other size fields, each
    /// off by a little or a lot: refused before the model is built, naming the field, the tensor whose shape gives it and
    /// both values. Expected values are the fixture's shapes (seq_cls: word embeddings [8000, 32], positions [128, 32],
    /// token types [2, 32], layer 0 intermediate [64, 32], layers 0 and 1).
    /// </summary>
    [Theory]
    [InlineData("num_hidden_layers", 100_000, "bert.encoder.layer.1.", "holds weights for layers 0 to 1 only", "Set num_hidden_layers to 2")]
    [InlineData("num_hidden_layers", 3, "bert.encoder.layer.1.", "holds weights for layers 0 to 1 only", "Set num_hidden_layers to 2")]
    [InlineData("hidden_size", 1L << 30, "bert.embeddings.word_embeddings.weight", "has shape [8000, 32]", "Set hidden_size to 32")]
    [InlineData("hidden_size", 64, "bert.embeddings.word_embeddings.weight", "has shape [8000, 32]", "Set hidden_size to 32")]
    [InlineData("vocab_size", int.MaxValue, "bert.embeddings.word_embeddings.weight", "has shape [8000, 32]", "Set vocab_size to 8000")]
    [InlineData("vocab_size", 7999, "bert.embeddings.word_embeddings.weight", "has shape [8000, 32]", "Set vocab_size to 8000")]
    [InlineData("max_position_embeddings", 1 << 30, "bert.embeddings.position_embeddings.weight", "has shape [128, 32]", "Set max_position_embeddings to 128")]
    [InlineData("type_vocab_size", 3, "bert.embeddings.token_type_embeddings.weight", "has shape [2, 32]", "Set type_vocab_size to 2")]
    [InlineData("intermediate_size", 1 << 30, "bert.encoder.layer.0.intermediate.dense.weight", "has shape [64, 32]", "Set intermediate_size to 64")]
    public void A_size_the_weights_do_not_have_is_refused_before_building(string field, long value, string tensor, string shape, string fix)
    {
        var folder = SeqClsWith(field, value);
        var error = Assert.Throws<BertConfigException>(() => BertModelBuilder.FromPretrained(folder).Build().Dispose());
        Assert.Equal(field, error.Field);
        Assert.Equal(Path.Combine(folder, "config.json"), error.FilePath);
        Assert.Contains($"{field} is {value}", error.Message, StringComparison.Ordinal);
        Assert.Contains(tensor, error.Message, StringComparison.Ordinal);
        Assert.Contains(shape, error.Message, StringComparison.Ordinal);
        Assert.Contains(fix, error.Message, StringComparison.Ordinal);

        // The library's loader underneath the builder refuses the same way.
        var direct = Assert.Throws<BertConfigException>(() => BertForTask.LoadFolder(folder).Dispose());
        Assert.Equal(field, direct.Field);
    }

    /// <summary>Fewer layers than the checkpoint holds still load (transformers: the extra layers are unused keys).</summary>
    [Fact]
    public void Fewer_layers_than_the_weights_hold_still_load()
    {
        using var model = BertForTask.LoadFolder(SeqClsWith("num_hidden_layers", 1));
        Assert.Contains(model.LoadReport!.UnexpectedKeys, k => k.StartsWith("bert.encoder.layer.1.", StringComparison.Ordinal));
        Assert.Empty(model.LoadReport.MissingKeys);
    }

    [Fact]
    public void The_issue_example_fails_in_the_cli_info_command_with_the_field_and_no_native_frames()
    {
        var folder = SeqClsWith("num_hidden_layers", 100_000);
        var result = CliRunner.Run(null, "info", "--model", folder);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("num_hidden_layers is 100000", result.Error, StringComparison.Ordinal);
        Assert.Contains("Set num_hidden_layers to 2", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("frame #", result.Error, StringComparison.Ordinal);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // The bound by memory.
    // ---------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// The issue's examples as new models (no weights to compare with): each needs terabytes (num_hidden_layers 100000:
    /// 708,787,200,000 parameters by the formula; hidden_size 2^30 and vocab_size 2^31−1 more), more than any machine this
    /// runs on, and is refused before allocating, naming the field.
    /// </summary>
    [Theory]
    [InlineData("num_hidden_layers")]
    [InlineData("hidden_size")]
    [InlineData("vocab_size")]
    [InlineData("intermediate_size")]
    [InlineData("max_position_embeddings")]
    public void A_new_model_larger_than_memory_is_refused_naming_the_field(string field)
    {
        var config = field switch
        {
            "num_hidden_layers" => new BertConfig { NumHiddenLayers = 100_000 },
            "hidden_size" => new BertConfig { HiddenSize = 1 << 30, NumAttentionHeads = 16 },
            "vocab_size" => new BertConfig { VocabSize = int.MaxValue },
            "intermediate_size" => new BertConfig { IntermediateSize = int.MaxValue },
            _ => new BertConfig { MaxPositionEmbeddings = int.MaxValue },
        };
        var tokenizer = BertTokenizer.Load(Path.Combine(Fixtures.HfReference, "vocab8k.txt"));
        var error = Assert.Throws<BertConfigException>(() =>
            BertModelBuilder.FromConfig(config, tokenizer).WithSequenceClassification(["a", "b"]).Build().Dispose());
        Assert.Equal(field, error.Field);
        Assert.Contains("of memory this process may use", error.Message, StringComparison.Ordinal);
        Assert.Contains($"{field} {Value(config, field)} is the size to check", error.Message, StringComparison.Ordinal);
    }

    private static int Value(BertConfig c, string field) => field switch
    {
        "num_hidden_layers" => c.NumHiddenLayers,
        "hidden_size" => c.HiddenSize,
        "vocab_size" => c.VocabSize,
        "intermediate_size" => c.IntermediateSize,
        _ => c.MaxPositionEmbeddings,
    };

    /// <summary>The bound is the float32 bytes of the formula's count: exactly that many bytes pass, one fewer fails.</summary>
    [Fact]
    public void The_bound_is_four_bytes_per_parameter()
    {
        var config = new BertConfig();
        long bytes = 109_482_240L * 4;
        ModelSize.CheckFitsMemory(config, "config.json", availableBytes: bytes);
        var error = Assert.Throws<BertConfigException>(() => ModelSize.CheckFitsMemory(config, "config.json", availableBytes: bytes - 1));
        Assert.Contains("109,482,240 parameters", error.Message, StringComparison.Ordinal);
        Assert.Contains("num_hidden_layers 12 × 7,087,872 parameters per layer", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The field named is the one whose value, at transformers' default, shrinks the model most.</summary>
    [Theory]
    [InlineData(30522, 768, 24, 3072, 512, "num_hidden_layers")]
    [InlineData(250_000, 768, 12, 3072, 512, "vocab_size")]
    [InlineData(30522, 4096, 12, 3072, 512, "hidden_size")]
    [InlineData(30522, 768, 12, 100_000, 512, "intermediate_size")]
    [InlineData(30522, 768, 12, 3072, 10_000_000, "max_position_embeddings")]
    public void The_culprit_is_the_field_that_inflates_the_model_most(int vocab, int hidden, int layers, int intermediate, int positions, string expected)
    {
        var config = new BertConfig
        {
            VocabSize = vocab, HiddenSize = hidden, NumHiddenLayers = layers, IntermediateSize = intermediate,
            MaxPositionEmbeddings = positions, NumAttentionHeads = 16,
        };
        var error = Assert.Throws<BertConfigException>(() => ModelSize.CheckFitsMemory(config, "config.json", availableBytes: 1));
        Assert.Equal(expected, error.Field);
    }

    /// <summary>
    /// A real allocation failure from libtorch (a tensor of 2^50 floats) carries C++ frames in its message; the exception
    /// the build boundary throws instead keeps only the first line, with the model's sizes.
    /// </summary>
    [Fact]
    public void A_native_allocation_failure_is_reported_with_the_sizes_and_without_frames()
    {
        var native = Assert.ThrowsAny<Exception>(() => empty(1L << 50, dtype: ScalarType.Float32).Dispose());
        Assert.True(ModelSize.IsNativeFailure(native), native.GetType().FullName);
        var config = new BertConfig { VocabSize = 1_000_000 };
        var reported = ModelSize.AllocationFailed(config, "m/config.json", native);
        Assert.StartsWith("m/config.json: building the model (", reported.Message, StringComparison.Ordinal);
        Assert.Contains("vocab_size 1000000", reported.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", reported.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("frame #", reported.Message, StringComparison.Ordinal);
        Assert.Null(reported.InnerException);
    }
}
