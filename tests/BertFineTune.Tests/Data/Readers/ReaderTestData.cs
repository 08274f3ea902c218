using BertFineTune.Tokenization;

namespace BertFineTune.Tests.Data.Readers;

/// <summary>Paths to the shared datasets, the full uncased tokenizer, and temp files written for a test.</summary>
internal static class ReaderTestData
{
    private static readonly Lazy<BertTokenizer> FullTokenizer = new(() => BertTokenizer.Load(
        Path.Combine(Fixtures.RepositoryRoot, "..", "shared", "fixtures", "vocab", "bert-base-uncased-vocab.txt")));

    /// <summary>../shared/datasets/<paramref name="relative"/>.</summary>
    public static string Dataset(string relative) => Path.Combine(Fixtures.RepositoryRoot, "..", "shared", "datasets", relative);

    /// <summary>The bert-base-uncased tokenizer (lower-cases, strips accents).</summary>
    public static BertTokenizer Tokenizer => FullTokenizer.Value;

    /// <summary>Writes <paramref name="lines"/> joined by "\n" (with a final newline) to <paramref name="name"/> in <paramref name="folder"/>.</summary>
    public static string WriteLines(TempFolder folder, string name, params string[] lines)
    {
        var path = folder.File(name);
        File.WriteAllText(path, string.Join("\n", lines) + "\n");
        return path;
    }

    /// <summary>The id of a vocabulary token.</summary>
    public static int Id(string token) => Tokenizer.TokenToId(token) ?? throw new InvalidOperationException($"'{token}' is not in the vocabulary.");
}
