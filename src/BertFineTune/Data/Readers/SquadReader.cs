using System.Globalization;
using System.Text.Json;

namespace BertFineTune.Data.Readers;

/// <summary>One gold answer of a SQuAD question: its text and where it starts in the context.</summary>
/// <param name="Text">The answer text, equal to <c>Context[Start..End]</c>.</param>
/// <param name="Start">The UTF-16 position in the context where the answer starts (SQuAD's <c>answer_start</c>).</param>
public sealed record SquadAnswer(string Text, int Start)
{
    /// <summary>The position just after the answer.</summary>
    public int End => Start + Text.Length;
}

/// <summary>A SQuAD question with its context and gold answers.</summary>
/// <param name="Id">The question id.</param>
/// <param name="Title">The article title, when the file gives one.</param>
/// <param name="Question">The question.</param>
/// <param name="Context">The paragraph the answer is taken from.</param>
/// <param name="Answers">The gold answers (empty for unanswerable questions); validated against the context.</param>
/// <param name="IsImpossible">Whether the question has no answer in the context (SQuAD v2's <c>is_impossible</c>).</param>
public sealed record QuestionAnswerExample(string Id, string? Title, string Question, string Context,
    IReadOnlyList<SquadAnswer> Answers, bool IsImpossible);

/// <summary>
/// Reads SQuAD v1.1 and v2.0 JSON files (<c>data → paragraphs → {context, qas → {id, question, answers[{text,
/// answer_start}], is_impossible}}</c>). Every answer is checked: its text must equal the context at
/// <c>answer_start</c>. A question that fails a check is a bad row named by its id; an unreadable file (invalid JSON, no
/// <c>data</c> array) is an <see cref="InvalidDataException"/>.
/// </summary>
public static class SquadReader
{
    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="BadRowException">A bad question under <see cref="BadRowPolicy.Throw"/>: the message names the file, question id and reason.</exception>
    /// <exception cref="InvalidDataException">The file is not valid JSON or has no <c>data</c> array.</exception>
    public static ReadResult<QuestionAnswerExample> Read(string path, BadRowPolicy badRows = BadRowPolicy.Throw)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        using var stream = File.OpenRead(path);
        return Read(stream, path, badRows);
    }

    /// <summary>Reads SQuAD JSON from <paramref name="stream"/>; <paramref name="sourceName"/> names it in reports.</summary>
    /// <exception cref="BadRowException">A bad question under <see cref="BadRowPolicy.Throw"/>: the message names the source, question id and reason.</exception>
    /// <exception cref="InvalidDataException">The stream is not valid JSON or has no <c>data</c> array.</exception>
    public static ReadResult<QuestionAnswerExample> Read(Stream stream, string sourceName, BadRowPolicy badRows = BadRowPolicy.Throw)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sourceName);
        if (!Enum.IsDefined(badRows))
        {
            throw new ArgumentOutOfRangeException(nameof(badRows), badRows, "Unknown bad-row policy.");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{sourceName}: not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException($"{sourceName}: a SQuAD file is an object with a 'data' array; this one has none.");
            }
            var sink = new BadRowSink(sourceName, badRows);
            var items = new List<QuestionAnswerExample>();
            int a = 0;
            foreach (var article in data.EnumerateArray())
            {
                ReadArticle(article, $"data[{a++}]", sink, items);
            }
            return sink.Result<QuestionAnswerExample>(items);
        }
    }

    private static void ReadArticle(JsonElement article, string path, BadRowSink sink, List<QuestionAnswerExample> items)
    {
        if (article.ValueKind != JsonValueKind.Object
            || !article.TryGetProperty("paragraphs", out var paragraphs) || paragraphs.ValueKind != JsonValueKind.Array)
        {
            sink.Report(null, $"{path}: the article has no 'paragraphs' array");
            return;
        }
        string? title = article.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        int p = 0;
        foreach (var paragraph in paragraphs.EnumerateArray())
        {
            var paragraphPath = $"{path}.paragraphs[{p++}]";
            if (paragraph.ValueKind != JsonValueKind.Object
                || !paragraph.TryGetProperty("context", out var c) || c.ValueKind != JsonValueKind.String)
            {
                sink.Report(null, $"{paragraphPath}: the paragraph has no 'context' string");
                continue;
            }
            if (!paragraph.TryGetProperty("qas", out var qas) || qas.ValueKind != JsonValueKind.Array)
            {
                sink.Report(null, $"{paragraphPath}: the paragraph has no 'qas' array");
                continue;
            }
            var context = c.GetString()!;
            int q = 0;
            foreach (var qa in qas.EnumerateArray())
            {
                var qaPath = $"{paragraphPath}.qas[{q++}]";
                var (example, id, reason) = ReadQuestion(qa, title, context);
                if (reason is not null)
                {
                    sink.Report(null, id is null ? $"{qaPath}: {reason}" : reason, id);
                }
                else
                {
                    items.Add(example!);
                }
            }
        }
    }

    private static (QuestionAnswerExample? Example, string? Id, string? Reason) ReadQuestion(JsonElement qa, string? title, string context)
    {
        if (qa.ValueKind != JsonValueKind.Object)
        {
            return (null, null, $"the question is a JSON {qa.ValueKind}, not an object");
        }
        string? id = qa.TryGetProperty("id", out var idElement)
            ? idElement.ValueKind switch
            {
                JsonValueKind.String => idElement.GetString(),
                JsonValueKind.Number => idElement.GetRawText(),
                _ => null,
            }
            : null;
        if (id is null)
        {
            return (null, null, "the question has no 'id' string");
        }
        if (!qa.TryGetProperty("question", out var questionElement) || questionElement.ValueKind != JsonValueKind.String)
        {
            return (null, id, "missing 'question' string");
        }
        bool impossible = false;
        if (qa.TryGetProperty("is_impossible", out var impossibleElement))
        {
            if (impossibleElement.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                return (null, id, $"'is_impossible' is a JSON {impossibleElement.ValueKind}, not true or false");
            }
            impossible = impossibleElement.GetBoolean();
        }
        var answers = new List<SquadAnswer>();
        if (qa.TryGetProperty("answers", out var answersElement))
        {
            if (answersElement.ValueKind != JsonValueKind.Array)
            {
                return (null, id, $"'answers' is a JSON {answersElement.ValueKind}, not an array");
            }
            int k = 0;
            foreach (var answer in answersElement.EnumerateArray())
            {
                if (ReadAnswer(answer, k++, context, out var parsed) is { } answerError)
                {
                    return (null, id, answerError);
                }
                answers.Add(parsed!);
            }
        }
        if (impossible && answers.Count > 0)
        {
            return (null, id, $"marked is_impossible but has {answers.Count} answer(s)");
        }
        if (!impossible && answers.Count == 0)
        {
            return (null, id, "no answers, and not marked is_impossible");
        }
        return (new QuestionAnswerExample(id, title, questionElement.GetString()!, context, answers, impossible), id, null);
    }

    private static string? ReadAnswer(JsonElement answer, int index, string context, out SquadAnswer? parsed)
    {
        parsed = null;
        if (answer.ValueKind != JsonValueKind.Object
            || !answer.TryGetProperty("text", out var textElement) || textElement.ValueKind != JsonValueKind.String)
        {
            return $"answer {index} has no 'text' string";
        }
        if (!answer.TryGetProperty("answer_start", out var startElement) || !startElement.TryGetInt32(out var start))
        {
            return $"answer {index} has no integer 'answer_start'";
        }
        parsed = new SquadAnswer(textElement.GetString()!, start);
        return CheckAnswer(parsed, index, context);
    }

    /// <summary>Null when the answer is non-empty and is the context's text at its start; otherwise the reason.</summary>
    internal static string? CheckAnswer(SquadAnswer answer, int index, string context)
    {
        if (answer.Text.Length == 0)
        {
            return $"answer {index} has empty text";
        }
        if (answer.Start < 0 || answer.End > context.Length)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"answer {index} '{answer.Text}' at answer_start {answer.Start} runs outside the context of {context.Length} characters");
        }
        if (string.CompareOrdinal(context, answer.Start, answer.Text, 0, answer.Text.Length) != 0)
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"answer {index} '{answer.Text}' is not the context's text at answer_start {answer.Start}, which is '{context.Substring(answer.Start, answer.Text.Length)}'");
        }
        return null;
    }
}
