using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Onnx;
using BertFineTune.Inference;
using BertFineTune.Onnx;

namespace BertFineTune.Tests.Onnx;

/// <summary>
/// BertFineTune.Onnx's predictors against the TorchSharp predictors on the same fixture models: each fixture is exported
/// with its head (TaskModel.ExportOnnxFolder), loaded with OnnxModel.Load and asked the same questions. Both run the same
/// predictor classes (tokenizing, windows, post-processing in BertFineTune.Core), so labels, spans and tokens must be
/// identical and scores may differ only by the float32 rounding of the two runtimes' kernels (1e-5 absolute).
/// </summary>
public class OnnxPredictorTests
{
    private const double Tolerance = 1e-5;

    private static readonly string[] Texts =
    [
        "the film was fine",
        "John Smith lives in New York and works in Paris",
        "x",
        "an unusually long sentence about a film that goes on and on without ever reaching a point worth making",
    ];

    /// <summary>Exports <paramref name="model"/> into <paramref name="temp"/> and loads it back on ONNX Runtime with one thread.</summary>
    private static OnnxModel Export(TaskModel model, TempFolder temp)
    {
        model.ExportOnnxFolder(temp.Path);
        return OnnxModel.Load(temp.Path, new OnnxRuntimeOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 });
    }

    [Theory]
    [InlineData("seq_cls")]
    [InlineData("seq_multilabel")]
    [InlineData("seq_regression")]
    public void Text_classification_on_onnx_runtime_matches_torchsharp_for_single_multi_label_and_regression(string fixture)
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model(fixture)).Build();
        using var temp = new TempFolder();
        using var onnx = Export(model, temp);
        var torch = model.CreateTextClassificationPredictor(batchSize: 3);
        var ort = onnx.CreateTextClassificationPredictor(batchSize: 3);
        string?[] pairs = [null, "a second segment", "y", null];

        Assert.Equal(torch.Labels, ort.Labels);
        Assert.Equal(torch.DefaultFunction, ort.DefaultFunction);
        foreach (var function in new ScoreFunction?[] { null, ScoreFunction.Softmax, ScoreFunction.Sigmoid, ScoreFunction.None })
        {
            AssertSameLabels(torch.PredictBatch(Texts, topK: null, function: function), ort.PredictBatch(Texts, topK: null, function: function));
            AssertSameLabels(torch.PredictBatch(Texts, pairs, topK: null, function: function), ort.PredictBatch(Texts, pairs, topK: null, function: function));
        }
    }

    [Theory]
    [InlineData(AggregationStrategy.None)]
    [InlineData(AggregationStrategy.Simple)]
    [InlineData(AggregationStrategy.First)]
    [InlineData(AggregationStrategy.Average)]
    [InlineData(AggregationStrategy.Max)]
    public void Token_classification_on_onnx_runtime_matches_torchsharp_for_every_aggregation_strategy_with_stride_windows(AggregationStrategy aggregation)
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("token_cls")).Build();
        using var temp = new TempFolder();
        using var onnx = Export(model, temp);
        // token_cls has 128 positions: 60 repetitions make a text of a few hundred tokens, split into stride windows.
        var longText = string.Join(' ', Enumerable.Repeat("John Smith visited Paris", 60));
        string[] texts = [.. Texts, longText];

        var expected = model.CreateTokenClassificationPredictor(batchSize: 2, stride: 16).PredictBatch(texts, aggregation, ignoreLabels: []);
        var actual = onnx.CreateTokenClassificationPredictor(batchSize: 2, stride: 16).PredictBatch(texts, aggregation, ignoreLabels: []);

        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Select(e => (e.Entity, e.Word, e.Start, e.End, e.Index)), actual[i].Select(e => (e.Entity, e.Word, e.Start, e.End, e.Index)));
            Assert.Equal(expected[i].Select(e => e.Score), actual[i].Select(e => e.Score), (a, b) => Math.Abs(a - b) <= Tolerance);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Question_answering_on_onnx_runtime_matches_torchsharp_over_stride_windows(bool handleImpossible)
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("qa")).Build();
        using var temp = new TempFolder();
        using var onnx = Export(model, temp);
        var context = string.Join(' ', Enumerable.Repeat("The treaty was signed in Paris in 1783 by the delegates of both nations.", 12));
        // Windows of 32 tokens sharing 8: the context spreads over many windows.
        var options = new QuestionAnsweringOptions { TopK = 5, MaxSequenceLength = 32, DocStride = 8, HandleImpossibleAnswer = handleImpossible };

        var expected = model.CreateQuestionAnsweringPredictor(batchSize: 3).Predict("where was the treaty signed?", context, options);
        var actual = onnx.CreateQuestionAnsweringPredictor(batchSize: 3).Predict("where was the treaty signed?", context, options);

        Assert.Equal(expected.Select(a => (a.Start, a.End, a.Text)), actual.Select(a => (a.Start, a.End, a.Text)));
        Assert.Equal(expected.Select(a => a.Score), actual.Select(a => a.Score), (a, b) => Math.Abs(a - b) <= Tolerance);
    }

    [Fact]
    public void Fill_mask_on_onnx_runtime_matches_torchsharp_for_top_k_targets_and_two_masks()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("mlm")).Build();
        using var temp = new TempFolder();
        using var onnx = Export(model, temp);
        var torch = model.CreateFillMaskPredictor();
        var ort = onnx.CreateFillMaskPredictor();
        var mask = model.Tokenizer.Options.MaskToken;
        var targets = new[] { "the", "a", "film" }.Where(t => model.Tokenizer.TokenToId(t) is not null).ToList();
        Assert.NotEmpty(targets);

        foreach (var (text, topK, useTargets) in new[] { ($"the {mask} was fine", 5, false), ($"the {mask} was fine", 5, true), ($"{mask} film was {mask}", 3, false) })
        {
            var expected = torch.Predict(text, topK, useTargets ? targets : null);
            var actual = ort.Predict(text, topK, useTargets ? targets : null);
            Assert.Equal(expected.Count, actual.Count);
            for (int m = 0; m < expected.Count; m++)
            {
                Assert.Equal(expected[m].Select(p => (p.Token, p.TokenString, p.Sequence)), actual[m].Select(p => (p.Token, p.TokenString, p.Sequence)));
                Assert.Equal(expected[m].Select(p => p.Score), actual[m].Select(p => p.Score), (a, b) => Math.Abs(a - b) <= Tolerance);
            }
        }
    }

    [Theory]
    [InlineData(PoolingMode.Mean, true)]
    [InlineData(PoolingMode.Cls, false)]
    [InlineData(PoolingMode.Max, false)]
    public void Embeddings_on_onnx_runtime_match_torchsharp(PoolingMode pooling, bool normalize)
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("bert_model")).WithSentenceEmbeddings(pooling, normalize).Build();
        using var temp = new TempFolder();
        using var onnx = Export(model, temp);

        var expected = model.CreateEmbeddingPredictor(batchSize: 2).EmbedBatch(Texts);
        var actual = onnx.CreateEmbeddingPredictor(batchSize: 2).EmbedBatch(Texts);

        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Length, actual[i].Length);
            Assert.Equal(expected[i].Select(x => (double)x), actual[i].Select(x => (double)x), (a, b) => Math.Abs(a - b) <= Tolerance);
        }
    }

    [Fact]
    public void The_export_folder_holds_the_graph_config_and_tokenizer_and_the_model_reads_them()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        using var temp = new TempFolder();
        using var onnx = Export(model, temp);

        foreach (var file in new[] { "model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt" })
        {
            Assert.True(File.Exists(temp.File(file)), file);
        }
        Assert.Equal(model.Model.Config.Labels, onnx.Config.Labels);
        Assert.Equal(model.Tokenizer.VocabularySize, onnx.Tokenizer.VocabularySize);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], onnx.InputNames);
        Assert.Equal(["logits"], onnx.OutputNames);
    }

    [Fact]
    public void A_graph_without_token_type_ids_is_fed_only_the_inputs_it_declares()
    {
        // An export without token_type_ids (as optimum writes for models that never use segments): the input is removed
        // and the graph computes it as input_ids × 0, so single texts (all segment ids 0) must predict exactly as before.
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        using var full = new TempFolder();
        using var reduced = new TempFolder();
        model.ExportOnnxFolder(full.Path);
        model.ExportOnnxFolder(reduced.Path);
        var graphFile = reduced.File("model.onnx");
        var proto = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(graphFile));
        proto.Graph.Input.Remove(proto.Graph.Input.Single(i => i.Name == "token_type_ids"));
        proto.Graph.Initializer.Add(new global::Onnx.TensorProto
        {
            Name = "zero_int64",
            DataType = (int)global::Onnx.TensorProto.Types.DataType.Int64,
            Int64Data = { 0L },
        });
        proto.Graph.Node.Insert(0, new global::Onnx.NodeProto { OpType = "Mul", Name = "token_type_ids_zero", Input = { "input_ids", "zero_int64" }, Output = { "token_type_ids" } });
        File.WriteAllBytes(graphFile, Google.Protobuf.MessageExtensions.ToByteArray(proto));
        using var withTypes = OnnxModel.Load(full.Path);
        using var withoutTypes = OnnxModel.Load(reduced.Path);

        Assert.Equal(["input_ids", "attention_mask"], withoutTypes.InputNames);
        AssertSameLabels(withTypes.CreateTextClassificationPredictor().PredictBatch(Texts, topK: null),
            withoutTypes.CreateTextClassificationPredictor().PredictBatch(Texts, topK: null));
    }

    [Fact]
    public void One_onnx_predictor_shared_by_many_threads_gives_each_the_result_it_gives_alone()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        using var temp = new TempFolder();
        model.ExportOnnxFolder(temp.Path);
        // Two intra-op threads, so that ONNX Runtime's own pool is shared by the concurrent calls as in a service.
        using var onnx = OnnxModel.Load(temp.Path, new OnnxRuntimeOptions { IntraOpNumThreads = 2 });
        var predictor = onnx.CreateTextClassificationPredictor(batchSize: 2);
        var alone = Texts.Select(text => predictor.Predict(text, topK: null)).ToList();

        var together = new IReadOnlyList<LabelScore>[64];
        Parallel.For(0, together.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 },
            i => together[i] = predictor.Predict(Texts[i % Texts.Length], topK: null));

        for (int i = 0; i < together.Length; i++)
        {
            // The same graph on the same input: ONNX Runtime's CPU kernels are deterministic, so the scores are equal, not close.
            Assert.Equal(alone[i % Texts.Length], together[i]);
        }
    }

    [Fact]
    public void An_int8_export_folder_loads_and_predicts_a_distribution_over_the_same_labels()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        using var temp = new TempFolder();
        model.ExportOnnxFolder(temp.Path, new OnnxExportOptions { Quantization = OnnxQuantization.DynamicInt8 });
        using var onnx = OnnxModel.Load(temp.Path);

        var scores = onnx.CreateTextClassificationPredictor().PredictBatch(Texts, topK: null);

        Assert.All(scores, s =>
        {
            Assert.Equal(model.Model.Config.Labels.Order(StringComparer.Ordinal), s.Select(l => l.Label).Order(StringComparer.Ordinal));
            Assert.Equal(1.0, s.Sum(l => l.Score), 5);
        });
    }

    [Theory]
    [InlineData("model.onnx")]
    [InlineData("config.json")]
    [InlineData("tokenizer")]
    public void A_folder_missing_a_file_is_refused_naming_the_file(string missing)
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        using var temp = new TempFolder();
        model.ExportOnnxFolder(temp.Path);
        string[] deleted = missing == "tokenizer" ? ["tokenizer.json", "vocab.txt"] : [missing];
        foreach (var file in deleted)
        {
            File.Delete(temp.File(file));
        }

        var error = Assert.Throws<FileNotFoundException>(() => OnnxModel.Load(temp.Path));

        Assert.Contains(temp.Path, error.Message, StringComparison.Ordinal);
        Assert.All(deleted, file => Assert.Contains(file, error.Message, StringComparison.Ordinal));
    }

    [Fact]
    public void A_missing_folder_is_refused_naming_it()
    {
        var folder = Path.Combine(Path.GetTempPath(), "bertfinetune-tests", "no-such-onnx-folder");

        var error = Assert.Throws<DirectoryNotFoundException>(() => OnnxModel.Load(folder));

        Assert.Contains(folder, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_predictor_for_another_head_is_refused_naming_the_outputs_it_needs_and_the_graph_has()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        using var temp = new TempFolder();
        using var onnx = Export(model, temp);

        var tokens = Assert.Throws<ArgumentException>(() => onnx.CreateTokenClassificationPredictor());
        var answers = Assert.Throws<ArgumentException>(() => onnx.CreateQuestionAnsweringPredictor());
        var embeddings = Assert.Throws<ArgumentException>(() => onnx.CreateEmbeddingPredictor());
        var fill = Assert.Throws<ArgumentException>(() => onnx.CreateFillMaskPredictor());

        Assert.Contains("\"logits\" of rank 3", tokens.Message, StringComparison.Ordinal);
        Assert.Contains("\"start_logits\"", answers.Message, StringComparison.Ordinal);
        Assert.Contains("\"embeddings\"", embeddings.Message, StringComparison.Ordinal);
        Assert.Contains("logits (rank 2)", fill.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_json_with_another_label_count_than_the_graph_is_refused()
    {
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        using var temp = new TempFolder();
        model.ExportOnnxFolder(temp.Path);
        (model.Model.Config with { Labels = ["a", "b"] }).Save(temp.Path);
        using var onnx = OnnxModel.Load(temp.Path);

        var error = Assert.Throws<ArgumentException>(() => onnx.CreateTextClassificationPredictor());

        Assert.Contains("config.json gives 2", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, null, -0)]
    [InlineData(null, 0, 0)]
    [InlineData(null, null, -1)]
    public void Thread_counts_below_one_and_a_negative_cuda_device_are_refused(int? intra, int? inter, int device)
    {
        using var temp = new TempFolder();

        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxModel.Load(temp.Path,
            new OnnxRuntimeOptions { IntraOpNumThreads = intra, InterOpNumThreads = inter, CudaDeviceId = device }));
    }

    [Fact]
    public void Cuda_without_the_gpu_runtime_is_refused_with_how_to_get_it()
    {
        // The test project references Microsoft.ML.OnnxRuntime, the CPU-only build: its CUDA provider cannot start.
        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        using var temp = new TempFolder();
        model.ExportOnnxFolder(temp.Path);

        var error = Assert.Throws<InvalidOperationException>(() => OnnxModel.Load(temp.Path, new OnnxRuntimeOptions { ExecutionProvider = OnnxExecutionProvider.Cuda }));

        Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu", error.Message, StringComparison.Ordinal);
    }

    private static void AssertSameLabels(IReadOnlyList<IReadOnlyList<LabelScore>> expected, IReadOnlyList<IReadOnlyList<LabelScore>> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Select(l => l.Label), actual[i].Select(l => l.Label));
            Assert.Equal(expected[i].Select(l => l.Score), actual[i].Select(l => l.Score), (a, b) => Math.Abs(a - b) <= Tolerance);
        }
    }
}
