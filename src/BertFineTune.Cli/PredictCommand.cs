using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using BertFineTune.Builder;
using BertFineTune.Heads;
using BertFineTune.Inference;
using Spectre.Console;
using TorchSharp;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Options of <c>predict</c>.</summary>
internal sealed class PredictSettings : RunSettings
{
    [CommandOption("-i|--input <FILE>")]
    [Description("Input file, one item per line (plain text, or a JSON object with text/text_pair, question/context); standard input when omitted.")]
    public string? Input { get; init; }

    [CommandOption("--top-k <K>")]
    [Description("Labels, answers or mask candidates per item.")]
    [DefaultValue(1)]
    public int TopK { get; init; } = 1;

    [CommandOption("--aggregation <STRATEGY>")]
    [Description("Token classification: how word pieces join into entities: None, Simple, First, Average or Max.")]
    [DefaultValue(AggregationStrategy.Simple)]
    public AggregationStrategy Aggregation { get; init; } = AggregationStrategy.Simple;

    [CommandOption("--batch-size <N>")]
    [Description("Items per inference batch.")]
    [DefaultValue(32)]
    public int BatchSize { get; init; } = 32;

    public override ValidationResult Validate() =>
        base.Validate() is { Successful: false } failed ? failed
        : TopK < 1 ? ValidationResult.Error($"--top-k must be at least 1, got {TopK}.")
        : BatchSize < 1 ? ValidationResult.Error($"--batch-size must be at least 1, got {BatchSize}.")
        : ValidationResult.Success();
}

/// <summary><c>predict</c>: one JSON line out per line in, with the head's kind of prediction.</summary>
internal sealed class PredictCommand : Command<PredictSettings>
{
    public override int Execute(CommandContext context, PredictSettings settings, CancellationToken cancellationToken)
    {
        if (settings.Input is not null && !File.Exists(settings.Input))
        {
            throw new FileNotFoundException($"--input {settings.Input}: no such file.", settings.Input);
        }
        var builder = SpeedOptions.Apply(BertModelBuilder.FromPretrained(settings.Model!).UseLoggerFactory(WarningLog.ToStandardError).UseDevice(settings.Device), settings);
        if (settings.MaxLength is { } max)
        {
            builder = builder.WithMaxSequenceLength(max);
        }
        using var model = CliException.During(ErrorKind.Model, () => builder.Build(cancellationToken: cancellationToken));
        if (settings.MixedPrecision || settings.Threads is not null)
        {
            // On standard error, as standard output carries only the JSON Lines; and only when a speed option was given,
            // so a plain predict keeps standard error for warnings and the error line that scripts read first.
            SpeedOptions.Write(Console.Error, settings, model);
        }
        using var reader = settings.Input is null ? Console.In : new StreamReader(settings.Input);
        var source = settings.Input ?? "standard input";
        var items = new List<(int Line, JsonObject Item)>();
        int lineNumber = 0;
        for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            lineNumber++;
            if (line.Trim().Length == 0)
            {
                continue;
            }
            items.Add((lineNumber, ParseItem(line, source, lineNumber)));
        }

