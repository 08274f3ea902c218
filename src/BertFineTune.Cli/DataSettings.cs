using System.ComponentModel;
using System.Globalization;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Tokenization;
using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>The tasks <c>train</c> and <c>evaluate</c> handle.</summary>
internal enum TaskKind
{
    Classification,
    PairClassification,
    MultiLabel,
    Regression,
    Ner,
    Qa,
}

/// <summary>File formats the data options read.</summary>
internal enum DataFormat
{
    Auto,
    Csv,
    Tsv,
    Jsonl,
    Lines,
    Conll,
    Squad,
}

/// <summary>How labelled files are read: format, columns, labels and bad-row policy.</summary>
internal class DataSettings : RunSettings
{
    [CommandOption("--format <FORMAT>")]
    [Description("csv, tsv, jsonl, lines ('LABEL text' per line), conll or squad; auto picks by extension.")]
    [DefaultValue(DataFormat.Auto)]
    public DataFormat Format { get; init; } = DataFormat.Auto;

    [CommandOption("--text-column <NAME|INDEX>")]
    [Description("Column (or JSON field) of the text.")]
    [DefaultValue("text")]
    public string TextColumn { get; init; } = "text";

    [CommandOption("--pair-column <NAME|INDEX>")]
    [Description("Column (or JSON field) of the second text, for pair tasks.")]
    public string? PairColumn { get; init; }

    [CommandOption("--label-column <NAME|INDEX>")]
    [Description("Column (or JSON field) of the label.")]
    [DefaultValue("label")]
    public string LabelColumn { get; init; } = "label";

    [CommandOption("--no-header")]
    [Description("The CSV/TSV file has no header row: give columns by 0-based index.")]
    public bool NoHeader { get; init; }

    [CommandOption("--quoted-tsv")]
    [Description("The TSV file uses CSV quoting (a field that starts with '\"' runs to the closing quote). By default a TSV quote is text, as in GLUE's files.")]
    public bool QuotedTsv { get; init; }

    [CommandOption("--labels <LIST>")]
    [Description("Comma-separated label names (classification, multi-label, NER); default: the model's.")]
    public string? Labels { get; init; }

    [CommandOption("--tag-scheme <SCHEME>")]
    [Description("CoNLL tags: Iob1, Iob2 or Bioes.")]
    [DefaultValue(TagScheme.Iob2)]
    public TagScheme TagScheme { get; init; } = TagScheme.Iob2;

    [CommandOption("--skip-bad-rows")]
    [Description("Skip malformed rows (each is reported) instead of stopping at the first.")]
    public bool SkipBadRows { get; init; }

    [CommandOption("--doc-stride <TOKENS>")]
    [Description("QA: context tokens shared by consecutive windows.")]
    [DefaultValue(128)]
    public int DocStride { get; init; } = 128;

    public BadRowPolicy BadRowPolicy => SkipBadRows ? BadRowPolicy.SkipAndCount : BadRowPolicy.Throw;

    public IReadOnlyList<string>? LabelList =>
        Labels?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    public override ValidationResult Validate() =>
        base.Validate() is { Successful: false } failed ? failed
        : DocStride < 1 ? ValidationResult.Error($"--doc-stride must be at least 1, got {DocStride}.")
        : ValidationResult.Success();

