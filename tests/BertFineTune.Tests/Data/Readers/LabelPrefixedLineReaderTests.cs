using BertFineTune.Data;
using BertFineTune.Data.Readers;
using static BertFineTune.Tests.Data.Readers.ReaderTestData;

namespace BertFineTune.Tests.Data.Readers;

public sealed class LabelPrefixedLineReaderTests
{
    private static readonly LabelSchema Binary = LabelSchema.SingleLabel(["0", "1"]);

    [Fact]
    public void Splits_each_line_at_its_first_space_only()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "sst.txt", "1 a gripping , funny film", "0 wo n't  work");

        var result = LabelPrefixedLineReader.Read(path, Binary);

        // Everything after the first space is the text, inner double spaces included.
        Assert.Equal(new TextExample("a gripping , funny film", null, TargetValue.Integer(1), 1), result.Items[0]);
        Assert.Equal(new TextExample("wo n't  work", null, TargetValue.Integer(0), 2), result.Items[1]);
    }

    [Fact]
    public void Reads_every_line_of_sst2_dev()
    {
        var result = LabelPrefixedLineReader.Read(Dataset("sentence-classification/stsa.binary.dev"), Binary);

        // `wc -l stsa.binary.dev` prints 872; the first line is "0 one long string of cliches .".
        Assert.Equal(872, result.Count);
        Assert.Equal(new TextExample("one long string of cliches .", null, TargetValue.Integer(0), 1), result.Items[0]);
    }

    [Fact]
    public void Reads_every_line_of_sst5_dev_with_five_classes()
    {
        var result = LabelPrefixedLineReader.Read(Dataset("sentence-classification/stsa.fine.dev"),
            LabelSchema.SingleLabel(["0", "1", "2", "3", "4"]));

        // `wc -l stsa.fine.dev` prints 1101 (the README's count).
        Assert.Equal(1101, result.Count);
        Assert.Equal(5, result.Items.Select(e => e.Label!.Value.IntegerValue).Distinct().Count());
    }

    [Fact]
    public void Label_only_and_unknown_label_lines_are_bad_rows_with_file_and_line()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "bad.txt", "1 fine", "0", "2 two is not a class", "0 also fine");

        var error = Assert.Throws<BadRowException>(() => LabelPrefixedLineReader.Read(path, Binary));
        Assert.Equal(new BadRow(path, 2, null, "missing sentence: the line holds only the label '0'"), error.Row);

        var result = LabelPrefixedLineReader.Read(path, Binary, BadRowPolicy.SkipAndCount);
        // Lines 2 and 3 are bad, lines 1 and 4 are kept.
        Assert.Equal([1, 4], result.Items.Select(e => e.Line));
        Assert.Equal([2, 3], result.SkippedRows.Select(r => r.Line!.Value));
        Assert.StartsWith("unknown label '2'", result.SkippedRows[1].Reason, StringComparison.Ordinal);
    }
}