        var options = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        // Every line is written only once all are known to be valid JSON, so a failure leaves no partial output.
        var written = new List<string>(items.Count);
        foreach (var (result, i) in Predict(model, settings, items.Select(i => i.Item).ToList(), source, items.Select(i => i.Line).ToList()).Select((r, i) => (r, i)))
        {
            try
            {
                written.Add(result.ToJsonString(options));
            }
            catch (ArgumentException e)
            {
                throw NotFinite(model, source, items[i].Line, e);
            }
        }
        foreach (var line in written)
        {
            Console.Out.WriteLine(line);
        }
        return 0;
    }

    private static JsonObject ParseItem(string line, string source, int lineNumber)
    {
        if (!line.TrimStart().StartsWith('{'))
        {
            return new JsonObject { ["text"] = line };
        }
        try
        {
            return JsonNode.Parse(line) as JsonObject ?? throw new FormatException("not a JSON object");
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw new FormatException($"{source}, line {lineNumber}: not a JSON object ({e.Message}); give plain text or an object like {{\"text\": \"...\"}}.", e);
        }
    }

    private static string Field(JsonObject item, string name, string source, int line) =>
        OptionalField(item, name, source, line) ?? throw new FormatException($"{source}, line {line}: the object has no \"{name}\" string.");

    /// <summary>The string field <paramref name="name"/>, or null when absent or JSON null; any other kind of value is an error naming the line and field.</summary>
    private static string? OptionalField(JsonObject item, string name, string source, int line)
    {
        var node = item[name];
        if (node is null)
        {
            return null;
        }
        var kind = node.GetValueKind();
        if (kind != JsonValueKind.String)
        {
            throw new FormatException($"{source}, line {line}: \"{name}\" is {kind.ToString().ToLowerInvariant()} {node.ToJsonString()}, not a string; "
                + $"put the text in quotes, e.g. {{\"{name}\": \"{(kind is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False ? node.ToJsonString() : "...")}\"}}.");
        }
        try
        {
            return node.GetValue<string>();
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json refuses a \uD800-\uDFFF escape without its other half; Python's json module reads it, but
            // the tokenizers crate cannot take such a string either (it is not Unicode text: UnicodeEncodeError).
            throw new FormatException($"{source}, line {line}: \"{name}\" holds a lone surrogate escape (a \\uD800-\\uDFFF escape without its "
                + "other half), which is no character. Write the character itself, or both halves of its pair (\\ud83d\\ude00 for U+1F600).", e);
        }
    }

    private static IEnumerable<JsonObject> Predict(TaskModel model, PredictSettings settings, List<JsonObject> items, string source, List<int> lines)
    {
        switch (model.Model.Head)
        {
            case SequenceClassificationHead:
            {
                var texts = items.Select((item, i) => Field(item, "text", source, lines[i])).ToList();
                var pairs = items.Select((item, i) => OptionalField(item, "text_pair", source, lines[i])).ToList();
                var results = model.CreateTextClassificationPredictor(settings.BatchSize).PredictBatch(texts, pairs.Any(p => p is not null) ? pairs : null, settings.TopK);
                return items.Select((item, i) => With(item, "labels", new JsonArray(results[i].Select(l => (JsonNode)new JsonObject { ["label"] = l.Label, ["score"] = l.Score }).ToArray())));
            }
            case TokenClassificationHead:
            {
                var texts = items.Select((item, i) => Field(item, "text", source, lines[i])).ToList();
                var results = model.CreateTokenClassificationPredictor(settings.BatchSize).PredictBatch(texts, settings.Aggregation);
                return items.Select((item, i) => With(item, "entities", new JsonArray(results[i].Select(e => (JsonNode)new JsonObject
                {
                    ["entity"] = e.Entity, ["score"] = e.Score, ["word"] = e.Word, ["start"] = e.Start, ["end"] = e.End,
                }).ToArray())));
            }
            case QuestionAnsweringHead:
            {
                var answerer = model.CreateQuestionAnsweringPredictor(settings.BatchSize);
                return items.Select((item, i) =>
                {
                    var answers = answerer.Predict(Field(item, "question", source, lines[i]), Field(item, "context", source, lines[i]),
                        new QuestionAnsweringOptions { TopK = settings.TopK });
                    return With(item, "answers", new JsonArray(answers.Select(a => (JsonNode)new JsonObject
                    {
                        ["answer"] = a.Text, ["score"] = a.Score, ["start"] = a.Start, ["end"] = a.End,
                    }).ToArray()));
                });
            }
            case MaskedLanguageModelHead or PreTrainingHead:
            {
                var fill = model.CreateFillMaskPredictor(settings.BatchSize);
                return items.Select((item, i) => With(item, "masks", new JsonArray(fill.Predict(Field(item, "text", source, lines[i]), Math.Max(settings.TopK, 1))
                    .Select(m => (JsonNode)new JsonArray(m.Select(c => (JsonNode)new JsonObject
                    {
                        ["token"] = c.TokenString, ["score"] = c.Score, ["sequence"] = c.Sequence,
                    }).ToArray())).ToArray())));
            }
            case SentenceEmbeddingHead or FeatureExtractionHead:
            {
                using var embedding = BertModelBuilder.FromPretrained(settings.Model!).WithSentenceEmbeddings().Build();
                var vectors = embedding.CreateEmbeddingPredictor(settings.BatchSize).EmbedBatch(items.Select((item, i) => Field(item, "text", source, lines[i])).ToList());
                return items.Select((item, i) => With(item, "embedding", new JsonArray(vectors[i].Select(v => (JsonNode)v).ToArray()))).ToList();
            }
            default:
                throw new NotSupportedException($"predict does not know the {model.Model.Head.GetType().Name} head; use the library's API for custom heads.");
        }
    }

    /// <summary>
    /// A score or vector of <paramref name="line"/> is NaN or infinite. Such values are not JSON (RFC 8259 section 6; jq and
    /// JSON.parse refuse Python's NaN), and they come from the weights far more often than from one input, so the error
    /// names each weight tensor holding them.
    /// </summary>
    private static CliException NotFinite(TaskModel model, string source, int line, Exception cause)
    {
        var bad = new List<string>();
        using (torch.no_grad())
        {
            foreach (var (name, parameter) in model.Model.named_parameters())
            {
                using var finite = parameter.isfinite();
                long count = parameter.numel() - finite.sum().item<long>();
                if (count > 0)
                {
                    bad.Add($"'{name}' ({count} of {parameter.numel()} values)");
                }
            }
        }
        var message = bad.Count > 0
            ? $"the prediction for {source}, line {line} is NaN or infinite, because the model's weights hold NaN or infinite values: "
                + $"{string.Join(", ", bad)}. Nothing was written; use a model whose weights are finite (retrain, or fetch it again)."
            : $"the prediction for {source}, line {line} is NaN or infinite though every weight is finite; nothing was written. "
                + "Check that input line, and run with --verbose for the details.";
        // The reporter shows the inner exception's message; the serializer's own stays below it for --verbose.
        return new CliException(ErrorKind.Model, message, new InvalidDataException(message, cause));
    }

    private static JsonObject With(JsonObject item, string name, JsonNode value)
    {
        var copy = (JsonObject)item.DeepClone();
        copy[name] = value;
        return copy;
    }
}
