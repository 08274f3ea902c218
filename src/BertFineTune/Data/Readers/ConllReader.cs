namespace BertFineTune.Data.Readers;

/// <summary>How the chunk tags of a CoNLL file mark entity boundaries.</summary>
public enum TagScheme
{
    /// <summary>IOB1 (CoNLL-2003's original files): <c>I-</c> starts a chunk; <c>B-</c> only separates two adjacent chunks of one type.</summary>
    Iob1,

    /// <summary>IOB2: every chunk starts with <c>B-</c> and continues with <c>I-</c>.</summary>
    Iob2,

    /// <summary>BIOES (BILOU): <c>B-</c> begin, <c>I-</c> inside, <c>E-</c> end, <c>S-</c> single-token chunk, <c>O</c> outside.</summary>
    Bioes,
}

/// <summary>A sentence of a CoNLL file: its words and their tags, converted to IOB2.</summary>
/// <param name="Source">The file (or the source name given to the reader).</param>
/// <param name="Line">The 1-based line of the sentence's first word.</param>
/// <param name="Words">The words (first column).</param>
/// <param name="Tags">The IOB2 tag of each word (converted from the file's scheme).</param>
public sealed record TaggedSentence(string Source, int Line, IReadOnlyList<string> Words, IReadOnlyList<string> Tags);

/// <summary>What a <see cref="ConllReader"/> reads.</summary>
public sealed record ConllReaderOptions
{
    /// <summary>The tag scheme of the file (default <see cref="TagScheme.Iob2"/>); tags are converted to IOB2 on reading.</summary>
    public TagScheme Scheme { get; init; } = TagScheme.Iob2;

    /// <summary>
    /// The IOB2 tags a model predicts (<c>O</c>, <c>B-PER</c>, <c>I-PER</c>, …). When set, a word whose converted tag is
    /// not in the list is a bad row; when null, any well-formed tag is accepted.
    /// </summary>
    public IReadOnlyList<string>? Labels { get; init; }

    /// <summary>What to do with a sentence holding a bad line (default <see cref="BadRowPolicy.Throw"/>).</summary>
    public BadRowPolicy BadRows { get; init; } = BadRowPolicy.Throw;

    /// <summary>The file's text encoding (default UTF-8, a byte-order mark is honoured).</summary>
    public System.Text.Encoding? FileEncoding { get; init; }
}

/// <summary>
/// Reads CoNLL-style token files: one <c>token … tag</c> line per word (white-space separated, the tag is the last
/// column, middle columns such as POS and chunk tags are ignored), blank lines between sentences, and <c>-DOCSTART-</c>
/// lines (document separators) passed over. Tags in IOB1, IOB2 or BIOES are converted to IOB2 (see
/// <see cref="TagSchemes.ToIob2"/>).
/// </summary>
/// <remarks>
/// A line with a single column, a malformed tag (<c>X-PER</c>, <c>B-</c>, an <c>E-</c> tag in an IOB file) or a tag
/// outside <see cref="ConllReaderOptions.Labels"/> is a bad line; under <see cref="BadRowPolicy.SkipAndCount"/> every bad
/// line is listed and its whole sentence is skipped (a sentence missing a word would misalign the rest), while every
/// other sentence is kept. An <c>I-</c> tag after <c>O</c> or after another type is not an error: seqeval's default mode
/// reads it as the start of a chunk, and so do the metrics here.
/// </remarks>
public static class ConllReader
{
    /// <summary>Reads <paramref name="path"/> (options default to IOB2, any tag, throw on bad lines).</summary>
    /// <exception cref="BadRowException">A bad line under <see cref="BadRowPolicy.Throw"/>: the message names the file, line and reason.</exception>
    public static ReadResult<TaggedSentence> Read(string path, ConllReaderOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        options ??= new ConllReaderOptions();
        using var reader = new StreamReader(path, options.FileEncoding ?? System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Read(reader, path, options);
    }

    /// <summary>Reads CoNLL lines from <paramref name="reader"/>; <paramref name="sourceName"/> names it in bad-row reports.</summary>
    /// <exception cref="BadRowException">A bad line under <see cref="BadRowPolicy.Throw"/>: the message names the source, line and reason.</exception>
    public static ReadResult<TaggedSentence> Read(TextReader reader, string sourceName, ConllReaderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        options ??= new ConllReaderOptions();
        if (!Enum.IsDefined(options.Scheme))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Scheme, "Unknown tag scheme.");
        }
        if (!Enum.IsDefined(options.BadRows))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.BadRows, "Unknown bad-row policy.");
        }
        var allowed = options.Labels is null ? null : new HashSet<string>(options.Labels, StringComparer.Ordinal);
        var sink = new BadRowSink(sourceName, options.BadRows);
        var sentences = new List<TaggedSentence>();

        var words = new List<string>();
        var tags = new List<string>();
        var lines = new List<int>();
        bool bad = false;

        string? previousType = null;

        void Finish()
        {
            if (words.Count > 0 && !bad)
            {
                sentences.Add(new TaggedSentence(sourceName, lines[0], words.ToArray(), tags.ToArray()));
            }
            words.Clear();
            tags.Clear();
            lines.Clear();
            bad = false;
            previousType = null;
        }

        int line = 0;
        while (reader.ReadLine() is { } text)
        {
            line++;
            var columns = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (columns.Length == 0)
            {
                Finish();
                continue;
            }
            if (columns[0] == "-DOCSTART-")
            {
                Finish();
                continue;
            }
            int sentenceLine = lines.Count > 0 ? lines[0] : line;
            var tag = columns[^1];
            if (columns.Length < 2)
            {
                sink.Report(line, $"one column ('{columns[0]}'): a word line needs the word and its tag{SkippedNote(sentenceLine)}");
                bad = true;
                previousType = null;
            }
            else if (TagSchemes.Validate(tag, options.Scheme) is { } reason)
            {
                sink.Report(line, reason + SkippedNote(sentenceLine));
                bad = true;
                previousType = null;
            }
            else
            {
                var iob2 = TagSchemes.ConvertToIob2(tag, options.Scheme, ref previousType);
                if (allowed is not null && !allowed.Contains(iob2))
                {
                    var shown = iob2 == tag ? $"'{tag}'" : $"'{tag}' (IOB2 '{iob2}')";
                    sink.Report(line, $"tag {shown} is not in the label list{SkippedNote(sentenceLine)}");
                    bad = true;
                }
                tag = iob2;
            }
            words.Add(columns[0]);
            tags.Add(tag);
            lines.Add(line);
        }
        Finish();
        return sink.Result<TaggedSentence>(sentences);
    }

    private static string SkippedNote(int sentenceLine) => $"; the sentence starting at line {sentenceLine} is skipped";
}

