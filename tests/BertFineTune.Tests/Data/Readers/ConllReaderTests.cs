using BertFineTune.Data.Readers;
using static BertFineTune.Tests.Data.Readers.ReaderTestData;

namespace BertFineTune.Tests.Data.Readers;

public sealed class ConllReaderTests
{
    private static readonly string[] PersonOrgLabels = ["O", "B-ORG", "I-ORG", "B-PER", "I-PER"];

    [Fact]
    public void Reads_sentences_between_blank_lines_skipping_docstart_and_middle_columns()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "tiny.conll",
            "-DOCSTART- -X- -X- O",
            "",
            "EU NNP B-NP B-ORG",
            "rejects VBZ B-VP O",
            "German JJ B-NP B-MISC",
            "call NN I-NP O",
            "",
            "",
            "Peter NNP B-NP B-PER",
            "Blackburn NNP I-NP I-PER");

        var result = ConllReader.Read(path);

        // Two sentences: lines 3-6 and 9-10 (the double blank line is one separator, the last sentence has no blank after it).
        Assert.Equal(2, result.Count);
        Assert.Equal(["EU", "rejects", "German", "call"], result.Items[0].Words);
        Assert.Equal(["B-ORG", "O", "B-MISC", "O"], result.Items[0].Tags);
        Assert.Equal(3, result.Items[0].Line);
        Assert.Equal(["Peter", "Blackburn"], result.Items[1].Words);
        Assert.Equal(["B-PER", "I-PER"], result.Items[1].Tags);
        Assert.Equal(9, result.Items[1].Line);
    }

    [Fact]
    public void Iob1_tags_are_converted_to_iob2()
    {
        var result = ConllReader.Read(new StringReader("a I-PER\nb I-PER\nc B-PER\nd O\ne I-LOC\nf I-ORG\n"), "inline",
            new ConllReaderOptions { Scheme = TagScheme.Iob1 });

        // I-PER starts a chunk (B), the next I-PER continues it (I), B-PER separates an adjacent PER chunk (stays B),
        // I-LOC after O starts one (B), I-ORG after a LOC starts one (B).
        Assert.Equal(["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG"], result.Items[0].Tags);
    }

    [Fact]
    public void Bioes_tags_are_converted_to_iob2()
    {
        var result = ConllReader.Read(new StringReader("a S-PER\nb B-LOC\nc I-LOC\nd E-LOC\ne O\nf E-ORG\n"), "inline",
            new ConllReaderOptions { Scheme = TagScheme.Bioes });

        // S -> B, E -> I, B and I unchanged; a stray E-ORG after O becomes I-ORG (lenient scoring starts a chunk there).
        Assert.Equal(["B-PER", "B-LOC", "I-LOC", "I-LOC", "O", "I-ORG"], result.Items[0].Tags);
    }

    [Fact]
    public void An_iob2_i_tag_after_o_is_not_an_error()
    {
        var result = ConllReader.Read(new StringReader("a O\nb I-PER\n"), "inline", new ConllReaderOptions { Labels = PersonOrgLabels });

        Assert.Equal(["O", "I-PER"], result.Items[0].Tags);
        Assert.Empty(result.SkippedRows);
    }

    [Fact]
    public void Reads_all_3250_sentences_of_conll2003_dev()
    {
        var result = ConllReader.Read(Dataset("ner-conll2003/dev.txt"));

        // The README says 3,250 sentences; awk counting runs of non-blank lines agrees, and 51,362 lines have 2 fields.
        Assert.Equal(3250, result.Count);
        Assert.Equal(51362, result.Items.Sum(s => s.Words.Count));
        Assert.Equal(["CRICKET", "-", "LEICESTERSHIRE", "TAKE", "OVER", "AT", "TOP", "AFTER", "INNINGS", "VICTORY", "."], result.Items[0].Words);
        Assert.Equal(["LONDON", "1996-08-30"], result.Items[1].Words);
    }

    [Fact]
    public void One_column_line_with_throw_names_the_file_line_and_reason()
    {
        using var folder = new TempFolder();
        var path = WriteBadFile(folder);

        var error = Assert.Throws<BadRowException>(() => ConllReader.Read(path, new ConllReaderOptions { Labels = PersonOrgLabels }));

        Assert.Equal(new BadRow(path, 4, null,
            "one column ('lonely'): a word line needs the word and its tag; the sentence starting at line 4 is skipped"), error.Row);
        Assert.StartsWith($"{path}:4: one column", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tag_outside_the_label_list_with_throw_names_the_file_line_and_tag()
    {
        var error = Assert.Throws<BadRowException>(() => ConllReader.Read(new StringReader("a O\nb B-XYZ\n"), "inline.conll",
            new ConllReaderOptions { Labels = PersonOrgLabels }));

        Assert.Equal("inline.conll:2: tag 'B-XYZ' is not in the label list; the sentence starting at line 1 is skipped", error.Row.ToString());
    }

    [Fact]
    public void Skip_and_count_lists_every_bad_line_and_keeps_every_good_sentence()
    {
        using var folder = new TempFolder();
        var path = WriteBadFile(folder);

        var result = ConllReader.Read(path, new ConllReaderOptions { Labels = PersonOrgLabels, BadRows = BadRowPolicy.SkipAndCount });

        // Good sentences start at lines 1, 7 and 13; the bad lines are 4 (one column), 9 (tag not listed) and 11 (malformed tag).
        Assert.Equal([1, 7, 13], result.Items.Select(s => s.Line));
        Assert.Equal([4, 9, 11], result.SkippedRows.Select(r => r.Line!.Value));
        Assert.StartsWith("tag 'B-XYZ' is not in the label list", result.SkippedRows[1].Reason, StringComparison.Ordinal);
        Assert.StartsWith("tag 'X-PER' is not a valid IOB2 tag", result.SkippedRows[2].Reason, StringComparison.Ordinal);
    }

    private static string WriteBadFile(TempFolder folder) => WriteLines(folder, "bad.conll",
        "EU B-ORG",
        "rejects O",
        "",
        "lonely",
        "word O",
        "",
        "Good O",
        "",
        "Bad B-XYZ",
        "",
        "Bad X-PER",
        "",
        "Last B-PER");
}
