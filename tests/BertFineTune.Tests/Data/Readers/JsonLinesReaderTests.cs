using BertFineTune.Data;
using BertFineTune.Data.Readers;
using static BertFineTune.Tests.Data.Readers.ReaderTestData;

namespace BertFineTune.Tests.Data.Readers;

public sealed class JsonLinesReaderTests
{
    private static readonly JsonLinesReaderOptions Nli = new()
    {
        TextField = "premise",
        TextPairField = "hypothesis",
        LabelField = "label",
        Labels = LabelSchema.SingleLabel(["entailment", "neutral", "contradiction"]),
    };

    [Fact]
    public void Reads_configured_fields_with_string_and_number_labels()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "nli.jsonl",
            """{"premise": "A dog runs.", "hypothesis": "An animal moves.", "label": "entailment", "extra": 1}""",
            "",
            """{"premise": "A cat sleeps.", "hypothesis": "A cat runs.", "label": "contradiction"}""");

        var result = JsonLinesReader.Read(path, Nli);

        // The blank line 2 is no row; contradiction is class 2.
        Assert.Equal(new TextExample("A dog runs.", "An animal moves.", TargetValue.Integer(0), 1), result.Items[0]);
        Assert.Equal(new TextExample("A cat sleeps.", "A cat runs.", TargetValue.Integer(2), 3), result.Items[1]);
    }

    [Fact]
    public void Numbers_are_looked_up_by_their_text_and_regression_reads_numbers()
    {
        var classes = JsonLinesReader.Read(new StringReader("""{"text": "x", "label": 1}"""), "inline",
            new JsonLinesReaderOptions { LabelField = "label", Labels = LabelSchema.SingleLabel(["0", "1"]) });
        var scores = JsonLinesReader.Read(new StringReader("""{"text": "x", "score": 3.5}"""), "inline",
            new JsonLinesReaderOptions { LabelField = "score", Labels = LabelSchema.Regression });
        var multi = JsonLinesReader.Read(new StringReader("""{"text": "x", "tags": ["b", "c"]}"""), "inline",
            new JsonLinesReaderOptions { LabelField = "tags", Labels = LabelSchema.MultiLabel(["a", "b", "c"]) });

        Assert.Equal(TargetValue.Integer(1), classes.Items[0].Label);
        Assert.Equal(TargetValue.Number(3.5f), scores.Items[0].Label);
        Assert.Equal([0f, 1f, 1f], multi.Items[0].Label!.Value.VectorValue);
    }

    [Fact]
    public void Invalid_json_line_with_throw_names_the_file_and_line()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "broken.jsonl",
            """{"premise": "a", "hypothesis": "b", "label": "neutral"}""",
            """{"premise": "a", "hypothesis": "b", "label": """);

        var error = Assert.Throws<BadRowException>(() => JsonLinesReader.Read(path, Nli));

        Assert.Equal(2, error.Row.Line);
        Assert.StartsWith($"{path}:2: invalid JSON:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Skip_and_count_lists_invalid_json_missing_fields_and_unknown_labels_and_keeps_the_rest()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "mixed.jsonl",
            """{"premise": "1", "hypothesis": "b", "label": "neutral"}""",
            """not json""",
            """{"premise": "3", "label": "neutral"}""",
            """{"premise": "4", "hypothesis": "b", "label": "maybe"}""",
            """["an", "array"]""",
            """{"premise": 6, "hypothesis": "b", "label": "neutral"}""",
            """{"premise": "7", "hypothesis": "b", "label": "entailment"}""");

        var result = JsonLinesReader.Read(path, Nli with { BadRows = BadRowPolicy.SkipAndCount });

        // Good: lines 1 and 7. Bad: 2 (not JSON), 3 (no hypothesis), 4 (unknown label), 5 (not an object), 6 (number as text).
        Assert.Equal([1, 7], result.Items.Select(e => e.Line));
        Assert.Equal([2, 3, 4, 5, 6], result.SkippedRows.Select(r => r.Line!.Value));
        Assert.StartsWith("invalid JSON", result.SkippedRows[0].Reason, StringComparison.Ordinal);
        Assert.Equal("missing field 'hypothesis'", result.SkippedRows[1].Reason);
        Assert.StartsWith("unknown label 'maybe'", result.SkippedRows[2].Reason, StringComparison.Ordinal);
        Assert.Equal("the line is a JSON Array, not an object", result.SkippedRows[3].Reason);
        Assert.Equal("field 'premise' is a JSON Number, not a string", result.SkippedRows[4].Reason);
    }
}