/// <summary>Checks and converts chunk tags between <see cref="TagScheme"/>s.</summary>
public static class TagSchemes
{
    /// <summary>
    /// Converts tags to IOB2. IOB1: an <c>I-X</c> that does not continue a chunk of type X becomes <c>B-X</c>; <c>B-X</c>
    /// stays. BIOES: <c>S-X</c> becomes <c>B-X</c>, <c>E-X</c> becomes <c>I-X</c>. IOB2: unchanged. Sequences that break
    /// their scheme are converted tag by tag without complaint (an <c>I-</c> after <c>O</c> stays <c>I-</c>, which
    /// lenient scoring reads as a chunk start).
    /// </summary>
    /// <exception cref="ArgumentException">A tag is not of the form <c>O</c> or <c>P-TYPE</c> with a prefix of the scheme.</exception>
    public static IReadOnlyList<string> ToIob2(IReadOnlyList<string> tags, TagScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(tags);
        var result = new string[tags.Count];
        string? previousType = null;
        for (int i = 0; i < tags.Count; i++)
        {
            var tag = tags[i];
            if (Validate(tag, scheme) is { } reason)
            {
                throw new ArgumentException($"Tag {i}: {reason}.", nameof(tags));
            }
            result[i] = ConvertToIob2(tag, scheme, ref previousType);
        }
        return result;
    }

    /// <summary>Converts one well-formed tag; <paramref name="previousType"/> is the entity type of the tag before (null after <c>O</c> or at a sentence start) and is updated.</summary>
    internal static string ConvertToIob2(string tag, TagScheme scheme, ref string? previousType)
    {
        if (tag == "O")
        {
            previousType = null;
            return tag;
        }
        char prefix = tag[0];
        var type = tag[2..];
        var converted = (scheme, prefix) switch
        {
            (TagScheme.Iob1, 'I') => previousType == type ? tag : "B-" + type,
            (TagScheme.Bioes, 'S') => "B-" + type,
            (TagScheme.Bioes, 'E') => "I-" + type,
            _ => tag,
        };
        previousType = type;
        return converted;
    }

    /// <summary>Null when <paramref name="tag"/> is a well-formed tag of <paramref name="scheme"/>; otherwise the reason it is not.</summary>
    public static string? Validate(string tag, TagScheme scheme)
    {
        ArgumentNullException.ThrowIfNull(tag);
        if (tag == "O")
        {
            return null;
        }
        var prefixes = scheme == TagScheme.Bioes ? "BIES" : "BI";
        if (tag.Length < 3 || tag[1] != '-' || !prefixes.Contains(tag[0], StringComparison.Ordinal))
        {
            var form = scheme == TagScheme.Bioes ? "O, B-TYPE, I-TYPE, E-TYPE or S-TYPE" : "O, B-TYPE or I-TYPE";
            var name = scheme switch { TagScheme.Iob1 => "IOB1", TagScheme.Iob2 => "IOB2", _ => "BIOES" };
            return $"tag '{tag}' is not a valid {name} tag ({form})";
        }
        return null;
    }
}
