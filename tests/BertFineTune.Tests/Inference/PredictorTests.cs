using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Inference;
using BertFineTune.Modeling;
using BertFineTune.Tokenization;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Inference;

public class PredictorTests
{
    private static TaskModel Load(string name) => BertModelBuilder.FromPretrained(Fixtures.Model(name)).Build();

    [Theory]
    [InlineData(global::BertFineTune.Conformance.PipelineRuntime.Torch)]
    [InlineData(global::BertFineTune.Conformance.PipelineRuntime.Onnx)]
    public void Every_pipeline_fixture_row_matches_transformers(global::BertFineTune.Conformance.PipelineRuntime runtime)
    {
        foreach (var fixture in new[] { "text_classification", "token_classification", "fill_mask" })
        {
            var results = global::BertFineTune.Conformance.PipelineComparison.Run(Path.Combine(Fixtures.HfReference, $"pipeline_{fixture}.json"), Path.Combine(Fixtures.HfReference, "models"), runtime);
            Assert.NotEmpty(results);
            Assert.True(results.All(r => r.Passed), string.Join("\n", results.Where(r => !r.Passed).Select(r => $"{fixture} row {r.Index}: {r.Mismatch}")));
        }
    }

    [Fact]
    public void The_score_function_follows_the_problem_type_as_transformers_chooses_it()
    {
        using var single = Load("seq_cls");
        using var multi = Load("seq_multilabel");
        using var regression = Load("seq_regression");

        Assert.Equal(ScoreFunction.Softmax, single.CreateTextClassificationPredictor().DefaultFunction);
        Assert.Equal(ScoreFunction.Sigmoid, multi.CreateTextClassificationPredictor().DefaultFunction);
        // seq_regression has one label and no problem_type in its config: transformers infers sigmoid from num_labels == 1.
        var expected = regression.Model.Config.ProblemType == ProblemType.Regression ? ScoreFunction.None : ScoreFunction.Sigmoid;
        Assert.Equal(expected, regression.CreateTextClassificationPredictor().DefaultFunction);
    }

    [Fact]
    public void Softmax_scores_of_all_labels_sum_to_one_and_come_best_first()
    {
        using var model = Load("seq_cls");

        var scores = model.CreateTextClassificationPredictor().Predict("the film was fine", topK: null);

        Assert.Equal(3, scores.Count);
        Assert.Equal(1.0, scores.Sum(s => s.Score), 5);
        Assert.True(scores[0].Score >= scores[1].Score && scores[1].Score >= scores[2].Score);
    }

    [Fact]
    public void Batch_prediction_equals_one_by_one_prediction_in_input_order()
    {
        using var model = Load("seq_cls");
        var classifier = model.CreateTextClassificationPredictor(batchSize: 2);
        string[] texts = ["short", "a much longer sentence about a film that goes on and on", "medium length text here", "x"];

        var batch = classifier.PredictBatch(texts, topK: null);

        for (int i = 0; i < texts.Length; i++)
        {
            var single = classifier.Predict(texts[i], topK: null);
            Assert.Equal(single.Select(s => s.Label), batch[i].Select(s => s.Label));
            Assert.Equal(single.Select(s => s.Score), batch[i].Select(s => s.Score), (a, b) => Math.Abs(a - b) < 1e-5);
        }
    }

    [Fact]
    public void Texts_longer_than_the_model_are_truncated_instead_of_failing()
    {
        using var model = Load("seq_cls");

        var scores = model.CreateTextClassificationPredictor().Predict(string.Join(' ', Enumerable.Repeat("word", 1000)));

        Assert.Single(scores);
    }

