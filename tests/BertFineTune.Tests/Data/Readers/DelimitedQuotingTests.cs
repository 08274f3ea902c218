using BertFineTune.Data;
using BertFineTune.Data.Readers;
using static BertFineTune.Tests.Data.Readers.ReaderTestData;

namespace BertFineTune.Tests.Data.Readers;

/// <summary>
/// How CSV and TSV fields are split. The rule is Python's csv module (CPython Modules/_csv.c, parse_process_char, default
/// dialect): a quote that starts a field opens a quoted field; a quote elsewhere is text. Expected rows below were printed by
/// Python 3.11.7: <c>list(csv.reader(io.StringIO(text, newline='')))</c> (blank lines, which Python yields as [], are not rows
/// here) and, for TSV, <c>csv.reader(..., delimiter='\t', quotechar=None)</c> as transformers' GLUE processors read TSV.
/// </summary>
public sealed class DelimitedQuotingTests
{
    private static readonly string[] Sentiments = ["negative", "positive"];

    public static TheoryData<string, string[][]> PythonCsvRows => new()
    {
        { "a,b\n", [["a", "b"]] },
        { "the 5\" screen is great,positive\n", [["the 5\" screen is great", "positive"]] },
        { "\"a,b\",c\n", [["a,b", "c"]] },
        { "\"a\"\"b\",c\n", [["a\"b", "c"]] },
        { "\"two\nlines\",c\n", [["two\nlines", "c"]] },
        { "a\"b\"c,d\n", [["a\"b\"c", "d"]] },
        { "\"\",x\n", [["", "x"]] },
        { "a,\n", [["a", ""]] },
        { "a,b", [["a", "b"]] },
        { "a,b\r\nc,d\r\n", [["a", "b"], ["c", "d"]] },
        { "a,b\rc,d\r", [["a", "b"], ["c", "d"]] },
        { "\"x\r\ny\",z\r\n", [["x\r\ny", "z"]] },
        { "a,\"b\"\n", [["a", "b"]] },
        { " \"a\",b\n", [[" \"a\"", "b"]] },
        { "a\n\nb\n", [["a"], ["b"]] },
        { "\"\"\"\"\n", [["\""]] },
        { "\"a\"", [["a"]] },
        { ",\n", [["", ""]] },
        { "\"a,b\n\"\n", [["a,b\n"]] },
    };

    [Theory]
    [MemberData(nameof(PythonCsvRows))]
    public void Csv_fields_split_as_pythons_csv_reader_splits_them(string text, string[][] expected)
    {
        Assert.Equal(expected, Rows(text, ',', parseQuotes: true));
    }

    public static TheoryData<string, string[][]> PythonTsvRowsWithoutQuoting => new()
    {
        { "a\t\"b\tc\n", [["a", "\"b", "c"]] },
        { "\"x\ty\"\tz\n", [["\"x", "y\"", "z"]] },
        { "a\tb\r\nc\t\r\n", [["a", "b"], ["c", ""]] },
        { "\t\n", [["", ""]] },
        { "a\n\nb", [["a"], ["b"]] },
    };

    [Theory]
    [MemberData(nameof(PythonTsvRowsWithoutQuoting))]
    public void Tsv_fields_split_as_python_splits_them_with_quotechar_none(string text, string[][] expected)
    {
        Assert.Equal(expected, Rows(text, '\t', parseQuotes: false));
    }

    // Each bad quoted field: the file, the line and column of the quote (1-based; counted by hand), what is wrong, and
    // the rows read around it. Python (strict=False) would read these differently: the first swallows the rest of the file
    // into one field, the others drop the quotes and glue the text on (see the class summary for how they were printed).
    public static TheoryData<string, int, string, string[]> BadQuotedFields => new()
    {
        // Unterminated quote on line 2, column 1.
        { "text,label\n\"abc,positive\nx,negative\n", 2, "column 1: unterminated quote", ["x"] },
        // Unterminated quote in the second field: line 2, column 3.
        { "text,label\na,\"positive\nx,negative\ny,positive\n", 2, "column 3: unterminated quote", ["x", "y"] },
        // Text after the closing quote on the same line: the quote opens at column 1, " she said" starts at column 8.
        { "text,label\n\"Hello\" she said,positive\nx,negative\n", 2, "column 8: text after the closing quote of the quoted field that opens at column 1", ["x"] },
        // A stray opening quote on line 2 closes at line 4's quote, followed by " screen": only line 2 is lost.
        {
            "text,label\n\"Great, 5 stars,positive\nok,negative\nthe 5\" screen,positive\nlast,negative\n", 2,
            "column 7: text after the closing quote of the quoted field that opens at line 2, column 1",
            ["ok", "the 5\" screen", "last"]
        },
    };

