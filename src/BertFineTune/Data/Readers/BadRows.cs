namespace BertFineTune.Data.Readers;

/// <summary>What a reader does with a row it cannot use (a missing column, an unknown label, invalid JSON, …).</summary>
public enum BadRowPolicy
{
    /// <summary>Stop at the first bad row with a <see cref="BadRowException"/> naming the file, the line (or record) and the reason.</summary>
    Throw,

    /// <summary>Skip bad rows, keep every good one, and list each skipped row in <see cref="ReadResult{T}.SkippedRows"/>.</summary>
    SkipAndCount,
}

/// <summary>One row a reader could not use: where it is and why.</summary>
/// <param name="File">The file (or the source name given to the reader).</param>
/// <param name="Line">The 1-based line number for line-based formats; null where lines do not apply (SQuAD).</param>
/// <param name="RecordId">The record's id where the format has one (a SQuAD question id); otherwise null.</param>
/// <param name="Reason">What is wrong with the row.</param>
public sealed record BadRow(string File, int? Line, string? RecordId, string Reason)
{
    /// <summary>"file:line: reason", or "file: question 'id': reason" for records without a line.</summary>
    public override string ToString() =>
        (Line, RecordId) switch
        {
            ({ } line, null) => $"{File}:{line}: {Reason}",
            ({ } line, { } id) => $"{File}:{line}: record '{id}': {Reason}",
            (null, { } id) => $"{File}: question '{id}': {Reason}",
            _ => $"{File}: {Reason}",
        };
}

/// <summary>A reader met a bad row under <see cref="BadRowPolicy.Throw"/>; the message names the file, line (or record) and reason.</summary>
public sealed class BadRowException : FormatException
{
    /// <summary>Creates the exception for <paramref name="row"/>.</summary>
    public BadRowException(BadRow row)
        : base((row ?? throw new ArgumentNullException(nameof(row))).ToString()
            + " (pass BadRowPolicy.SkipAndCount to skip such rows and list them in the result)")
    {
        Row = row;
    }

    /// <summary>The bad row: file, line or record id, and reason.</summary>
    public BadRow Row { get; }
}

/// <summary>What a reader returns: the items it read and every row it skipped (empty under <see cref="BadRowPolicy.Throw"/>).</summary>
/// <typeparam name="T">The item type (an example, a sentence, a question).</typeparam>
/// <param name="Items">The items read from good rows, in file order.</param>
/// <param name="SkippedRows">Every bad row skipped under <see cref="BadRowPolicy.SkipAndCount"/>, in file order.</param>
public sealed record ReadResult<T>(IReadOnlyList<T> Items, IReadOnlyList<BadRow> SkippedRows)
{
    /// <summary>Number of items read.</summary>
    public int Count => Items.Count;
}

/// <summary>Applies a <see cref="BadRowPolicy"/>: throws on the first bad row, or collects them.</summary>
internal sealed class BadRowSink(string file, BadRowPolicy policy)
{
    private readonly List<BadRow> _rows = [];

    public string File { get; } = file;

    public IReadOnlyList<BadRow> Rows => _rows;

    /// <summary>Throws under <see cref="BadRowPolicy.Throw"/>; otherwise records the row.</summary>
    public void Report(int? line, string reason, string? recordId = null)
    {
        var row = new BadRow(File, line, recordId, reason);
        if (policy == BadRowPolicy.Throw)
        {
            throw new BadRowException(row);
        }
        _rows.Add(row);
    }

    public ReadResult<T> Result<T>(IReadOnlyList<T> items) => new(items, _rows.ToArray());
}
