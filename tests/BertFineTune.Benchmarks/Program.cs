using BertFineTune.Benchmarks;

// Benchmarks print each figure next to a reference measured in the same run.
//   dotnet run -c Release --project tests/BertFineTune.Benchmarks -- tokenizer [--vocab <vocab.txt>] [--file <text file>] [--json <out.json>]
const string Usage = "usage: BertFineTune.Benchmarks tokenizer [--vocab <vocab.txt>] [--file <text file>] [--json <out.json>]";
if (args.Length == 0 || args[0] != "tokenizer")
{
    Console.Error.WriteLine(Usage);
    return 2;
}
var options = new Dictionary<string, string>(StringComparer.Ordinal);
for (int i = 1; i + 1 < args.Length; i += 2)
{
    options[args[i]] = args[i + 1];
}
var shared = Path.Combine("..", "shared");
return TokenizerBenchmark.Run(
    options.GetValueOrDefault("--vocab", Path.Combine(shared, "fixtures", "vocab", "bert-base-uncased-vocab.txt")),
    options.GetValueOrDefault("--file", Path.Combine(shared, "datasets", "sentence-classification", "stsa.binary.train")),
    options.GetValueOrDefault("--json"));
