using Spectre.Console;

namespace BertFineTune.Cli;

/// <summary>
/// How output is drawn. On a terminal: colours, tables and a live progress bar. When standard output is redirected (a CI
/// log, <c>| tee</c>, a file): plain text, never wrapped (a path stays on one line whatever its length), no box-drawing
/// characters, and one line per logged training step instead of a redrawn bar.
/// </summary>
internal static class Terminal
{
    /// <summary>Width of the plain console: wide enough that Spectre never wraps a line.</summary>
    private const int UnwrappedWidth = 32_767;

    /// <summary>True when standard output is not a terminal.</summary>
    public static bool IsPlain { get; private set; }

    /// <summary>Sets up <see cref="AnsiConsole.Console"/> for the kind of output; call once, before anything is written.</summary>
    public static void Configure()
    {
        IsPlain = Console.IsOutputRedirected;
        if (!IsPlain)
        {
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(new TrailingSpaceTrimmer(Console.Out)),
        });
        console.Profile.Width = UnwrappedWidth;
        console.Profile.Capabilities.Unicode = false;
        AnsiConsole.Console = console;
    }

    /// <summary>A titled list of name/value rows: a table on a terminal, aligned plain lines otherwise.</summary>
    public static void WriteRows(string title, IReadOnlyList<(string Name, string Value)> rows, string nameHeader = "name", string valueHeader = "value")
    {
        if (IsPlain)
        {
            WritePlainRows(Console.Out, title, rows);
            return;
        }
        // The title on its own line: as a Table title it would wrap to the table's width.
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(title)}[/]");
        var table = new Table().AddColumn(nameHeader).AddColumn(new TableColumn(valueHeader));
        foreach (var (name, value) in rows)
        {
            table.AddRow(Markup.Escape(name), Markup.Escape(value));
        }
        AnsiConsole.Write(table);
    }

    /// <summary><paramref name="title"/>, then each row as an indented name, padded to the longest, and its value: plain lines, never a table.</summary>
    public static void WritePlainRows(TextWriter writer, string title, IReadOnlyList<(string Name, string Value)> rows)
    {
        writer.WriteLine(title);
        int width = rows.Count == 0 ? 0 : rows.Max(r => r.Name.Length);
        foreach (var (name, value) in rows)
        {
            writer.WriteLine($"  {name.PadRight(width)}  {value}");
        }
    }

    /// <summary>One line of text, never wrapped when output is plain.</summary>
    public static void WriteLine(string text)
    {
        if (IsPlain)
        {
            Console.Out.WriteLine(text);
        }
        else
        {
            AnsiConsole.WriteLine(text);
        }
    }

    /// <summary>Drops the spaces Spectre pads table and help cells with at the end of each line; a log needs none of them.</summary>
    private sealed class TrailingSpaceTrimmer(TextWriter inner) : TextWriter
    {
        private readonly System.Text.StringBuilder _line = new();

        public override System.Text.Encoding Encoding => inner.Encoding;

        public override void Write(char value)
        {
            if (value == '\n')
            {
                inner.Write(_line.ToString().TrimEnd(' ', '\r'));
                inner.Write('\n');
                _line.Clear();
            }
            else
            {
                _line.Append(value);
            }
        }

        public override void Flush()
        {
            inner.Write(_line.ToString());
            _line.Clear();
            inner.Flush();
        }
    }
}
