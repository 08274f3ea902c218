using System.Text.Json;

namespace BertFineTune.Data.Readers;

/// <summary>What a <see cref="JsonLinesReader"/> reads: the field names of text, pair and label.</summary>
public sealed record JsonLinesReaderOptions
{
    /// <summary>The field with the text (default <c>text</c>).</summary>
    public string TextField { get; init; } = "text";

    /// <summary>The field with the second text of a pair, or null for single texts.</summary>
    public string? TextPairField { get; init; }

    /// <summary>The label field, or null when the file has no labels (then <see cref="Labels"/> must be <see cref="LabelSchema.None"/>).</summary>
    public string? LabelField { get; init; }

    /// <summary>
    /// How the label becomes a target (default <see cref="LabelSchema.None"/>). A class label may be a JSON string or
    /// number; either is looked up by its text in <see cref="LabelSchema.Labels"/> (so <c>0</c> matches class name
    /// <c>"0"</c>). A regression label is a number or a numeric string. A multi-label value is an array of names or one
    /// string of names split by the schema's separator.
    /// </summary>
    public LabelSchema Labels { get; init; } = LabelSchema.None;

    /// <summary>What to do with an invalid JSON line, a missing field or an unknown label (default <see cref="BadRowPolicy.Throw"/>).</summary>
    public BadRowPolicy BadRows { get; init; } = BadRowPolicy.Throw;

    /// <summary>The file's text encoding (default UTF-8, a byte-order mark is honoured).</summary>
    public System.Text.Encoding? FileEncoding { get; init; }

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrEmpty(TextField);
        if ((LabelField is null) != (Labels.Kind == LabelKind.None))
        {
            throw new ArgumentException(LabelField is null
                ? $"Labels is a {Labels.Kind} schema but no LabelField is set; set LabelField, or use LabelSchema.None."
                : $"LabelField '{LabelField}' is set but Labels is LabelSchema.None; give a single-label, regression or multi-label schema.");
        }
        if (!Enum.IsDefined(BadRows))
        {
            throw new ArgumentOutOfRangeException(nameof(BadRows), BadRows, "Unknown bad-row policy.");
        }
    }
}

/// <summary>
/// Reads JSON Lines (one JSON object per line) into <see cref="TextExample"/>s. Lines holding only white space are passed
/// over; a line that is not a JSON object, lacks a field, holds a field of the wrong type or an unknown label is a bad row.
/// </summary>
public static class JsonLinesReader
{
    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="BadRowException">A bad row under <see cref="BadRowPolicy.Throw"/>: the message names the file, line and reason.</exception>
    /// <exception cref="ArgumentException">The options contradict each other.</exception>
    public static ReadResult<TextExample> Read(string path, JsonLinesReaderOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        using var reader = new StreamReader(path, options.FileEncoding ?? System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Read(reader, path, options);
    }

    /// <summary>Reads JSON Lines from <paramref name="reader"/>; <paramref name="sourceName"/> names it in bad-row reports.</summary>
    /// <exception cref="BadRowException">A bad row under <see cref="BadRowPolicy.Throw"/>: the message names the source, line and reason.</exception>
    /// <exception cref="ArgumentException">The options contradict each other.</exception>
    public static ReadResult<TextExample> Read(TextReader reader, string sourceName, JsonLinesReaderOptions options)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sourceName);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var sink = new BadRowSink(sourceName, options.BadRows);
        var items = new List<TextExample>();
        int line = 0;
        while (reader.ReadLine() is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }
            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(text);
            }
            catch (JsonException e)
            {
                sink.Report(line, $"invalid JSON: {e.Message}");
                continue;
            }
            using (document)
            {
                var parsed = ReadObject(document.RootElement, options);
                if (parsed.Reason is { } reason)
                {
                    sink.Report(line, reason);
                }
                else
                {
                    items.Add(new TextExample(parsed.Text!, parsed.Pair, parsed.Label, line));
                }
            }
        }
        return sink.Result<TextExample>(items);
    }

    private static (string? Text, string? Pair, TargetValue? Label, string? Reason) ReadObject(JsonElement root, JsonLinesReaderOptions options)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return (null, null, null, $"the line is a JSON {root.ValueKind}, not an object");
        }
        if (StringField(root, options.TextField, out var text) is { } textError)
        {
            return (null, null, null, textError);
        }
        string? pair = null;
        if (options.TextPairField is { } pairField && StringField(root, pairField, out pair) is { } pairError)
        {
            return (null, null, null, pairError);
        }
        TargetValue? label = null;
        if (options.LabelField is { } labelField)
        {
            if (!root.TryGetProperty(labelField, out var value))
            {
                return (null, null, null, $"missing field '{labelField}'");
            }
            if (ParseLabel(value, labelField, options.Labels, out var target) is { } labelError)
            {
                return (null, null, null, labelError);
            }
            label = target;
        }
        return (text, pair, label, null);
    }

    private static string? StringField(JsonElement root, string name, out string? value)
    {
        value = null;
        if (!root.TryGetProperty(name, out var element))
        {
            return $"missing field '{name}'";
        }
        if (element.ValueKind != JsonValueKind.String)
        {
            return $"field '{name}' is a JSON {element.ValueKind}, not a string";
        }
        value = element.GetString();
        return null;
    }

    private static string? ParseLabel(JsonElement value, string field, LabelSchema schema, out TargetValue target)
    {
        target = default;
        string reason;
        switch (schema.Kind, value.ValueKind)
        {
            case (LabelKind.SingleLabel or LabelKind.Regression, JsonValueKind.String):
                return schema.TryParse(value.GetString()!, out target, out reason) ? null : reason;
            case (LabelKind.SingleLabel or LabelKind.Regression, JsonValueKind.Number):
                return schema.TryParse(value.GetRawText(), out target, out reason) ? null : reason;
            case (LabelKind.MultiLabel, JsonValueKind.String):
                return schema.TryParse(value.GetString()!, out target, out reason) ? null : reason;
            case (LabelKind.MultiLabel, JsonValueKind.Array):
                var names = new List<string>();
                foreach (var item in value.EnumerateArray())
                {
                    if (item.ValueKind is not (JsonValueKind.String or JsonValueKind.Number))
                    {
                        return $"field '{field}' holds a JSON {item.ValueKind}; a multi-label array holds class names";
                    }
                    names.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : item.GetRawText());
                }
                return schema.TryParseMany(names, out target, out reason) ? null : reason;
            default:
                return $"field '{field}' is a JSON {value.ValueKind}, which is no {schema.Kind} label";
        }
    }
}
