using System.Text;

namespace BertFineTune.Data.Readers;

/// <summary>One row of a delimited file: its fields, or why it cannot be read; <see cref="Line"/> is where it starts (1-based).</summary>
internal readonly record struct DelimitedRow(int Line, string[]? Fields, string? Error);

/// <summary>
/// Splits delimited text into rows with the rules of Python's <c>csv.reader</c> default dialect (CPython
/// <c>Modules/_csv.c</c>, <c>parse_process_char</c>: <c>doublequote=True</c>, no escape character, <c>strict=False</c>),
/// except that a malformed quoted field is an error that costs only its own row instead of silently changing the data:
/// <list type="bullet">
/// <item>A quote at the start of a field opens a quoted field (<c>START_FIELD</c> → <c>IN_QUOTED_FIELD</c>): it runs to the
/// closing quote, across separators and lines; <c>""</c> inside it is one quote.</item>
/// <item>A quote anywhere else in an unquoted field is text (<c>IN_FIELD</c> adds it): <c>the 5" screen</c> is read as written.</item>
/// <item>Records end at <c>\n</c>, <c>\r\n</c> or <c>\r</c> (Python with <c>newline=''</c>); an empty line is no row.</item>
/// <item>Bad, where Python would silently read something else: a quoted field with no closing quote before the end of
/// the text (Python with <c>strict=False</c> puts the rest of the file in that one field), and text after a closing
/// quote before the separator or end of line (Python appends it and drops the quotes; <c>strict=True</c> raises
/// "',' expected after '\"'"). The error names the line and column of the quote; reading resumes at the line after
/// the one where the bad field opened, so a stray quote costs its own row and no other.</item>
/// </list>
/// Without quote processing (<c>quotechar=None</c>, as transformers' GLUE processors read TSV, and IANA
/// text/tab-separated-values, which has no quoting) a quote is text everywhere and a row is one line.
/// The text is read whole, since recovering from a bad quoted field re-reads the lines after it.
/// </summary>
internal sealed class DelimitedRowParser
{
    private const char Quote = '"';
    private readonly string _text;
    private readonly char _separator;
    private readonly bool _parseQuotes;
    private int _pos;
    private int _line = 1;
    private int _lineStart;

    public DelimitedRowParser(string text, char separator, bool parseQuotes)
    {
        _text = text;
        _separator = separator;
        _parseQuotes = parseQuotes;
        // A byte-order mark that the decoder left (text given as a string) is not part of the first field.
        if (_text.Length > 0 && _text[0] == '\uFEFF')
        {
            _pos = _lineStart = 1;
        }
    }

    private enum State
    {
        StartField,
        InField,
        InQuotedField,
        QuoteInQuotedField,
    }

    /// <summary>The next non-empty row, or false at the end of the text.</summary>
    public bool TryRead(out DelimitedRow row)
    {
        while (_pos < _text.Length && IsNewline(_text[_pos]))
        {
            ConsumeNewline();
        }
        if (_pos >= _text.Length)
        {
            row = default;
            return false;
        }
        row = _parseQuotes ? ReadQuoted() : ReadUnquoted();
        return true;
    }

    private DelimitedRow ReadUnquoted()
    {
        int line = _line;
        var fields = new List<string>();
        int start = _pos;
        while (_pos < _text.Length && !IsNewline(_text[_pos]))
        {
            if (_text[_pos] == _separator)
            {
                fields.Add(_text[start.._pos]);
                start = _pos + 1;
            }
            _pos++;
        }
        fields.Add(_text[start.._pos]);
        if (_pos < _text.Length)
        {
            ConsumeNewline();
        }
        return new DelimitedRow(line, fields.ToArray(), null);
    }

