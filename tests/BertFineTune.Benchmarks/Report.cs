using System.Globalization;
using System.Text.Json;

namespace BertFineTune.Benchmarks;

/// <summary>
/// One measured figure next to the reference it is compared with (measured in the same run), and their ratio with a
/// word on how to read it.
/// </summary>
internal sealed record Figure(string Section, string Name, double Value, string Unit, string? Reference = null,
    double? ReferenceValue = null, double? Ratio = null, string? RatioMeaning = null, string? Note = null);

/// <summary>Collects figures, prints each section as a table and writes everything as JSON.</summary>
internal sealed class Report
{
    private readonly List<Figure> _figures = [];
    private readonly List<string> _notes = [];

    public IReadOnlyList<Figure> Figures => _figures;

    public void Add(Figure figure) => _figures.Add(figure);

    /// <summary>A figure compared with a reference: ratio = value ÷ reference unless given.</summary>
    public void Add(string section, string name, double value, string unit, string reference, double referenceValue,
        string ratioMeaning, double? ratio = null, string? note = null) =>
        _figures.Add(new Figure(section, name, value, unit, reference, referenceValue, ratio ?? value / referenceValue, ratioMeaning, note));

    /// <summary>A line printed under the tables and stored in the JSON (how a figure was obtained, what was extrapolated).</summary>
    public void Note(string note)
    {
        _notes.Add(note);
        Console.WriteLine($"  note: {note}");
    }

    /// <summary>Prints the figures of <paramref name="section"/> as a table.</summary>
    public void Print(string section)
    {
        var rows = _figures.Where(f => f.Section == section).ToList();
        if (rows.Count == 0)
        {
            return;
        }
        Console.WriteLine();
        Console.WriteLine($"== {section} ==");
        Console.WriteLine($"{"figure",-52} {"value",12} {"unit",-9} {"reference",-34} {"ref value",12} {"ratio",8}  meaning");
        foreach (var f in rows)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{f.Name,-52} {Format(f.Value),12} {f.Unit,-9} {f.Reference ?? "",-34} {(f.ReferenceValue is { } r ? Format(r) : ""),12} {(f.Ratio is { } q ? q.ToString("F2", CultureInfo.InvariantCulture) : ""),8}  {f.RatioMeaning}"));
            if (f.Note is not null)
            {
                Console.WriteLine($"{"",4}({f.Note})");
            }
        }
    }

    public void WriteJson(string path, object header)
    {
        var json = JsonSerializer.Serialize(new
        {
            benchmark = "bertfinetune-performance",
            header,
            notes = _notes,
            figures = _figures.Select(f => new
            {
                section = f.Section,
                name = f.Name,
                value = f.Value,
                unit = f.Unit,
                reference = f.Reference,
                referenceValue = f.ReferenceValue,
                ratio = f.Ratio,
                ratioMeaning = f.RatioMeaning,
                note = f.Note,
            }),
        }, new JsonSerializerOptions { WriteIndented = true });
        File.WriteAllText(path, json);
        Console.WriteLine($"wrote {path}");
    }

    private static string Format(double value) =>
        Math.Abs(value) >= 1000 ? value.ToString("N0", CultureInfo.InvariantCulture)
        : Math.Abs(value) >= 10 ? value.ToString("F1", CultureInfo.InvariantCulture)
        : value.ToString("F3", CultureInfo.InvariantCulture);
}