    /// <summary>
    /// Checks, before anything loads, that <paramref name="path"/> (given with <paramref name="option"/>) exists and that
    /// its format is known and holds <paramref name="task"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    /// <exception cref="CliException">The format cannot be told, or does not hold the task (a usage error).</exception>
    public void CheckFile(string option, string path, TaskKind task)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{option} {path}: no such file.", path);
        }
        try
        {
            FormatOf(path, task);
        }
        catch (FormatException e)
        {
            throw new CliException(ErrorKind.Usage, $"{option} {e.Message}");
        }
    }

    /// <summary>The file's format: <c>--format</c>, else told by the extension; throws when neither says, or the format cannot hold the task.</summary>
    public DataFormat FormatOf(string path, TaskKind task)
    {
        var format = Format != DataFormat.Auto ? Format : Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".csv" => DataFormat.Csv,
            ".tsv" => DataFormat.Tsv,
            ".jsonl" => DataFormat.Jsonl,
            ".json" => DataFormat.Squad,
            ".conll" => DataFormat.Conll,
            _ => task == TaskKind.Ner ? DataFormat.Conll : throw new FormatException(
                $"{path}: the format cannot be told from the extension '{Path.GetExtension(path)}'; give --format."),
        };
        bool fits = task switch
        {
            TaskKind.Ner => format == DataFormat.Conll,
            TaskKind.Qa => format == DataFormat.Squad,
            _ => format is DataFormat.Csv or DataFormat.Tsv or DataFormat.Jsonl or DataFormat.Lines,
        };
        return fits ? format : throw new FormatException($"{path}: the {format} format does not hold {task} examples; give --format.");
    }

    /// <summary>Reads and tokenizes <paramref name="path"/> for <paramref name="task"/>; skipped rows are reported. A failure is a data error.</summary>
    public List<EncodedExample> Load(string path, TaskKind task, BertTokenizer tokenizer, IReadOnlyList<string> labels, int maxLength) =>
        CliException.During(ErrorKind.Data, () =>
        {
            int skipped = 0;
            var examples = Read(path, task, tokenizer, labels, maxLength, ref skipped);
            // Said here, naming the file, rather than later as "the training data has no batches".
            return examples.Count > 0 ? examples : throw new InvalidDataException(skipped > 0
                ? $"{path}: every row was bad ({skipped} skipped); there are no examples left to use."
                : $"{path}: the file has no data rows{(HasHeaderRow(path, task) ? " after its header" : "")}; add one example per row.");
        });

    private bool HasHeaderRow(string path, TaskKind task) =>
        !NoHeader && FormatOf(path, task) is DataFormat.Csv or DataFormat.Tsv && new FileInfo(path).Length > 0;

    private List<EncodedExample> Read(string path, TaskKind task, BertTokenizer tokenizer, IReadOnlyList<string> labels, int maxLength, ref int skipped)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"Data file not found: {path}", path);
        }
        var format = FormatOf(path, task);
        switch (task)
        {
            case TaskKind.Ner:
            {
                var sentences = ConllReader.Read(path, new ConllReaderOptions { Scheme = TagScheme, Labels = labels, BadRows = BadRowPolicy });
                Report(sentences.SkippedRows);
                var encoded = TokenClassificationEncoder.Encode(sentences.Items, tokenizer, labels, maxLength, BadRowPolicy);
                Report(encoded.SkippedRows);
                skipped = sentences.SkippedRows.Count + encoded.SkippedRows.Count;
                return encoded.Items.Select(e => e.Example).ToList();
            }
            case TaskKind.Qa:
            {
                var questions = SquadReader.Read(path, BadRowPolicy);
                Report(questions.SkippedRows);
                var windows = SquadEncoder.Encode(questions.Items, tokenizer, maxLength, Math.Min(DocStride, maxLength / 2), BadRowPolicy, path);
                Report(windows.SkippedRows);
                skipped = questions.SkippedRows.Count + windows.SkippedRows.Count;
                return windows.Items.Select(w => w.Example).ToList();
            }
        }
        var schema = task switch
        {
            TaskKind.Regression => LabelSchema.Regression,
            TaskKind.MultiLabel => LabelSchema.MultiLabel(labels),
            _ => LabelSchema.SingleLabel(labels),
        };
        var result = format switch
        {
            DataFormat.Csv or DataFormat.Tsv => DelimitedFileReader.Read(path, new DelimitedReaderOptions
            {
                Separator = format == DataFormat.Tsv ? '\t' : ',',
                HasHeader = !NoHeader,
                // IANA text/tab-separated-values has no quoting; GLUE's TSV files hold literal quotes.
                ParseQuotes = format == DataFormat.Csv || QuotedTsv,
                Text = Column(TextColumn),
                TextPair = PairColumn is null ? (ColumnRef?)null : Column(PairColumn),
                Label = Column(LabelColumn),
                Labels = schema,
                BadRows = BadRowPolicy,
            }),
            DataFormat.Jsonl => JsonLinesReader.Read(path, new JsonLinesReaderOptions
            {
                TextField = TextColumn,
                TextPairField = PairColumn,
                LabelField = LabelColumn,
                Labels = schema,
                BadRows = BadRowPolicy,
            }),
            DataFormat.Lines => LabelPrefixedLineReader.Read(path, schema, BadRowPolicy),
            _ => throw new FormatException($"{path}: the {format} format does not hold {task} examples; give --format."),
        };
        Report(result.SkippedRows);
        skipped = result.SkippedRows.Count;
        return TextExampleEncoder.Encode(result.Items, tokenizer,
            new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = maxLength }).ToList();
    }

    private ColumnRef Column(string value) =>
        NoHeader || int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out _)
            ? ColumnRef.At(int.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture))
            : ColumnRef.Named(value);

    private static void Report(IReadOnlyList<BadRow> skipped)
    {
        foreach (var row in skipped)
        {
            Terminal.WriteLine($"skipped {row}");
        }
        if (skipped.Count > 0)
        {
            Terminal.WriteLine($"{skipped.Count} bad rows skipped");
        }
    }
}