    private DelimitedRow ReadQuoted()
    {
        int line = _line;
        var fields = new List<string>();
        var field = new StringBuilder();
        var state = State.StartField;
        int quotePos = 0, quoteLine = 0, quoteColumn = 0;
        while (true)
        {
            if (_pos >= _text.Length)
            {
                if (state == State.InQuotedField)
                {
                    return Bad(line, quotePos, quoteLine,
                        $"column {quoteColumn}: unterminated quote: the field that opens with this '\"' has no closing quote before "
                        + "the end of the file (read as CSV it would take in every line after it). If the quote is part of the text, "
                        + "put the whole field in quotes and double the quote (\"5\"\" screen\"); otherwise add the closing quote.");
                }
                fields.Add(field.ToString());
                return new DelimitedRow(line, fields.ToArray(), null);
            }
            char c = _text[_pos];
            switch (state)
            {
                case State.StartField when c == Quote:
                    quotePos = _pos;
                    quoteLine = _line;
                    quoteColumn = _pos - _lineStart + 1;
                    state = State.InQuotedField;
                    _pos++;
                    break;
                case State.StartField or State.InField or State.QuoteInQuotedField when c == _separator:
                    fields.Add(field.ToString());
                    field.Clear();
                    state = State.StartField;
                    _pos++;
                    break;
                case State.StartField or State.InField or State.QuoteInQuotedField when IsNewline(c):
                    fields.Add(field.ToString());
                    ConsumeNewline();
                    return new DelimitedRow(line, fields.ToArray(), null);
                case State.StartField or State.InField:
                    // Python's IN_FIELD keeps a quote that does not start the field as text.
                    field.Append(c);
                    state = State.InField;
                    _pos++;
                    break;
                case State.InQuotedField when c == Quote:
                    state = State.QuoteInQuotedField;
                    _pos++;
                    break;
                case State.InQuotedField when IsNewline(c):
                    // A new line inside quotes is data, kept as written (\r\n stays two characters).
                    field.Append(c);
                    if (c == '\r' && _pos + 1 < _text.Length && _text[_pos + 1] == '\n')
                    {
                        field.Append('\n');
                    }
                    ConsumeNewline();
                    break;
                case State.InQuotedField:
                    field.Append(c);
                    _pos++;
                    break;
                case State.QuoteInQuotedField when c == Quote:
                    field.Append(Quote);
                    state = State.InQuotedField;
                    _pos++;
                    break;
                default:
                    // QuoteInQuotedField followed by text: the quoted field is malformed.
                    string where = quoteLine == _line ? $"column {quoteColumn}" : $"line {quoteLine}, column {quoteColumn}";
                    return Bad(line, quotePos, quoteLine,
                        $"column {_pos - _lineStart + 1}: text after the closing quote of the quoted field that opens at {where}; "
                        + $"a field that starts with '\"' must end with '\"' followed by '{Show(_separator)}' or the end of the line. "
                        + "Put the whole field in quotes and double the quotes inside it (\"\"\"Hello\"\" she said\"), "
                        + "or start the field with another character.");
            }
        }
    }

    /// <summary>A bad row; reading resumes at the line after the one where the bad quoted field opened.</summary>
    private DelimitedRow Bad(int rowLine, int quotePos, int quoteLine, string reason)
    {
        _pos = quotePos;
        _line = quoteLine;
        while (_pos < _text.Length && !IsNewline(_text[_pos]))
        {
            _pos++;
        }
        if (_pos < _text.Length)
        {
            ConsumeNewline();
        }
        string row = rowLine == quoteLine ? "" : $" (in the row that starts at line {rowLine})";
        return new DelimitedRow(quoteLine, null, reason + row);
    }

    private static bool IsNewline(char c) => c is '\n' or '\r';

    private void ConsumeNewline()
    {
        if (_text[_pos] == '\r' && _pos + 1 < _text.Length && _text[_pos + 1] == '\n')
        {
            _pos++;
        }
        _pos++;
        _line++;
        _lineStart = _pos;
    }

    private static string Show(char separator) => separator == '\t' ? "\\t" : separator.ToString();
}
