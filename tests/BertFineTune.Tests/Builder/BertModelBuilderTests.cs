using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Hub;
using BertFineTune.Heads;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Builder;

public class BertModelBuilderTests
{
    [Fact]
    public void Loading_a_fine_tuned_folder_restores_its_head_and_labels_without_being_told()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();

        Assert.IsType<SequenceClassificationHead>(model.Model.Head);
        Assert.Equal(["negative", "neutral", "positive"], model.Labels);
        Assert.True(model.Model.LoadReport!.IsExactMatch);
    }

    [Fact]
    public void A_head_with_another_label_count_than_the_checkpoint_is_refused_with_the_way_out()
    {
        var builder = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithSequenceClassification(["a", "b", "c", "d", "e"]);

        var error = Assert.Throws<InvalidOperationException>(() => builder.Build());

        Assert.Contains("ReplacingExistingHead", error.Message, StringComparison.Ordinal);
        Assert.Contains("classifier.weight", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Replacing_the_existing_head_initialises_a_new_one_with_the_new_labels()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls"))
            .WithSequenceClassification(["a", "b", "c", "d", "e"]).ReplacingExistingHead().Build();

        Assert.Equal(5, model.Labels.Count);
        Assert.Contains(model.Model.LoadReport!.MismatchedKeys, k => k.StartsWith("classifier.weight", StringComparison.Ordinal));
    }

    [Fact]
    public void A_head_on_a_bare_encoder_checkpoint_is_reported_as_newly_initialised()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("bert_model")).WithTokenClassification(["O", "B-X", "I-X"]).Build();

        Assert.Equal(["classifier.bias", "classifier.weight"], model.Model.LoadReport!.MissingKeys);
        // BertForTokenClassification has no pooler, so transformers reports the checkpoint's pooler as not used too.
        Assert.Equal(["pooler.dense.bias", "pooler.dense.weight"], model.Model.LoadReport.UnexpectedKeys);
    }

    [Fact]
    public void A_tokenizer_larger_than_the_model_vocabulary_is_refused()
    {
        var tokenizer = BertTokenizer.Load(Path.Combine(Fixtures.HfReference, "..", "vocab", "bert-base-uncased-vocab.txt"));
        var builder = BertModelBuilder.FromConfig(TinyModels.Config() with { VocabSize = 8000 }, tokenizer).WithSequenceClassification(["a", "b"]);

        var error = Assert.Throws<InvalidOperationException>(() => builder.Build());

        Assert.Contains("30522", error.Message, StringComparison.Ordinal);
        Assert.Contains("vocab_size is 8000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_max_length_beyond_the_position_table_is_refused()
    {
        var builder = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithMaxSequenceLength(129);

        var error = Assert.Throws<InvalidOperationException>(() => builder.Build());

        Assert.Contains("max_position_embeddings 128", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_max_length_limits_the_tokenizer()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithMaxSequenceLength(16).Build();

        Assert.Equal(16, model.MaxSequenceLength);
        Assert.Equal(16, model.Tokenizer.Options.ModelMaxLength);
    }

    [Fact]
    public void Asking_for_cuda_without_it_says_how_to_get_it()
    {
        if (cuda.is_available())
        {
            return; // Only machines without CUDA can show this error.
        }
        var builder = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).UseDevice("cuda:1");

        var error = Assert.Throws<InvalidOperationException>(() => builder.Build());

        Assert.Contains("CUDA is not available", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_built_builder_cannot_be_changed_or_built_again()
    {
        var builder = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls"));
        using var model = builder.Build();

        Assert.Throws<InvalidOperationException>(() => builder.UseDevice("cpu"));
        Assert.Throws<InvalidOperationException>(() => builder.Build());
    }

    [Fact]
    public void Dropout_overrides_reach_the_config()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithDropout(0.0, classifier: 0.2).Build();

        Assert.Equal(0.0, model.Model.Config.HiddenDropoutProb);
        Assert.Equal(0.0, model.Model.Config.AttentionProbsDropoutProb);
        Assert.Equal(0.2, model.Model.Config.ClassifierDropout);
    }

    [Fact]
    public void A_saved_task_model_reloads_with_its_tokenizer_and_predicts_the_same()
    {
        using var temp = new TempFolder();
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        var before = model.CreateTextClassificationPredictor().Predict("a gripping, funny film", topK: null);

        model.Save(temp.Path);
        using var reloaded = BertModelBuilder.FromPretrained(temp.Path).Build();
        var after = reloaded.CreateTextClassificationPredictor().Predict("a gripping, funny film", topK: null);

        Assert.Equal(before, after);
        Assert.True(File.Exists(temp.File("vocab.txt")));
        Assert.Equal(model.Tokenizer.Encode("Crème brûlée, déjà vu!").Ids, reloaded.Tokenizer.Encode("Crème brûlée, déjà vu!").Ids);
    }

    [Fact]
    public void A_custom_head_is_one_WithHead_call_away()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("bert_model"))
            .WithHead(c => new Heads.MeanPoolScoreHead(c), description: "score head").Build();

        Assert.IsType<Heads.MeanPoolScoreHead>(model.Model.Head);
        Assert.Equal(["scorer.bias", "scorer.weight"], model.Model.LoadReport!.MissingKeys);
    }

    [Fact]
    public void A_new_model_from_a_config_gets_the_requested_head()
    {
        var tokenizer = BertTokenizer.Load(Path.Combine(Fixtures.HfReference, "vocab8k.txt"));
        using var model = BertModelBuilder.FromConfig(new BertConfig { VocabSize = 8000, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 64 }, tokenizer)
            .WithRegression().Build();

        Assert.Equal(ProblemType.Regression, model.Model.Config.ProblemType);
        Assert.Equal(64, model.MaxSequenceLength);
    }

    [Fact]
    public void A_failed_build_leaves_the_builder_usable_to_correct_and_build_again()
    {
        var builder = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithSequenceClassification(["a", "b", "c", "d", "e"]);
        Assert.Throws<InvalidOperationException>(() => builder.Build());

        using var model = builder.ReplacingExistingHead().Build();

        Assert.Equal(["a", "b", "c", "d", "e"], model.Labels);
    }

    [Fact]
    public void A_second_head_call_replaces_the_first_entirely_config_change_included()
    {
        // WithMultiLabelClassification sets problem_type; the regression head that replaces it sets its own, and nothing
        // of the first head's config change (its labels, its problem type) may remain.
        var tokenizer = BertTokenizer.Load(Path.Combine(Fixtures.HfReference, "vocab8k.txt"));
        using var model = BertModelBuilder.FromConfig(TinyModels.Config() with { VocabSize = 8000 }, tokenizer)
            .WithMultiLabelClassification(["x", "y", "z"])
            .WithTokenClassification(["O", "B-X"])
            .Build();

        Assert.IsType<TokenClassificationHead>(model.Model.Head);
        Assert.Null(model.Model.Config.ProblemType);
        Assert.Equal(["O", "B-X"], model.Labels);
    }

    [Fact]
    public void A_hub_id_is_resolved_in_Build_not_in_FromPretrained()
    {
        // Offline with an empty cache: resolving fails at once, without any request, so FromPretrained must not resolve.
        using var cache = new TempFolder();
        var options = new HubOptions { Offline = true, CacheDirectory = cache.Path };
        var builder = BertModelBuilder.FromPretrained("no-org/no-model", options);

        var error = Assert.Throws<HubException>(() => builder.Build());
        Assert.Contains("no-org/no-model", error.Message, StringComparison.Ordinal);
    }
}
