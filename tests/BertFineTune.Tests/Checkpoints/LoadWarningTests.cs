using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints;

/// <summary>
/// Issue 15 item 5: a checkpoint that matches badly is never silent. The messages and their levels follow transformers'
/// <c>_load_pretrained_model</c> (modeling_utils.py): "Some weights of X were not initialized from the model checkpoint at
/// Y and are newly initialized: [...]" (warning), "Some weights of the model checkpoint at Y were not used when
/// initializing X: [...]" (warning when X is among the checkpoint's architectures, else information), and "... newly
/// initialized because the shapes did not match" (warning). Beyond transformers, a checkpoint that supplied no encoder
/// weight at all is refused unless <see cref="BertModelBuilder.AllowingRandomInitialization"/> is called.
/// </summary>
public class LoadWarningTests
{
    /// <summary>Keeps each message with its level.</summary>
    private sealed class Levels : ILoggerFactory, ILogger
    {
        public List<(LogLevel Level, string Message)> Entries { get; } = [];

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add((logLevel, formatter(state, exception)));

        public IEnumerable<string> At(LogLevel level) => Entries.Where(e => e.Level == level).Select(e => e.Message);
    }

    /// <summary>A copy of fixture <paramref name="model"/> whose tensors are renamed by <paramref name="rename"/> (null drops one).</summary>
    private static string CopyWithKeys(TempFolder temp, string model, Func<string, string?> rename)
    {
        var folder = temp.File(model);
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(Fixtures.Model(model)).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }
        using var checkpoint = SafeTensorsCheckpoint.OpenFolder(Fixtures.Model(model));
        var tensors = new List<KeyValuePair<string, Tensor>>();
        try
        {
            foreach (var name in checkpoint.Names)
            {
                if (rename(name) is { } renamed)
                {
                    tensors.Add(new(renamed, checkpoint.ReadTensor(name)));
                }
            }
            SafeTensorsWriter.Write(Path.Combine(folder, WeightsFiles.SafeWeightsName), tensors);
        }
        finally
        {
            tensors.ForEach(t => t.Value.Dispose());
        }
        return folder;
    }

    [Fact]
    public void A_checkpoint_whose_every_key_is_renamed_is_refused_with_the_keys_and_the_way_out()
    {
        // The issue's example: m/base, a copy of seq_cls, with every key renamed.
        using var temp = new TempFolder();
        var folder = CopyWithKeys(temp, "seq_cls", k => "model." + k);

        var error = Assert.Throws<InvalidOperationException>(() => BertModelBuilder.FromPretrained(folder).Build());

        Assert.Contains("no encoder weight was loaded", error.Message, StringComparison.Ordinal);
        Assert.Contains("model.bert.embeddings", error.Message, StringComparison.Ordinal);
        Assert.Contains("AllowingRandomInitialization()", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Renamed_bare_encoder_keys_are_refused_too_whatever_the_head()
    {
        using var temp = new TempFolder();
        var folder = CopyWithKeys(temp, "bert_model", k => k.Replace("embeddings.", "embed.", StringComparison.Ordinal).Replace("encoder.", "enc.", StringComparison.Ordinal).Replace("pooler.", "pool.", StringComparison.Ordinal));

        Assert.Throws<InvalidOperationException>(() => BertModelBuilder.FromPretrained(folder).WithTokenClassification(["O", "B-X"]).Build());
        Assert.Throws<InvalidOperationException>(() => BertModelBuilder.FromPretrained(folder).WithMaskedLanguageModel().Build());
    }

    [Fact]
    public void An_empty_weight_map_is_refused_and_says_the_checkpoint_has_no_tensors()
    {
        using var temp = new TempFolder();
        var folder = temp.File("empty");
        Directory.CreateDirectory(folder);
        foreach (var file in new[] { "config.json", "tokenizer.json", "tokenizer_config.json" })
        {
            File.Copy(Path.Combine(Fixtures.Model("seq_cls"), file), Path.Combine(folder, file));
        }
        File.WriteAllText(Path.Combine(folder, WeightsFiles.SafeWeightsIndexName), """{"metadata": {}, "weight_map": {}}""");

        var error = Assert.Throws<InvalidOperationException>(() => BertModelBuilder.FromPretrained(folder).Build());
        Assert.Contains("the checkpoint has no tensors", error.Message, StringComparison.Ordinal);

        // Asked for, the model is built from random weights, and the log says every weight is new.
        var logs = new Levels();
        using var model = BertModelBuilder.FromPretrained(folder).AllowingRandomInitialization().UseLoggerFactory(logs).Build();
        var warning = Assert.Single(logs.At(LogLevel.Warning));
        Assert.StartsWith($"Some weights of BertForSequenceClassification were not initialized from the model checkpoint at {folder} and are newly initialized: [", warning, StringComparison.Ordinal);
        Assert.Contains("bert.embeddings.word_embeddings.weight", warning, StringComparison.Ordinal);
        Assert.Contains("classifier.weight", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void Opting_in_to_random_initialisation_builds_and_logs_both_lists()
    {
        using var temp = new TempFolder();
        var folder = CopyWithKeys(temp, "seq_cls", k => "model." + k);
        var logs = new Levels();

        using var model = BertModelBuilder.FromPretrained(folder).AllowingRandomInitialization().UseLoggerFactory(logs).Build();

        var warnings = logs.At(LogLevel.Warning).ToList();
        // seq_cls is a BertForSequenceClassification checkpoint loaded as one, so its unused keys are a warning, as in transformers.
        Assert.Contains(warnings, w => w.StartsWith($"Some weights of the model checkpoint at {folder} were not used when initializing BertForSequenceClassification: [", StringComparison.Ordinal)
            && w.Contains("model.classifier.weight", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.StartsWith("Some weights of BertForSequenceClassification were not initialized", StringComparison.Ordinal)
            && w.Contains("bert.encoder.layer.0.attention.self.query.weight", StringComparison.Ordinal));
        Assert.Equal(model.Model.LoadReport!.MissingKeys.Count, model.Model.state_dict().Count);
    }

    [Fact]
    public void A_partial_match_loads_and_warns_with_the_keys_that_did_not_match()
    {
        using var temp = new TempFolder();
        // Layer 1's attention renamed: layer 0, the rest of layer 1, the embeddings, the pooler and the head still load.
        // (Renaming all of layer 1 would leave num_hidden_layers unbacked by weights, which ModelSize refuses.)
        var folder = CopyWithKeys(temp, "seq_cls", k => k.Replace("layer.1.attention.", "layer.1.attn.", StringComparison.Ordinal));
        var logs = new Levels();

        using var model = BertModelBuilder.FromPretrained(folder).UseLoggerFactory(logs).Build();

        var report = model.Model.LoadReport!;
        Assert.All(report.MissingKeys, k => Assert.StartsWith("bert.encoder.layer.1.attention.", k, StringComparison.Ordinal));
        // A BERT layer's attention has 10 tensors: weight and bias of query, key, value, the output dense and its LayerNorm.
        Assert.Equal(10, report.MissingKeys.Count);
        var warnings = logs.At(LogLevel.Warning).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("newly initialized: [bert.encoder.layer.1.", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.Contains("were not used when initializing BertForSequenceClassification: [bert.encoder.layer.1.attn.", StringComparison.Ordinal));
    }

    [Fact]
    public void A_new_head_on_a_bare_encoder_is_a_warning_and_the_unused_pooler_is_information()
    {
        var logs = new Levels();

        using (BertModelBuilder.FromPretrained(Fixtures.Model("bert_model")).WithSequenceClassification(["x", "y"]).UseLoggerFactory(logs).Build())
        {
        }
        Assert.Equal(
            [$"Some weights of BertForSequenceClassification were not initialized from the model checkpoint at {Fixtures.Model("bert_model")} and are newly initialized: "
            + "[classifier.bias, classifier.weight]. You should probably TRAIN this model on a down-stream task to be able to use it for predictions and inference."],
            logs.At(LogLevel.Warning));

        logs.Entries.Clear();
        using (BertModelBuilder.FromPretrained(Fixtures.Model("bert_model")).WithTokenClassification(["O", "B-X"]).UseLoggerFactory(logs).Build())
        {
        }
        // transformers logs unused keys at info level when the model's class is not the checkpoint's (BertModel here).
        Assert.Contains(logs.At(LogLevel.Information), m => m.Contains("were not used when initializing BertForTokenClassification: [pooler.dense.bias, pooler.dense.weight]", StringComparison.Ordinal));
        Assert.Single(logs.At(LogLevel.Warning), m => m.Contains("newly initialized: [classifier.bias, classifier.weight]", StringComparison.Ordinal));
    }

    [Fact]
    public void A_replaced_head_warns_that_shapes_did_not_match_and_an_exact_match_logs_nothing()
    {
        var logs = new Levels();
        using (BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithSequenceClassification(["a", "b"]).ReplacingExistingHead().UseLoggerFactory(logs).Build())
        {
        }
        var warning = Assert.Single(logs.At(LogLevel.Warning));
        Assert.Contains("newly initialized because the shapes did not match: [", warning, StringComparison.Ordinal);
        Assert.Contains("classifier.weight: checkpoint [3, 32] vs model [2, 32]", warning, StringComparison.Ordinal);

        logs.Entries.Clear();
        using (BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).UseLoggerFactory(logs).Build())
        {
        }
        Assert.Empty(logs.At(LogLevel.Warning));
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains("Some weights", StringComparison.Ordinal));
    }
}
