using BertFineTune.Data;
using BertFineTune.Data.Readers;
using static BertFineTune.Tests.Data.Readers.ReaderTestData;

namespace BertFineTune.Tests.Data.Readers;

public sealed class DelimitedFileReaderTests
{
    private static readonly string[] Sentiments = ["negative", "positive"];

    [Fact]
    public void Reads_csv_columns_by_header_name_with_quoted_cells_and_string_labels()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "reviews.csv",
            "id,label,review",
            "1,positive,\"great, really great\"",
            "2,negative,\"he said \"\"meh\"\"\"");

        var result = DelimitedFileReader.Read(path, new DelimitedReaderOptions
        {
            Text = "review",
            Label = "label",
            Labels = LabelSchema.SingleLabel(Sentiments),
        });

        // The quoted comma stays in the text; doubled quotes become one; "positive" is class 1 of [negative, positive].
        Assert.Equal(2, result.Count);
        Assert.Equal(new TextExample("great, really great", null, TargetValue.Integer(1), 2), result.Items[0]);
        Assert.Equal(new TextExample("he said \"meh\"", null, TargetValue.Integer(0), 3), result.Items[1]);
        Assert.Empty(result.SkippedRows);
    }

    [Fact]
    public void Reads_tsv_without_header_by_column_position_with_a_text_pair()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "pairs.tsv",
            "b\tfirst one\tsecond one",
            "a\tthird \"quoted\tfourth");

        var result = DelimitedFileReader.Read(path, new DelimitedReaderOptions
        {
            Separator = '\t',
            HasHeader = false,
            ParseQuotes = false,
            Text = 1,
            TextPair = 2,
            Label = 0,
            Labels = LabelSchema.SingleLabel(["a", "b"]),
        });

        // Quotes are plain text when ParseQuotes is off, so the lone quote does not swallow the tab.
        Assert.Equal(new TextExample("first one", "second one", TargetValue.Integer(1), 1), result.Items[0]);
        Assert.Equal(new TextExample("third \"quoted", "fourth", TargetValue.Integer(0), 2), result.Items[1]);
    }

    [Fact]
    public void Reads_numeric_regression_labels_with_the_invariant_culture()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "scores.csv", "text,score", "x,4.25", "y,-1e-1");

        var result = DelimitedFileReader.Read(path, new DelimitedReaderOptions { Text = "text", Label = "score", Labels = LabelSchema.Regression });

        Assert.Equal([TargetValue.Number(4.25f), TargetValue.Number(-0.1f)], result.Items.Select(e => e.Label!.Value));
    }

    [Fact]
    public void Reads_a_multi_label_column_split_by_its_separator()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "topics.tsv", "text\ttopics", "a\tsport|politics", "b\t", "c\tscience");

        var result = DelimitedFileReader.Read(path, new DelimitedReaderOptions
        {
            Separator = '\t',
            Text = "text",
            Label = "topics",
            Labels = LabelSchema.MultiLabel(["politics", "science", "sport"], '|'),
        });

        // Vectors over [politics, science, sport]; an empty cell is no topic.
        Assert.Equal([1f, 0f, 1f], result.Items[0].Label!.Value.VectorValue);
        Assert.Equal([0f, 0f, 0f], result.Items[1].Label!.Value.VectorValue);
        Assert.Equal([0f, 1f, 0f], result.Items[2].Label!.Value.VectorValue);
    }

    [Fact]
    public void Line_numbers_after_a_quoted_multi_line_cell_and_positional_columns_with_a_header()
    {
        using var folder = new TempFolder();
        // Line 1 header; the row of lines 2-3 holds a new line inside quotes; line 4 has an unknown label.
        var path = WriteLines(folder, "multi.csv", "text,label", "\"two", "lines\",positive", "x,neutral");

        var result = DelimitedFileReader.Read(path, new DelimitedReaderOptions
        {
            Text = 0,
            Label = 1,
            Labels = LabelSchema.SingleLabel(Sentiments),
            BadRows = BadRowPolicy.SkipAndCount,
        });

        Assert.Equal(new TextExample("two\nlines", null, TargetValue.Integer(1), 2), Assert.Single(result.Items));
        Assert.Equal(4, Assert.Single(result.SkippedRows).Line);
    }

    [Fact]
    public void Blank_lines_are_not_rows()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "gaps.csv", "text", "a", "", "b", "");

        var result = DelimitedFileReader.Read(path, new DelimitedReaderOptions { Text = "text" });

        Assert.Equal([("a", 2), ("b", 4)], result.Items.Select(e => (e.Text, e.Line)));
    }

    [Fact]
    public void Reads_every_row_of_glue_mrpc_dev()
    {
        var result = DelimitedFileReader.Read(Dataset("glue-mrpc/dev.tsv"), DelimitedReaderOptions.GlueMrpc);

        // `wc -l glue-mrpc/dev.tsv` prints 1500, and every line has 5 tab-separated fields (awk -F'\t' '{print NF}').
        Assert.Equal(1500, result.Count);
        Assert.Empty(result.SkippedRows);
        // The first line: 1 \t 1330381 \t 1330521 \t They had published … \t On June 10, the ship's owners …
        var first = result.Items[0];
        Assert.Equal("They had published an advertisement on the Internet on June 10, offering the cargo for sale, he added.", first.Text);
        Assert.Equal("On June 10, the ship's owners had published an advertisement on the Internet, offering the explosives for sale.", first.TextPair);
        Assert.Equal(TargetValue.Integer(1), first.Label);
        Assert.Equal(1500, result.Items[^1].Line);
    }

    [Fact]
    public void Reads_every_row_of_glue_stsb_dev_with_its_score()
    {
        var result = DelimitedFileReader.Read(Dataset("glue-stsb/dev.tsv"), DelimitedReaderOptions.GlueStsB);

        // `wc -l` prints 1500; the first line's columns 8, 9, 10 are the two sentences and 4.250.
        Assert.Equal(1500, result.Count);
        Assert.Equal("A man is playing the cello.", result.Items[0].Text);
        Assert.Equal("A man seated is playing the cello.", result.Items[0].TextPair);
        Assert.Equal(TargetValue.Number(4.25f), result.Items[0].Label);
    }

    [Fact]
    public void Missing_column_with_throw_names_the_file_line_and_column()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "short.tsv", "1\ta\tb", "0\tonly two");

        var error = Assert.Throws<BadRowException>(() => DelimitedFileReader.Read(path, Pair()));

        Assert.Equal(new BadRow(path, 2, null, "missing text pair column #2: the row has 2 columns"), error.Row);
        Assert.StartsWith($"{path}:2: missing text pair column #2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_label_with_throw_names_the_file_line_and_label()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "labels.tsv", "1\ta\tb", "1\tc\td", "7\te\tf");

        var error = Assert.Throws<BadRowException>(() => DelimitedFileReader.Read(path, Pair()));

        Assert.Equal(3, error.Row.Line);
        Assert.Contains($"{path}:3: unknown label '7'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Skip_and_count_lists_exactly_the_bad_rows_and_keeps_every_good_row()
    {
        using var folder = new TempFolder();
        // Lines 2 (missing pair) and 4 (label 9) are bad; lines 1, 3 and 5 are good.
        var path = WriteLines(folder, "mixed.tsv", "1\ta\tb", "0\tc", "0\td\te", "9\tf\tg", "1\th\ti");

        var result = DelimitedFileReader.Read(path, Pair() with { BadRows = BadRowPolicy.SkipAndCount });

        Assert.Equal([1, 3, 5], result.Items.Select(e => e.Line));
        Assert.Equal([2, 4], result.SkippedRows.Select(r => r.Line!.Value));
        Assert.All(result.SkippedRows, r => Assert.Equal(path, r.File));
        Assert.Contains("unknown label '9'", result.SkippedRows[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_header_without_the_named_column_is_refused_with_its_columns()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "h.csv", "sentence,label", "a,1");

        var error = Assert.Throws<InvalidDataException>(() => DelimitedFileReader.Read(path, new DelimitedReaderOptions { Text = "text" }));

        Assert.Contains("has no text column 'text'; its columns are 'sentence', 'label'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Named_columns_without_a_header_are_refused()
    {
        var options = new DelimitedReaderOptions { HasHeader = false, Text = "text" };

        Assert.Throws<ArgumentException>(() => DelimitedFileReader.Read(new StringReader("a"), "inline", options));
    }

    [Fact]
    public void Encoded_pairs_carry_cls_text_sep_pair_sep_and_the_label()
    {
        var examples = new[] { new TextExample("Hello", "world", TargetValue.Integer(1), 1) };

        var encoded = TextExampleEncoder.Encode(examples, Tokenizer);

        // [CLS] hello [SEP] world [SEP]: segment 0 for the first three tokens, 1 for the last two.
        Assert.Equal([Id("[CLS]"), Id("hello"), Id("[SEP]"), Id("world"), Id("[SEP]")], encoded[0].InputIds);
        Assert.Equal([0, 0, 0, 1, 1], encoded[0].TokenTypeIds!);
        Assert.Equal(TargetValue.Integer(1), encoded[0].Targets["labels"]);
    }

    private static DelimitedReaderOptions Pair() => new()
    {
        Separator = '\t',
        HasHeader = false,
        Text = 1,
        TextPair = 2,
        Label = 0,
        Labels = LabelSchema.SingleLabel(["0", "1"]),
    };
}
