using System.Text;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace BertFineTune.Tests.Samples;

/// <summary>
/// The hand-written sentiment data of samples/QuickStart/data (sentiment-train.tsv, sentiment-dev.tsv) keeps the rules
/// its README promises: the TSV layout, the sizes, the label balance, no repeated sentence, and a dev split whose every
/// sentence uses a word that the train split never uses (so a model trained from random weights cannot solve dev from
/// memorised train words alone). Run with <c>--logger "console;verbosity=detailed"</c> to see the printed statistics.
/// </summary>
public sealed partial class QuickStartDataTests(ITestOutputHelper output)
{
    private static readonly string[] Labels = ["negative", "positive"];

    // Function words ignored by the dev-vocabulary rule: a dev sentence must owe its "unseen word" to a content or
    // sentiment word, not to a pronoun or preposition that happens to be missing from train.
    private static readonly HashSet<string> StopWords = new(StringComparer.Ordinal)
    {
        "a", "an", "the", "and", "or", "but", "nor", "so", "yet", "if", "then", "than", "as", "because", "though",
        "although", "while", "whenever", "when", "where", "which", "who", "whom", "whose", "what", "that", "this",
        "these", "those", "there", "here", "it", "its", "it's", "i", "i'm", "i've", "i'd", "me", "my", "mine", "myself",
        "we", "us", "our", "you", "your", "he", "him", "his", "she", "her", "hers", "they", "them", "their", "one",
        "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "done", "have", "has", "had",
        "will", "would", "can", "could", "shall", "should", "may", "might", "must", "not", "no",
        "of", "to", "in", "on", "at", "by", "for", "from", "with", "without", "about", "into", "onto", "over", "under",
        "up", "down", "out", "off", "after", "before", "during", "through", "across", "until", "till", "since",
        "very", "too", "also", "just", "even", "still", "all", "any", "some", "every", "each", "such", "own",
    };

    [GeneratedRegex("[a-z']+")]
    private static partial Regex WordPattern();

    private sealed record Row(string File, int Line, string Label, string Text);

    private static string DataFile(string split) =>
        Path.Combine(Fixtures.RepositoryRoot, "samples", "QuickStart", "data", $"sentiment-{split}.tsv");

    /// <summary>Reads a split, asserting the layout on the way: UTF-8, LF line ends, header, two fields, known label.</summary>
    private static List<Row> Read(string split)
    {
        var path = DataFile(split);
        Assert.True(File.Exists(path), $"{path} is missing.");
        var text = File.ReadAllText(path, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true));
        Assert.False(text.Contains('\r', StringComparison.Ordinal), $"{path}: lines must end with LF only (found CR).");
        Assert.True(text.EndsWith('\n'), $"{path}: the last line must end with a newline.");
        var lines = text[..^1].Split('\n');
        Assert.Equal("label\ttext", lines[0]);

        var rows = new List<Row>();
        for (var i = 1; i < lines.Length; i++)
        {
            var where = $"{Path.GetFileName(path)} line {i + 1}";
            var fields = lines[i].Split('\t');
            Assert.True(fields.Length == 2, $"{where}: expected 2 tab-separated fields (label, text), found {fields.Length}.");
            Assert.True(Labels.Contains(fields[0]), $"{where}: label '{fields[0]}' is not one of {string.Join(", ", Labels)}.");
            Assert.False(string.IsNullOrWhiteSpace(fields[1]), $"{where}: the text is empty.");
            Assert.True(fields[1] == fields[1].Trim(), $"{where}: the text has leading or trailing white space.");
            var words = fields[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            Assert.True(words is >= 4 and <= 35, $"{where}: {words} words; the README promises 4 to 35.");
            rows.Add(new Row(Path.GetFileName(path), i + 1, fields[0], fields[1]));
        }
        return rows;
    }

    private static IEnumerable<string> Words(string text) => WordPattern().Matches(text.ToLowerInvariant()).Select(m => m.Value);

    private static IEnumerable<string> ContentWords(string text) => Words(text).Where(w => !StopWords.Contains(w));

    [Theory]
    [InlineData("train", 480)]
    [InlineData("dev", 160)]
    public void Split_has_the_promised_size_and_balanced_labels(string split, int minimum)
    {
        var rows = Read(split);

        Assert.True(rows.Count >= minimum, $"sentiment-{split}.tsv has {rows.Count} rows; at least {minimum} are required.");
        foreach (var label in Labels)
        {
            var count = rows.Count(r => r.Label == label);
            var share = 100.0 * count / rows.Count;
            output.WriteLine($"{split}: {label} {count} ({share:F1}%)");
            // Balanced: each of the two labels within 5 percentage points of 50%.
            Assert.InRange(share, 45.0, 55.0);
        }
    }

    [Fact]
    public void No_sentence_appears_twice_within_or_across_splits()
    {
        var all = Read("train").Concat(Read("dev"));

        var repeated = all.GroupBy(r => r.Text.ToLowerInvariant(), StringComparer.Ordinal)
            .Where(g => g.Count() > 1)
            .Select(g => string.Join(" and ", g.Select(r => $"{r.File} line {r.Line}")) + $": \"{g.First().Text}\"")
            .ToList();

        Assert.True(repeated.Count == 0, "Repeated sentences (case-insensitive):\n" + string.Join("\n", repeated));
    }

    [Fact]
    public void Every_dev_sentence_has_a_content_word_that_no_train_sentence_contains()
    {
        var train = Read("train");
        var dev = Read("dev");
        var trainWords = train.SelectMany(r => Words(r.Text)).ToHashSet(StringComparer.Ordinal);

        var missing = dev.Where(r => !ContentWords(r.Text).Any(w => !trainWords.Contains(w)))
            .Select(r => $"{r.File} line {r.Line}: \"{r.Text}\" (every content word also occurs in train)")
            .ToList();

        var devWords = dev.SelectMany(r => ContentWords(r.Text)).ToHashSet(StringComparer.Ordinal);
        var unseen = devWords.Count(w => !trainWords.Contains(w));
        output.WriteLine($"train: {train.Count} sentences, {trainWords.Count} distinct words");
        output.WriteLine($"dev: {dev.Count} sentences, {devWords.Count} distinct content words, {unseen} of them unseen in train");
        Assert.True(missing.Count == 0, "Dev sentences without a word unseen in train:\n" + string.Join("\n", missing));
    }
}
