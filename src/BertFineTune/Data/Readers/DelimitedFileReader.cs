namespace BertFineTune.Data.Readers;

/// <summary>A column of a delimited file: by header name, or by 0-based position.</summary>
public readonly record struct ColumnRef
{
    private ColumnRef(string? name, int index)
    {
        Name = name;
        Index = index;
    }

    /// <summary>The header name, or null for a column given by position.</summary>
    public string? Name { get; }

    /// <summary>The 0-based position (meaningful when <see cref="Name"/> is null).</summary>
    public int Index { get; }

    /// <summary>The column whose header is <paramref name="name"/> (the file must have a header row).</summary>
    public static ColumnRef Named(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new ColumnRef(name, -1);
    }

    /// <summary>The column at 0-based <paramref name="index"/>.</summary>
    public static ColumnRef At(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return new ColumnRef(null, index);
    }

    /// <summary>Same as <see cref="Named"/>.</summary>
    public static implicit operator ColumnRef(string name) => Named(name);

    /// <summary>Same as <see cref="At"/>.</summary>
    public static implicit operator ColumnRef(int index) => At(index);

    /// <summary>"'name'" or "#index".</summary>
    public override string ToString() => Name is not null ? $"'{Name}'" : $"#{Index}";
}

/// <summary>What a <see cref="DelimitedFileReader"/> reads: the separator, the header, and which columns hold text, pair and label.</summary>
public sealed record DelimitedReaderOptions
{
    /// <summary>The column separator (default <c>,</c>; <c>\t</c> for TSV).</summary>
    public char Separator { get; init; } = ',';

    /// <summary>Whether the first row names the columns (default true). Without one, columns are given by position.</summary>
    public bool HasHeader { get; init; } = true;

    /// <summary>
    /// Whether a quote that starts a field opens a quoted field that may hold separators, new lines and doubled quotes
    /// (Python <c>csv</c>'s default dialect). Defaults to true for every separator except <c>\t</c>: tab-separated
    /// values carry no quoting (IANA text/tab-separated-values), and GLUE's TSV files, which transformers' GLUE
    /// processors read with <c>quotechar=None</c>, hold literal quotes. Set it to true to read a quoted TSV file, or
    /// to false to read a CSV file whose quotes are all text.
    /// </summary>
    public bool ParseQuotes
    {
        get => _parseQuotes ?? Separator != '\t';
        init => _parseQuotes = value;
    }

    private readonly bool? _parseQuotes;

    /// <summary>The column with the text (the first sentence of a pair).</summary>
    public required ColumnRef Text { get; init; }

    /// <summary>The column with the second text of a pair, or null for single texts.</summary>
    public ColumnRef? TextPair { get; init; }

    /// <summary>The label column, or null when the file has no labels (then <see cref="Labels"/> must be <see cref="LabelSchema.None"/>).</summary>
    public ColumnRef? Label { get; init; }

    /// <summary>How the label column becomes a target (default <see cref="LabelSchema.None"/>).</summary>
    public LabelSchema Labels { get; init; } = LabelSchema.None;

    /// <summary>What to do with a row that lacks a column or has an unknown label (default <see cref="BadRowPolicy.Throw"/>).</summary>
    public BadRowPolicy BadRows { get; init; } = BadRowPolicy.Throw;

    /// <summary>The file's text encoding (default UTF-8, a byte-order mark is honoured).</summary>
    public System.Text.Encoding? FileEncoding { get; init; }

    /// <summary>
    /// GLUE MRPC as found in <c>glue-mrpc/*.tsv</c>: tab-separated, no header, quotes as text, columns
    /// <c>label, id1, id2, sentence1, sentence2</c>, classes <c>"0"</c> and <c>"1"</c>.
    /// </summary>
    public static DelimitedReaderOptions GlueMrpc => new()
    {
        Separator = '\t',
        HasHeader = false,
        ParseQuotes = false,
        Text = 3,
        TextPair = 4,
        Label = 0,
        Labels = LabelSchema.SingleLabel(["0", "1"]),
    };

    /// <summary>
    /// GLUE STS-B as found in <c>glue-stsb/*.tsv</c>: tab-separated, no header, quotes as text, sentence1 in column 8,
    /// sentence2 in column 9 and the 0–5 score in column 10 (counted from 1; positions 7, 8, 9 here), a regression target.
    /// </summary>
    public static DelimitedReaderOptions GlueStsB => new()
    {
        Separator = '\t',
        HasHeader = false,
        ParseQuotes = false,
        Text = 7,
        TextPair = 8,
        Label = 9,
        Labels = LabelSchema.Regression,
    };

    internal void Validate()
    {
        if (Separator is '\n' or '\r' or '"')
        {
            throw new ArgumentException($"Separator '{Separator}' cannot separate columns; use ',', '\\t', ';', '|' or similar.");
        }
        if ((Label is null) != (Labels.Kind == LabelKind.None))
        {
            throw new ArgumentException(Label is null
                ? $"Labels is a {Labels.Kind} schema but no Label column is set; set Label, or use LabelSchema.None."
                : $"Label column {Label} is set but Labels is LabelSchema.None; give a single-label, regression or multi-label schema.");
        }
        if (!HasHeader)
        {
            foreach (var (what, column) in Columns())
            {
                if (column.Name is not null)
                {
                    throw new ArgumentException(
                        $"The {what} column is named {column}, but HasHeader is false; give columns by position, or set HasHeader.");
                }
            }
        }
        if (!Enum.IsDefined(BadRows))
        {
            throw new ArgumentOutOfRangeException(nameof(BadRows), BadRows, "Unknown bad-row policy.");
        }
    }