    [Fact]
    public void Token_classification_of_a_text_longer_than_the_model_covers_every_token_once()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("token_cls")).WithMaxSequenceLength(16).Build();
        var text = string.Join(' ', Enumerable.Range(0, 60).Select(i => $"w{i % 7}"));
        int tokens = model.Tokenizer.Tokenize(text).Count;

        var entities = model.CreateTokenClassificationPredictor(stride: 4).Predict(text, ignoreLabels: []);

        Assert.Equal(tokens, entities.Count);
        Assert.Equal(Enumerable.Range(1, tokens).Select(i => (int?)i), entities.Select(e => e.Index));
        Assert.True(entities.Zip(entities.Skip(1)).All(p => p.First.Start <= p.Second.Start));
        Assert.All(entities, e => Assert.NotEmpty(model.Tokenizer.Tokenize(text[e.Start..e.End])));
    }

    [Fact]
    public void Ignored_labels_are_left_out()
    {
        using var model = Load("token_cls");
        var all = model.CreateTokenClassificationPredictor().Predict("Alice lives in Paris", ignoreLabels: []);

        var withoutPer = model.CreateTokenClassificationPredictor().Predict("Alice lives in Paris", ignoreLabels: ["B-PER", "I-PER"]);

        Assert.Equal(all.Count(e => e.Entity is not ("B-PER" or "I-PER")), withoutPer.Count);
    }

    [Fact]
    public void Fill_mask_with_targets_scores_only_the_targets()
    {
        using var model = Load("mlm");

        var candidates = model.CreateFillMaskPredictor().Predict("the [MASK] of the model.", topK: 5, targets: ["the", "model"]);

        var only = Assert.Single(candidates);
        Assert.Equal(2, only.Count);
        Assert.Equal(["model", "the"], only.Select(c => c.TokenString).Order());
    }

    [Fact]
    public void Fill_mask_without_a_mask_says_so()
    {
        using var model = Load("mlm");

        var error = Assert.Throws<ArgumentException>(() => model.CreateFillMaskPredictor().Predict("no mask here"));

        Assert.Contains("[MASK]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mean_pooled_embeddings_match_the_reference_mean_pooling()
    {
        using var reference = SafeTensorsFile.Open(Path.Combine(Fixtures.Model("bert_model"), "reference_io.safetensors"));
        using var model = BertForTask.LoadFolder(Fixtures.Model("bert_model"), new FolderLoadOptions { Head = _ => new SentenceEmbeddingHead(PoolingMode.Mean) });
        model.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();

        using var output = model.Forward(new BertBatch(reference.ReadTensor("in.input_ids"), reference.ReadTensor("in.attention_mask"), reference.ReadTensor("in.token_type_ids")));

        var diff = (output["embeddings"] - reference.ReadTensor("out.mean_pooled")).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"max difference {diff}");
    }

    [Fact]
    public void Normalised_embeddings_have_unit_length_and_a_text_is_most_similar_to_itself()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("bert_model")).WithSentenceEmbeddings(PoolingMode.Mean, normalize: true).Build();
        var embedder = model.CreateEmbeddingPredictor();

        var vectors = embedder.EmbedBatch(["a cat sat on the mat", "stock markets fell sharply", "a cat sat on the mat"]);

        Assert.All(vectors, v => Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 5));
        Assert.Equal(1.0, EmbeddingPredictor.CosineSimilarity(vectors[0], vectors[2]), 6);
        Assert.True(EmbeddingPredictor.CosineSimilarity(vectors[0], vectors[1]) < 1.0 - 1e-6);
    }

    [Theory]
    [InlineData(PoolingMode.Cls)]
    [InlineData(PoolingMode.Max)]
    public void Cls_and_max_pooling_pick_the_first_token_or_the_elementwise_maximum(PoolingMode pooling)
    {
        using var model = BertForTask.LoadFolder(Fixtures.Model("bert_model"), new FolderLoadOptions { Head = _ => new SentenceEmbeddingHead(pooling) });
        model.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = tensor(new long[,] { { 101, 2000, 2001, 102, 0 } });
        var mask = tensor(new long[,] { { 1, 1, 1, 1, 0 } });

        using var output = model.Forward(new BertBatch(ids, mask));

        var hidden = output["last_hidden_state"][0];
        var expected = pooling == PoolingMode.Cls ? hidden[0] : hidden.narrow(0, 0, 4).max(0).values;
        Assert.True(output["embeddings"][0].eq(expected).all().item<bool>());
    }
}