    [Theory]
    [MemberData(nameof(BadQuotedFields))]
    public void A_bad_quoted_field_names_file_line_column_and_what_and_costs_only_its_row(string text, int line, string reason, string[] kept)
    {
        var options = new DelimitedReaderOptions { Text = "text", Label = "label", Labels = LabelSchema.SingleLabel(Sentiments) };

        var thrown = Assert.Throws<BadRowException>(() => DelimitedFileReader.Read(new StringReader(text), "data.csv", options));
        Assert.StartsWith($"data.csv:{line}: {reason}", thrown.Message, StringComparison.Ordinal);
        Assert.Equal(line, thrown.Row.Line);

        var skipped = DelimitedFileReader.Read(new StringReader(text), "data.csv", options with { BadRows = BadRowPolicy.SkipAndCount });
        Assert.Equal(line, Assert.Single(skipped.SkippedRows).Line);
        Assert.Equal(kept, skipped.Items.Select(e => e.Text));
    }

    [Fact]
    public void The_issues_stray_quote_example_reads_all_twenty_rows_as_python_does()
    {
        using var folder = new TempFolder();
        // A header and 20 rows; row 4 (line 5) is the issue's `the 5" screen is great,positive`. Python 3.11's csv.reader
        // reads 20 rows after the header, row 4's text with its quote.
        var lines = new List<string> { "text,label" };
        for (int i = 1; i <= 20; i++)
        {
            lines.Add(i == 4 ? "the 5\" screen is great,positive" : $"review number {i},{(i % 2 == 0 ? "positive" : "negative")}");
        }
        var path = WriteLines(folder, "reviews.csv", [.. lines]);

        var result = DelimitedFileReader.Read(path, new DelimitedReaderOptions
        {
            Text = "text", Label = "label", Labels = LabelSchema.SingleLabel(Sentiments),
        });

        Assert.Equal(20, result.Count);
        Assert.Equal(new TextExample("the 5\" screen is great", null, TargetValue.Integer(1), 5), result.Items[3]);
        Assert.Equal(21, result.Items[^1].Line);
    }

    [Fact]
    public void Glue_mrpc_train_reads_every_line_with_its_literal_quotes_as_tsv_by_default()
    {
        // `wc -l glue-mrpc/train.tsv` prints 2576 and `awk -F'\t' 'NF!=5'` prints nothing: 2576 rows of 5 fields; 479
        // fields start with '"' (awk), so reading them as CSV quoting would join rows (Python's default csv.reader reads
        // 2432 rows). Line 170 is the issue's: "When you crossed the line, you violated the constitutional right," said …
        var options = new DelimitedReaderOptions
        {
            Separator = '\t',
            HasHeader = false,
            Text = 3,
            TextPair = 4,
            Label = 0,
            Labels = LabelSchema.SingleLabel(["0", "1"]),
        };
        Assert.False(options.ParseQuotes);

        var result = DelimitedFileReader.Read(Dataset("glue-mrpc/train.tsv"), options);

        Assert.Equal(2576, result.Count);
        Assert.Empty(result.SkippedRows);
        var line170 = result.Items[169];
        Assert.Equal(170, line170.Line);
        Assert.Equal("When you crossed the line, you violated the constitutional right,\" said Charles Weisselberg, a UC Berkeley law professor.", line170.Text);
        Assert.Equal(2576, DelimitedFileReader.Read(Dataset("glue-mrpc/train.tsv"), DelimitedReaderOptions.GlueMrpc).Count);
    }

    [Fact]
    public void Parse_quotes_defaults_to_off_for_tab_and_on_for_other_separators_and_can_be_set_either_way()
    {
        Assert.False(new DelimitedReaderOptions { Separator = '\t', Text = 0 }.ParseQuotes);
        Assert.True(new DelimitedReaderOptions { Text = 0 }.ParseQuotes);
        Assert.True(new DelimitedReaderOptions { Separator = ';', Text = 0 }.ParseQuotes);
        Assert.True(new DelimitedReaderOptions { Separator = '\t', ParseQuotes = true, Text = 0 }.ParseQuotes);
        Assert.False(new DelimitedReaderOptions { ParseQuotes = false, Text = 0 }.ParseQuotes);

        // Quoted TSV, when asked for: the tab and the new line inside quotes stay in the text.
        var quoted = DelimitedFileReader.Read(new StringReader("text\tlabel\n\"a\tb\nc\"\tpositive\n"), "q.tsv",
            new DelimitedReaderOptions { Separator = '\t', ParseQuotes = true, Text = "text", Label = "label", Labels = LabelSchema.SingleLabel(Sentiments) });
        Assert.Equal("a\tb\nc", Assert.Single(quoted.Items).Text);
    }

    [Fact]
    public void A_bad_quote_in_the_header_names_the_file_and_line()
    {
        var thrown = Assert.Throws<InvalidDataException>(() => DelimitedFileReader.Read(new StringReader("\"text,label\nx,positive\n"), "h.csv",
            new DelimitedReaderOptions { Text = "text" }));

        Assert.StartsWith("h.csv:1: the header row cannot be read: column 1: unterminated quote", thrown.Message, StringComparison.Ordinal);
    }

    private static string[][] Rows(string text, char separator, bool parseQuotes)
    {
        var parser = new DelimitedRowParser(text, separator, parseQuotes);
        var rows = new List<string[]>();
        while (parser.TryRead(out var row))
        {
            rows.Add(row.Fields ?? throw new InvalidOperationException(row.Error));
        }
        return [.. rows];
    }
}