    internal IEnumerable<(string What, ColumnRef Column)> Columns()
    {
        yield return ("text", Text);
        if (TextPair is { } pair)
        {
            yield return ("text pair", pair);
        }
        if (Label is { } label)
        {
            yield return ("label", label);
        }
    }
}

/// <summary>
/// Reads CSV and TSV files into <see cref="TextExample"/>s: a text column, an optional pair column and a label column,
/// by header name or by position. Fields are split as Python's <c>csv.reader</c> splits them (CPython
/// <c>Modules/_csv.c</c>, default dialect): a quote that starts a field opens a quoted field that may hold separators,
/// new lines and doubled quotes; a quote anywhere else is text, so <c>the 5" screen is great,positive</c> is two
/// fields. A quoted field with no closing quote, or with text after its closing quote, is a bad row that names the
/// line and column of the quote, and costs that row only: reading goes on at the next line. Empty lines are not rows
/// and are passed over; any other row that lacks a column or has a label the schema rejects is a bad row too (see
/// <see cref="BadRowPolicy"/>). TSV (separator <c>\t</c>) is read without quote processing unless
/// <see cref="DelimitedReaderOptions.ParseQuotes"/> says otherwise. The file is read into memory whole.
/// </summary>
/// <example>
/// <code>
/// var mrpc = DelimitedFileReader.Read("glue-mrpc/dev.tsv", DelimitedReaderOptions.GlueMrpc);
/// var csv = DelimitedFileReader.Read("reviews.csv", new DelimitedReaderOptions
/// {
///     Text = "review", Label = "stars", Labels = LabelSchema.SingleLabel(["1", "2", "3", "4", "5"]),
/// });
/// </code>
/// </example>
public static class DelimitedFileReader
{
    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="BadRowException">A bad row under <see cref="BadRowPolicy.Throw"/>: the message names the file, line and reason.</exception>
    /// <exception cref="InvalidDataException">The header lacks a named column, or names one twice.</exception>
    /// <exception cref="ArgumentException">The options contradict each other.</exception>
    public static ReadResult<TextExample> Read(string path, DelimitedReaderOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using var reader = new StreamReader(path, options.FileEncoding ?? System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Read(reader, path, options);
    }

    /// <summary>Reads delimited text from <paramref name="reader"/>; <paramref name="sourceName"/> names it in bad-row reports.</summary>
    /// <exception cref="BadRowException">A bad row under <see cref="BadRowPolicy.Throw"/>: the message names the source, line and reason.</exception>
    /// <exception cref="InvalidDataException">The header lacks a named column, or names one twice.</exception>
    /// <exception cref="ArgumentException">The options contradict each other.</exception>
    public static ReadResult<TextExample> Read(TextReader reader, string sourceName, DelimitedReaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var sink = new BadRowSink(sourceName, options.BadRows);
        var items = new List<TextExample>();

        var parser = new DelimitedRowParser(reader.ReadToEnd(), options.Separator, options.ParseQuotes);
        string[]? header = null;
        if (options.HasHeader && parser.TryRead(out var headerRow))
        {
            header = headerRow.Fields ?? throw new InvalidDataException(
                $"{sourceName}:{headerRow.Line}: the header row cannot be read: {headerRow.Error}");
        }
        int text = Resolve(header, sourceName, "text", options.Text);
        int? pair = options.TextPair is { } p ? Resolve(header, sourceName, "text pair", p) : null;
        int? label = options.Label is { } l ? Resolve(header, sourceName, "label", l) : null;
        int needed = Math.Max(text, Math.Max(pair ?? 0, label ?? 0)) + 1;

        while (parser.TryRead(out var row))
        {
            int line = row.Line;
            if (row.Fields is not { } cells)
            {
                sink.Report(line, row.Error!);
                continue;
            }
            int columns = cells.Length;
            if (columns < needed)
            {
                var missing = options.Columns().First(c => Position(c.What, text, pair, label) >= columns);
                sink.Report(line, $"missing {missing.What} column {Describe(missing.Column, Position(missing.What, text, pair, label))}: "
                    + $"the row has {columns} column{(columns == 1 ? "" : "s")}");
                continue;
            }
            TargetValue? target = null;
            if (label is { } labelAt)
            {
                if (!options.Labels.TryParse(cells[labelAt], out var value, out var reason))
                {
                    sink.Report(line, reason);
                    continue;
                }
                target = value;
            }
            items.Add(new TextExample(cells[text], pair is { } pairAt ? cells[pairAt] : null, target, line));
        }
        return sink.Result<TextExample>(items);
    }

    private static int Position(string what, int text, int? pair, int? label) =>
        what switch
        {
            "text" => text,
            "text pair" => pair!.Value,
            _ => label!.Value,
        };

    private static string Describe(ColumnRef column, int position) =>
        column.Name is null ? $"#{position}" : $"'{column.Name}' (#{position})";

    private static int Resolve(string[]? header, string sourceName, string what, ColumnRef column)
    {
        if (column.Name is null)
        {
            return column.Index;
        }
        if (header is null)
        {
            throw new InvalidDataException($"{sourceName}:1: the {what} column is named '{column.Name}', but the file has no header row (it is empty).");
        }
        int index = Array.IndexOf(header, column.Name);
        if (index < 0)
        {
            throw new InvalidDataException(
                $"{sourceName}:1: the header has no {what} column '{column.Name}'; its columns are "
                + string.Join(", ", header.Select(n => $"'{n}'")) + ".");
        }
        if (Array.LastIndexOf(header, column.Name) != index)
        {
            throw new InvalidDataException(
                $"{sourceName}:1: the header names the {what} column '{column.Name}' twice (columns #{index} and "
                + $"#{Array.LastIndexOf(header, column.Name)}); rename one, or give the column by position.");
        }
        return index;
    }
}
