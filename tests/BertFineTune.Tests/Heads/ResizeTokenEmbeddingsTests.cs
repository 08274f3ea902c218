using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Heads;

/// <summary>
/// <see cref="BertForTask.ResizeTokenEmbeddings"/> and <see cref="BertModelBuilder.WithAddedTokens(IEnumerable{string}, bool)"/>,
/// following transformers' <c>resize_token_embeddings</c> (<c>modeling_utils.py</c>): existing rows kept, new rows the
/// mean of the old ones (<c>mean_resizing</c>), <c>config.vocab_size</c> updated, a tied masked-LM decoder following the
/// embeddings with its bias zero-padded (<c>_tie_or_clone_weights</c>), an untied one resized as <c>_get_resized_lm_head</c>.
/// </summary>
public sealed class ResizeTokenEmbeddingsTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static Tensor Embeddings(BertForTask model) => model.Encoder.Embeddings.WordEmbeddingWeight.detach().clone();

    private static Tensor Parameter(BertForTask model, string name) => model.state_dict()[name].detach().clone();

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void Growing_keeps_the_rows_adds_mean_rows_and_updates_vocab_size()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("mlm"));
        model.eval();
        using var scope = NewDisposeScope();
        var old = Embeddings(model);
        var oldBias = Parameter(model, "cls.predictions.bias");
        var ids = tensor(new long[,] { { 101, 1996, 103, 102 } });
        Tensor before;
        using (no_grad())
        {
            before = model.Forward(new BertBatch(ids)).Logits!.detach().clone();
        }

        model.ResizeTokenEmbeddings(8002);

        var resized = Embeddings(model);
        Assert.Equal([8002L, 32L], resized.shape);
        Assert.True(Same(resized.narrow(0, 0, 8000), old));
        // mean_resizing: each new row is the mean of the old rows.
        var mean = old.mean([0]);
        Assert.True(resized[8000].allclose(mean, rtol: 0, atol: 1e-7));
        Assert.True(resized[8001].allclose(mean, rtol: 0, atol: 1e-7));
        Assert.Equal(8002, model.Config.VocabSize);
        Assert.Equal(8002, model.Encoder.Config.VocabSize);
        // Tied decoder: its bias gets zero entries for the new tokens.
        var bias = Parameter(model, "cls.predictions.bias");
        Assert.Equal([8002L], bias.shape);
        Assert.True(Same(bias.narrow(0, 0, 8000), oldBias));
        Assert.Equal(0f, bias.narrow(0, 8000, 2).abs().sum().item<float>());
        using (no_grad())
        {
            // Old tokens score as before; the new ids are accepted and scored.
            var after = model.Forward(new BertBatch(ids)).Logits!;
            Assert.Equal([1L, 4L, 8002L], after.shape);
            Assert.True(after.narrow(2, 0, 8000).allclose(before, rtol: 0, atol: 1e-6));
            var newIds = tensor(new long[,] { { 8000, 8001 } });
            Assert.Equal([1L, 2L, 8002L], model.Forward(new BertBatch(newIds)).Logits!.shape);
        }
    }

    [Fact]
    public void A_resized_model_saves_and_reloads_at_the_new_size()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("mlm"));
        model.ResizeTokenEmbeddings(8003);
        using var scope = NewDisposeScope();
        model.Save(_folder.Path);

        using var reloaded = BertForTask.LoadFolder(_folder.Path, new FolderLoadOptions { Strict = true });

        Assert.Equal(8003, BertConfig.Load(_folder.File("config.json")).VocabSize);
        Assert.True(Same(Embeddings(reloaded), Embeddings(model)));
        Assert.True(Same(Parameter(reloaded, "cls.predictions.bias"), Parameter(model, "cls.predictions.bias")));
    }

    [Fact]
    public void Pad_to_multiple_of_rounds_up_and_shrinking_drops_the_last_rows()
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("seq_cls"));
        using var scope = NewDisposeScope();
        var old = Embeddings(model);

        // ceil(8001 / 64) * 64 = 8064.
        model.ResizeTokenEmbeddings(8001, padToMultipleOf: 64);
        Assert.Equal(8064, model.Config.VocabSize);
        Assert.Equal(8064L, model.Encoder.Embeddings.WordEmbeddingWeight.shape[0]);

        model.ResizeTokenEmbeddings(7990);
        Assert.True(Same(Embeddings(model), old.narrow(0, 0, 7990)));
        Assert.Equal(7990, model.Config.VocabSize);

        Assert.Throws<ArgumentOutOfRangeException>(() => model.ResizeTokenEmbeddings(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.ResizeTokenEmbeddings(10, padToMultipleOf: 0));
    }

    [Fact]
    public void Without_mean_resizing_new_rows_are_seeded_normal_draws()
    {
        // mean_resizing=False: the new rows are initialised as a new embedding, Normal(0, initializer_range), from the
        // global generator; the same seed gives the same rows.
        Tensor Resized(int seed)
        {
            using var model = new BertForTask(TinyModels.Config(), new SequenceClassificationHead(TinyModels.Config()));
            random.manual_seed(seed);
            model.ResizeTokenEmbeddings(2050, meanResizing: false);
            return Embeddings(model).narrow(0, 50, 2000);
        }
        using var scope = NewDisposeScope();
        var first = Resized(3);

        Assert.True(Same(first, Resized(3)));
        Assert.False(Same(first, Resized(4)));
        Assert.Equal(0.0, first.mean().item<float>(), 0.005);
        Assert.Equal(0.02, first.std().item<float>(), 0.002);
    }

    [Fact]
    public void An_untied_decoder_is_resized_with_the_embeddings()
    {
        var config = TinyModels.Config() with { TieWordEmbeddings = false };
        using var model = new BertForTask(config, new MaskedLanguageModelHead(config));
        using var scope = NewDisposeScope();
        var oldDecoder = Parameter(model, "cls.predictions.decoder.weight");
        using (no_grad())
        {
            model.state_dict()["cls.predictions.bias"].copy_(arange(50, dtype: ScalarType.Float32));
        }

        model.ResizeTokenEmbeddings(52);

        // _get_resized_lm_head with mean_resizing: new decoder rows the mean of the old rows, new bias entries the mean
        // of the old bias (0..49: 24.5).
        var decoder = Parameter(model, "cls.predictions.decoder.weight");
        Assert.Equal([52L, 16L], decoder.shape);
        Assert.True(Same(decoder.narrow(0, 0, 50), oldDecoder));
        Assert.True(decoder[51].allclose(oldDecoder.mean([0]), rtol: 0, atol: 1e-7));
        var bias = Parameter(model, "cls.predictions.bias");
        Assert.Equal([24.5f, 24.5f], bias.narrow(0, 50, 2).data<float>().ToArray());
        using (no_grad())
        {
            var newIds = tensor(new long[,] { { 51 } });
            Assert.Equal([1L, 1L, 52L], model.Forward(new BertBatch(newIds)).Logits!.shape);
        }
    }

    [Fact]
    public void The_builder_adds_tokens_resizes_and_the_saved_model_reloads_with_them()
    {
        using var scope = NewDisposeScope();
        using (var model = BertModelBuilder.FromPretrained(Fixtures.Model("mlm")).WithAddedTokens(["[E1]", "[/E1]"], specialTokens: true).Build())
        {
            // tokenizer.add_special_tokens + model.resize_token_embeddings(len(tokenizer)): 8000 → 8002.
            Assert.Equal<(int?, int?)>((8000, 8001), (model.Tokenizer.TokenToId("[E1]"), model.Tokenizer.TokenToId("[/E1]")));
            Assert.Equal(8002, model.Tokenizer.VocabularySize);
            Assert.Equal(8002, model.Model.Config.VocabSize);
            Assert.Equal([101, 8000, 1996, 8001, 103, 102], model.Tokenizer.Encode("[E1] the [/E1] [MASK]").Ids);
            Assert.Single(model.CreateFillMaskPredictor().Predict("[E1] the [/E1] [MASK]"));
            model.Save(_folder.Path);
        }

        using var reloaded = BertModelBuilder.FromPretrained(_folder.Path).Build();
        Assert.Equal(8002, reloaded.Model.Config.VocabSize);
        Assert.Equal([101, 8000, 1996, 8001, 103, 102], reloaded.Tokenizer.Encode("[E1] the [/E1] [MASK]").Ids);
        Assert.True(reloaded.Tokenizer.AddedTokensDecoder[8000].Special);

        // Building again from the saved folder with the same tokens changes nothing.
        using var again = BertModelBuilder.FromPretrained(_folder.Path).WithAddedTokens(["[E1]", "[/E1]"], specialTokens: true).Build();
        Assert.Equal(8002, again.Model.Config.VocabSize);
        Assert.True(Same(Embeddings(again.Model), Embeddings(reloaded.Model)));
    }

    [Fact]
    public void A_tokenizer_larger_than_the_model_without_added_tokens_is_still_refused()
    {
        var tokenizer = BertTokenizer.Load(Fixtures.Model("seq_cls")).AddTokens(["[E1]"], specialTokens: true);

        var e = Assert.Throws<InvalidOperationException>(() => BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).WithTokenizer(tokenizer).Build());

        Assert.Contains("8001 tokens", e.Message, StringComparison.Ordinal);
    }
}
