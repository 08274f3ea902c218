namespace BertFineTune.Checkpoints;

/// <summary>A <c>config.json</c> field has a value BERT cannot use.</summary>
public sealed class BertConfigException : FormatException
{
    /// <summary>Creates the exception for <paramref name="field"/> of <paramref name="source"/>.</summary>
    public BertConfigException(string source, string? field, string message)
        : base($"{source}: {message}")
    {
        FilePath = source;
        Field = field;
    }

    /// <summary>The config file (or description) that was read.</summary>
    public string FilePath { get; }

    /// <summary>The offending field, or null when the whole file is unreadable.</summary>
    public string? Field { get; }
}
