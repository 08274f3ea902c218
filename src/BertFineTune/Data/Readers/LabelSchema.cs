using System.Globalization;

namespace BertFineTune.Data.Readers;

/// <summary>How a label column's text becomes a target.</summary>
public enum LabelKind
{
    /// <summary>No label: examples are for prediction and carry no target.</summary>
    None,

    /// <summary>One class per example, named by text and mapped to its index in <see cref="LabelSchema.Labels"/> (<see cref="TargetKind.Integer"/>).</summary>
    SingleLabel,

    /// <summary>A number (regression), parsed with the invariant culture (<see cref="TargetKind.Number"/>).</summary>
    Regression,

    /// <summary>Zero or more class names split by <see cref="LabelSchema.Separator"/>, turned into a 0/1 vector over <see cref="LabelSchema.Labels"/> (<see cref="TargetKind.Vector"/>).</summary>
    MultiLabel,
}

/// <summary>
/// Turns the text of a label column into a <see cref="TargetValue"/>: a class index through a label list, a regression
/// number, or a multi-label vector. Class names are matched exactly (ordinal, after trimming white space), so numeric
/// classes are listed as text: MRPC's labels are <c>["0", "1"]</c>.
/// </summary>
public sealed class LabelSchema
{
    private readonly Dictionary<string, int> _index;

    private LabelSchema(LabelKind kind, IReadOnlyList<string> labels, char separator)
    {
        Kind = kind;
        Labels = labels;
        Separator = separator;
        _index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < labels.Count; i++)
        {
            var label = labels[i] ?? throw new ArgumentException($"Label {i} is null.", nameof(labels));
            if (label.Trim().Length == 0)
            {
                throw new ArgumentException($"Label {i} is empty; every class needs a name.", nameof(labels));
            }
            if (!_index.TryAdd(label.Trim(), i))
            {
                throw new ArgumentException($"Label '{label}' is listed twice (at {_index[label.Trim()]} and {i}).", nameof(labels));
            }
        }
    }

    /// <summary>No label column: examples carry no target.</summary>
    public static LabelSchema None { get; } = new(LabelKind.None, [], ',');

    /// <summary>A regression target parsed as a number with the invariant culture.</summary>
    public static LabelSchema Regression { get; } = new(LabelKind.Regression, [], ',');

    /// <summary>What this schema turns labels into.</summary>
    public LabelKind Kind { get; }

    /// <summary>The class names, in id order (empty for <see cref="LabelKind.None"/> and <see cref="LabelKind.Regression"/>).</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>The character between class names of a <see cref="LabelKind.MultiLabel"/> column.</summary>
    public char Separator { get; }

    /// <summary>One class per example; <paramref name="labels"/>[i] is class i.</summary>
    /// <exception cref="ArgumentException">The list is empty, or holds an empty or repeated name.</exception>
    public static LabelSchema SingleLabel(IReadOnlyList<string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count == 0)
        {
            throw new ArgumentException("A single-label schema needs at least one class name.", nameof(labels));
        }
        return new LabelSchema(LabelKind.SingleLabel, [.. labels], ',');
    }

    /// <summary>Any number of classes per example, written as names split by <paramref name="separator"/> (an empty cell is no class).</summary>
    /// <exception cref="ArgumentException">The list is empty, or holds an empty or repeated name, or a name contains the separator.</exception>
    public static LabelSchema MultiLabel(IReadOnlyList<string> labels, char separator = ',')
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count == 0)
        {
            throw new ArgumentException("A multi-label schema needs at least one class name.", nameof(labels));
        }
        var bad = labels.FirstOrDefault(l => l is not null && l.Contains(separator, StringComparison.Ordinal));
        if (bad is not null)
        {
            throw new ArgumentException($"Label '{bad}' contains the separator '{separator}'; choose another separator.", nameof(labels));
        }
        return new LabelSchema(LabelKind.MultiLabel, [.. labels], separator);
    }

    /// <summary>The id of class <paramref name="label"/>, or null when it is not in <see cref="Labels"/>.</summary>
    public int? IdOf(string label)
    {
        ArgumentNullException.ThrowIfNull(label);
        return _index.TryGetValue(label.Trim(), out var id) ? id : null;
    }

    /// <summary>Parses a label cell; on failure returns false with the reason.</summary>
    internal bool TryParse(string text, out TargetValue value, out string reason)
    {
        value = default;
        reason = "";
        switch (Kind)
        {
            case LabelKind.SingleLabel:
                if (IdOf(text) is { } id)
                {
                    value = TargetValue.Integer(id);
                    return true;
                }
                reason = $"unknown label '{text}' (known: {Describe()})";
                return false;
            case LabelKind.Regression:
                if (float.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && float.IsFinite(number))
                {
                    value = TargetValue.Number(number);
                    return true;
                }
                reason = $"label '{text}' is not a finite number";
                return false;
            case LabelKind.MultiLabel:
                var vector = new float[Labels.Count];
                foreach (var part in text.Split(Separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (IdOf(part) is not { } partId)
                    {
                        reason = $"unknown label '{part}' in '{text}' (known: {Describe()})";
                        return false;
                    }
                    vector[partId] = 1f;
                }
                value = TargetValue.Vector(vector);
                return true;
            default:
                throw new InvalidOperationException($"A {Kind} schema parses no labels.");
        }
    }

    /// <summary>Parses a multi-label list given as separate names (a JSON array).</summary>
    internal bool TryParseMany(IEnumerable<string> names, out TargetValue value, out string reason)
    {
        value = default;
        reason = "";
        var vector = new float[Labels.Count];
        foreach (var name in names)
        {
            if (IdOf(name) is not { } id)
            {
                reason = $"unknown label '{name}' (known: {Describe()})";
                return false;
            }
            vector[id] = 1f;
        }
        value = TargetValue.Vector(vector);
        return true;
    }

    private string Describe() =>
        Labels.Count <= 20 ? string.Join(", ", Labels.Select(l => $"'{l}'")) : $"{Labels.Count} labels starting '{Labels[0]}'";
}
