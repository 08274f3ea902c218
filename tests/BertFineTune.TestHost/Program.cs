using System.Globalization;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Training;
using static TorchSharp.torch;

// Usage: BertFineTune.TestHost train-forever <output folder> [save total limit]
// Trains a tiny random model without end, saving a checkpoint after every step into the folder, and resumes from the
// newest complete checkpoint there when one exists. The tests kill it at random instants.
//
// Usage: BertFineTune.TestHost read-truncated <file.safetensors>
// Opens the file, truncates it to its header (as another process rewriting it would), then reads every tensor: exits 0
// when the reader reports the change as an error, 3 when it reads without noticing; a crash (SIGBUS from a memory
// mapping) ends the process by signal, which the test sees as a failure without the test runner dying with it.
if (args.Length == 2 && args[0] == "read-truncated")
{
    return TruncationProbe.Run(args[1]);
}

// Usage: BertFineTune.TestHost save-forever <model folder> <output folder>
// Loads the model and saves it into the output folder without end, as train's final save does (ModelFolder.Replace:
// the model, then a file beside it), save k with classifier.bias filled with k and version.txt holding k, so a test
// that kills it can tell whether the folder it finds mixes two saves.
if (args.Length == 3 && args[0] == "save-forever")
{
    using var saved = BertFineTune.Builder.BertModelBuilder.FromPretrained(args[1]).Build();
    var bias = saved.Model.state_dict()["classifier.bias"];
    int first = File.Exists(Path.Combine(args[2], "version.txt")) ? int.Parse(File.ReadAllText(Path.Combine(args[2], "version.txt")), CultureInfo.InvariantCulture) + 1 : 1;
    Console.WriteLine("saving");
    Console.Out.Flush();
    for (int version = first; ; version++)
    {
        using (no_grad())
        {
            bias.fill_(version);
        }
        ModelFolder.Replace(args[2], folder =>
        {
            // As OutputFolder.Save: written into the folder Replace hands out, no second swap inside.
            saved.WriteInto(folder);
            File.WriteAllText(Path.Combine(folder, "version.txt"), version.ToString(CultureInfo.InvariantCulture));
        });
    }
}

// Usage: BertFineTune.TestHost omp-env
// Loads libtorch through the library (TorchThreads.Count), then prints the OpenMP variables of the process's native
// environment, which libgomp read while loading: the test checks the library set OMP_WAIT_POLICY there, or kept the user's.
if (args.Length == 1 && args[0] == "omp-env")
{
    Console.WriteLine($"threads={BertFineTune.Runtime.TorchThreads.Count}");
    foreach (var name in new[] { "OMP_WAIT_POLICY", "GOMP_SPINCOUNT" })
    {
        Console.WriteLine($"{name}={BertFineTune.Runtime.OpenMpWaitPolicy.NativeGet(name) ?? "(unset)"}");
    }
    Console.WriteLine($"decision={BertFineTune.Runtime.OpenMpWaitPolicy.Description}");
    return 0;
}

if (args.Length < 2 || args[0] != "train-forever")
{
    Console.Error.WriteLine("usage: BertFineTune.TestHost train-forever <output folder> [save total limit] | save-forever <model folder> <output folder> | read-truncated <file.safetensors> | omp-env");
    return 2;
}

var output = Path.GetFullPath(args[1]);
int? limit = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : null;
var newest = Directory.Exists(output)
    ? Directory.GetDirectories(output, "checkpoint-*")
        .Select(d => (Folder: d, Ok: int.TryParse(Path.GetFileName(d)["checkpoint-".Length..], NumberStyles.None, CultureInfo.InvariantCulture, out var step), Step: step))
        .Where(c => c.Ok && File.Exists(Path.Combine(c.Folder, "trainer_state.json")))
        .OrderBy(c => c.Step)
        .Select(c => c.Folder)
        .LastOrDefault()
    : null;

var config = TestHostSetup.Config();
random.manual_seed(1);
using var model = new BertForTask(config, new SequenceClassificationHead(config));
var options = TestHostSetup.Options(output) with
{
    MaxSteps = 1_000_000,
    SaveTotalLimit = limit,
    ResumeFromCheckpoint = newest,
};
Console.WriteLine(newest is null ? "starting" : $"resuming from {newest}");
Console.Out.Flush();
new Trainer(model, options).Train(new InMemoryExamples(TestHostSetup.Examples()));
return 0;

/// <summary>The model, data and options of the host; the tests build the same to resume what it left.</summary>
internal static class TestHostSetup
{
    public static BertConfig Config() => new()
    {
        VocabSize = 50,
        HiddenSize = 16,
        NumHiddenLayers = 2,
        NumAttentionHeads = 2,
        IntermediateSize = 24,
        MaxPositionEmbeddings = 32,
        Labels = ["L0", "L1", "L2"],
    };

    public static List<EncodedExample> Examples()
    {
        var rng = new Random(3);
        return Enumerable.Range(0, 16).Select(_ =>
        {
            var ids = Enumerable.Range(0, rng.Next(3, 10)).Select(k => k == 0 ? 1 : rng.Next(2, 50)).ToArray();
            return EncodedExample.WithLabel(ids, null, TargetValue.Integer(ids.Sum() % 3));
        }).ToList();
    }

    public static TrainerOptions Options(string output) => new()
    {
        LearningRate = 1e-3,
        Schedule = ScheduleKind.Constant,
        BatchSize = 4,
        OutputDirectory = output,
        SaveEverySteps = 1,
        EvaluateEveryEpoch = false,
        SaveEveryEpoch = false,
        LoggingSteps = 1000,
    };
}

/// <summary>The <c>read-truncated</c> command: a weights file truncated while it is open for loading.</summary>
internal static class TruncationProbe
{
    public static int Run(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        long headerEnd = 8 + BitConverter.ToInt64(File.ReadAllBytes(path).AsSpan(0, 8));
        using (var writer = File.OpenHandle(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            RandomAccess.SetLength(writer, headerEnd);
        }
        foreach (var tensor in file.Tensors)
        {
            try
            {
                file.ReadTensor(tensor.Name).Dispose();
            }
            catch (SafeTensorsFormatException e)
            {
                Console.WriteLine(e.Message);
                return 0;
            }
        }
        Console.WriteLine("every tensor was read from the truncated file");
        return 3;
    }
}
