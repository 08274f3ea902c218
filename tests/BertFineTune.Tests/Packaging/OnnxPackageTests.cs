using System.Globalization;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Inference;

namespace BertFineTune.Tests.Packaging;

/// <summary>
/// The deployment promise of BertFineTune.Onnx: a console app that references only BertFineTune.Onnx and
/// Microsoft.ML.OnnxRuntime is published, runs every predictor on exported fixture folders, prints what the TorchSharp
/// predictors print for the same inputs, and its publish folder holds no libtorch or LibTorchSharp library.
/// </summary>
public class OnnxPackageTests
{
    private const string Question = "where was the treaty signed?";
    private const string Context = "The treaty was signed in Paris in 1783 by the delegates of both nations.";
    private const string Text = "John Smith lives in New York";

    [Fact]
    public void A_published_app_with_only_BertFineTune_Onnx_runs_every_predictor_and_carries_no_libtorch()
    {
        using var temp = new TempFolder();
        var feed = Directory.CreateDirectory(Path.Combine(temp.Path, "feed")).FullName;
        var app = Directory.CreateDirectory(Path.Combine(temp.Path, "app")).FullName;
        var publish = Path.Combine(temp.Path, "publish");
        var version = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        PackageTests.Pack(feed, version, "BertFineTune.Core", "BertFineTune.Onnx");

        // Export each fixture with its head, and compute what the TorchSharp predictors say.
        var expected = new List<string>();
        string Export(string name, TaskModel model)
        {
            var folder = Path.Combine(temp.Path, name);
            model.ExportOnnxFolder(folder);
            return folder;
        }
        string text, tokens, answers, fill, embed;
        using (var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build())
        {
            text = Export("text", model);
            expected.AddRange(model.CreateTextClassificationPredictor().Predict(Text, topK: null).Select(s => $"text {s.Label} {F(s.Score)}"));
        }
        using (var model = BertModelBuilder.FromPretrained(Fixtures.Model("token_cls")).Build())
        {
            tokens = Export("tokens", model);
            expected.AddRange(model.CreateTokenClassificationPredictor().Predict(Text, AggregationStrategy.Simple, ignoreLabels: [])
                .Select(e => $"token {e.Entity} {e.Start} {e.End} {F(e.Score)}"));
        }
        using (var model = BertModelBuilder.FromPretrained(Fixtures.Model("qa")).Build())
        {
            answers = Export("qa", model);
            expected.AddRange(model.CreateQuestionAnsweringPredictor().Predict(Question, Context, new QuestionAnsweringOptions { TopK = 2 })
                .Select(a => $"answer {a.Start} {a.End} {F(a.Score)}"));
        }
        using (var model = BertModelBuilder.FromPretrained(Fixtures.Model("mlm")).Build())
        {
            fill = Export("mlm", model);
            expected.AddRange(model.CreateFillMaskPredictor().Predict($"the {model.Tokenizer.Options.MaskToken} was fine", topK: 3)[0]
                .Select(p => $"mask {p.Token} {F(p.Score)}"));
        }
        using (var model = BertModelBuilder.FromPretrained(Fixtures.Model("bert_model")).WithSentenceEmbeddings(PoolingMode.Mean, normalize: true).Build())
        {
            embed = Export("embed", model);
            expected.AddRange(model.CreateEmbeddingPredictor().Embed(Text).Take(4).Select(x => $"embedding {F(x)}"));
        }

        PackageTests.WriteConsumerProject(app, feed, ("BertFineTune.Onnx", version), ("Microsoft.ML.OnnxRuntime", "1.31.1"));
        File.WriteAllText(Path.Combine(app, "Program.cs"), $$"""
            using System.Globalization;
            using BertFineTune.Inference;
            using BertFineTune.Onnx;
            static string F(double x) => x.ToString("F5", CultureInfo.InvariantCulture);
            var options = new OnnxRuntimeOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
            using (var model = OnnxModel.Load(args[0], options))
                foreach (var s in model.CreateTextClassificationPredictor().Predict("{{Text}}", topK: null)) Console.WriteLine($"text {s.Label} {F(s.Score)}");
            using (var model = OnnxModel.Load(args[1], options))
                foreach (var e in model.CreateTokenClassificationPredictor().Predict("{{Text}}", AggregationStrategy.Simple, ignoreLabels: [])) Console.WriteLine($"token {e.Entity} {e.Start} {e.End} {F(e.Score)}");
            using (var model = OnnxModel.Load(args[2], options))
                foreach (var a in model.CreateQuestionAnsweringPredictor().Predict("{{Question}}", "{{Context}}", new QuestionAnsweringOptions { TopK = 2 })) Console.WriteLine($"answer {a.Start} {a.End} {F(a.Score)}");
            using (var model = OnnxModel.Load(args[3], options))
                foreach (var p in model.CreateFillMaskPredictor().Predict($"the {model.Tokenizer.Options.MaskToken} was fine", topK: 3)[0]) Console.WriteLine($"mask {p.Token} {F(p.Score)}");
            using (var model = OnnxModel.Load(args[4], options))
                foreach (var x in model.CreateEmbeddingPredictor().Embed("{{Text}}").Take(4)) Console.WriteLine($"embedding {F(x)}");
            """);

        var published = PackageTests.Run(app, $"publish -c Release -o \"{publish}\"");
        Assert.True(published.ExitCode == 0, published.Output);

        var torchFiles = Directory.EnumerateFiles(publish, "*", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f).Contains("torch", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.True(torchFiles.Count == 0, "libtorch/TorchSharp files in the publish folder: " + string.Join(", ", torchFiles));
        Assert.NotEmpty(Directory.EnumerateFiles(publish, "*onnxruntime*", SearchOption.AllDirectories));
        Assert.True(File.Exists(Path.Combine(publish, "BertFineTune.Core.dll")));
        Assert.False(File.Exists(Path.Combine(publish, "BertFineTune.dll")));

        var run = PackageTests.Run(publish, $"app.dll \"{text}\" \"{tokens}\" \"{answers}\" \"{fill}\" \"{embed}\"");

        Assert.True(run.ExitCode == 0, run.Output);
        // Scores printed to 5 decimals: the two runtimes agree within 1e-5 (OnnxPredictorTests), so a printed digit may
        // differ by one in the last place; compare each line's words exactly and its number within 2e-5.
        var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(expected.Count, lines.Length);
        for (int i = 0; i < expected.Count; i++)
        {
            var (want, got) = (expected[i].Split(' '), lines[i].Split(' '));
            Assert.True(want[..^1].SequenceEqual(got[..^1]) && Math.Abs(double.Parse(want[^1], CultureInfo.InvariantCulture) - double.Parse(got[^1], CultureInfo.InvariantCulture)) <= 2e-5,
                $"line {i}: expected '{expected[i]}', got '{lines[i]}'\n{run.Output}");
        }
    }

    private static string F(double x) => x.ToString("F5", CultureInfo.InvariantCulture);
}
