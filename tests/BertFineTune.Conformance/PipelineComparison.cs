using System.Globalization;
using System.Text.Json;
using BertFineTune.Heads;
using BertFineTune.Inference;
using BertFineTune.Tokenization;

namespace BertFineTune.Conformance;

/// <summary>One pipeline fixture row compared with this library's predictor.</summary>
/// <param name="Index">Row position.</param>
/// <param name="Passed">Whether labels, words and spans matched exactly and scores within the tolerance.</param>
/// <param name="Mismatch">The first difference, or null.</param>
public sealed record PipelineRowResult(int Index, bool Passed, string? Mismatch);

/// <summary>What runs the predictors under comparison.</summary>
public enum PipelineRuntime
{
    /// <summary>TorchSharp (TaskModel's predictors).</summary>
    Torch,
    /// <summary>ONNX Runtime: each fixture model exported as TaskModel.ExportOnnxFolder writes it, loaded with BertFineTune.Onnx.</summary>
    Onnx,
}

/// <summary>
/// Compares the predictors with transformers' pipelines: text classification (<c>seq_cls</c> with top_k all and default,
/// <c>seq_multilabel</c> with sigmoid), token classification (<c>token_cls</c>, every aggregation) and fill-mask (<c>mlm</c>).
/// </summary>
public static class PipelineComparison
{
    private const double Tolerance = 1e-5;

    /// <summary>
    /// Runs every row of <paramref name="fixturePath"/> against the models in <paramref name="modelsFolder"/>, with the
    /// predictors on <paramref name="runtime"/>.
    /// </summary>
    public static IReadOnlyList<PipelineRowResult> Run(string fixturePath, string modelsFolder, PipelineRuntime runtime = PipelineRuntime.Torch)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(fixturePath));
        var rows = document.RootElement.GetProperty("rows").EnumerateArray().ToList();
        var cache = new Dictionary<string, Loaded>(StringComparer.Ordinal);
        var exports = Path.Combine(Path.GetTempPath(), "bertfinetune-conformance", Guid.NewGuid().ToString("N"));
        Loaded Load(string name)
        {
            if (!cache.TryGetValue(name, out var loaded))
            {
                var folder = Path.Combine(modelsFolder, name);
                loaded = new Loaded(BertForTask.LoadFolder(folder), BertTokenizer.Load(folder), null);
                if (runtime == PipelineRuntime.Onnx)
                {
                    // The folder TaskModel.ExportOnnxFolder writes: model.onnx, config.json, tokenizer files.
                    var export = Path.Combine(exports, name);
                    Directory.CreateDirectory(export);
                    OnnxModelExport.Export(loaded.Model, Path.Combine(export, "model.onnx"), null);
                    loaded.Model.Config.Save(export);
                    loaded.Tokenizer.Save(export);
                    loaded = loaded with { Onnx = global::BertFineTune.Onnx.OnnxModel.Load(export) };
                }
                cache[name] = loaded;
            }
            return loaded;
        }

        try
        {
            var results = new List<PipelineRowResult>();
            for (int i = 0; i < rows.Count; i++)
            {
                string? mismatch;
                try
                {
                    var row = rows[i];
                    mismatch = row.TryGetProperty("aggregation_strategy", out _) ? CompareTokens(Load("token_cls"), row)
                        : row.TryGetProperty("result", out _) ? CompareFillMask(Load("mlm"), row)
                        : row.TryGetProperty("multilabel_sigmoid", out _) ? CompareText(Load("seq_multilabel"), row)
                        : CompareText(Load("seq_cls"), row);
                }
                catch (ArgumentException e)
                {
                    mismatch = $"raised: {e.Message}";
                }
                results.Add(new PipelineRowResult(i, mismatch is null, mismatch));
            }
            return results;
        }
        finally
        {
            foreach (var loaded in cache.Values)
            {
                loaded.Model.Dispose();
                loaded.Onnx?.Dispose();
            }
            if (Directory.Exists(exports))
            {
                Directory.Delete(exports, recursive: true);
            }
        }
    }

    /// <summary>A fixture model, its tokenizer and, for the ONNX runtime, its export loaded with BertFineTune.Onnx.</summary>
    private sealed record Loaded(BertForTask Model, BertTokenizer Tokenizer, global::BertFineTune.Onnx.OnnxModel? Onnx);

    private static string? CompareText(Loaded loaded, JsonElement row)
    {
        var predictor = loaded.Onnx?.CreateTextClassificationPredictor() ?? TorchPredictors.TextClassification(loaded.Model, loaded.Tokenizer);
        var text = row.GetProperty("text").GetString()!;
        string? mismatch = null;
        if (row.TryGetProperty("top_k_all", out var all))
        {
            mismatch = CompareLabels("top_k_all", all, predictor.Predict(text, topK: null));
        }
        if (mismatch is null && row.TryGetProperty("default", out var first))
        {
            mismatch = CompareLabels("default", first, predictor.Predict(text));
        }
        if (mismatch is null && row.TryGetProperty("multilabel_sigmoid", out var sigmoid))
        {
            mismatch = CompareLabels("multilabel_sigmoid", sigmoid, predictor.Predict(text, topK: null, function: ScoreFunction.Sigmoid));
        }
        return mismatch;
    }

    private static string? CompareLabels(string field, JsonElement expected, IReadOnlyList<LabelScore> actual)
    {
        var list = expected.ValueKind == JsonValueKind.Array ? expected.EnumerateArray().ToList() : [expected];
        if (list.Count != actual.Count)
        {
            return $"{field}: expected {list.Count} labels, got {actual.Count}";
        }
        for (int k = 0; k < list.Count; k++)
        {
            var label = list[k].GetProperty("label").GetString();
            var score = list[k].GetProperty("score").GetDouble();
            if (label != actual[k].Label || Math.Abs(score - actual[k].Score) > Tolerance)
            {
                return $"{field}[{k}]: expected {label} {score.ToString("R", CultureInfo.InvariantCulture)}, got {actual[k].Label} {actual[k].Score.ToString("R", CultureInfo.InvariantCulture)}";
            }
        }
        return null;
    }

    private static string? CompareTokens(Loaded loaded, JsonElement row)
    {
        var predictor = loaded.Onnx?.CreateTokenClassificationPredictor() ?? TorchPredictors.TokenClassification(loaded.Model, loaded.Tokenizer);
        var text = row.GetProperty("text").GetString()!;
        var strategy = row.GetProperty("aggregation_strategy").GetString() switch
        {
            "none" => AggregationStrategy.None,
            "simple" => AggregationStrategy.Simple,
            "first" => AggregationStrategy.First,
            "average" => AggregationStrategy.Average,
            "max" => AggregationStrategy.Max,
            var other => throw new ArgumentException($"unknown aggregation_strategy '{other}'"),
        };
        var expected = row.GetProperty("entities").EnumerateArray().ToList();
        var actual = predictor.Predict(text, strategy);
        if (expected.Count != actual.Count)
        {
            return $"{strategy}: expected {expected.Count} entities, got {actual.Count}";
        }
        for (int k = 0; k < expected.Count; k++)
        {
            var e = expected[k];
            var a = actual[k];
            var entity = e.TryGetProperty("entity_group", out var g) ? g.GetString() : e.GetProperty("entity").GetString();
            int start = CodeUnits(text, e.GetProperty("start").GetInt32());
            int end = CodeUnits(text, e.GetProperty("end").GetInt32());
            int? index = e.TryGetProperty("index", out var ix) ? ix.GetInt32() : null;
            double score = e.GetProperty("score").GetDouble();
            var word = e.GetProperty("word").GetString();
            if (entity != a.Entity || word != a.Word || start != a.Start || end != a.End || index != a.Index || Math.Abs(score - a.Score) > Tolerance)
            {
                return $"{strategy} entity {k}: expected ({entity}, '{word}', {start}-{end}, index {index}, {score:R}), "
                    + $"got ({a.Entity}, '{a.Word}', {a.Start}-{a.End}, index {a.Index}, {a.Score:R})";
            }
        }
        return null;
    }

    private static string? CompareFillMask(Loaded loaded, JsonElement row)
    {
        var predictor = loaded.Onnx?.CreateFillMaskPredictor() ?? TorchPredictors.FillMask(loaded.Model, loaded.Tokenizer);
        var text = row.GetProperty("text").GetString()!;
        int topK = row.TryGetProperty("top_k", out var k) ? k.GetInt32() : 5;
        var result = row.GetProperty("result");
        // One mask: a list of candidates; several: a list per mask.
        var perMask = result.EnumerateArray().FirstOrDefault().ValueKind == JsonValueKind.Array
            ? result.EnumerateArray().Select(m => m.EnumerateArray().ToList()).ToList()
            : [result.EnumerateArray().ToList()];
        var actual = predictor.Predict(text, topK);
        if (perMask.Count != actual.Count)
        {
            return $"expected {perMask.Count} masks, got {actual.Count}";
        }
        for (int m = 0; m < perMask.Count; m++)
        {
            if (perMask[m].Count != actual[m].Count)
            {
                return $"mask {m}: expected {perMask[m].Count} candidates, got {actual[m].Count}";
            }
            for (int c = 0; c < perMask[m].Count; c++)
            {
                var e = perMask[m][c];
                var a = actual[m][c];
                if (e.GetProperty("token").GetInt32() != a.Token || e.GetProperty("token_str").GetString() != a.TokenString
                    || e.GetProperty("sequence").GetString() != a.Sequence || Math.Abs(e.GetProperty("score").GetDouble() - a.Score) > Tolerance)
                {
                    return $"mask {m} candidate {c}: expected ({e.GetProperty("token").GetInt32()}, '{e.GetProperty("token_str").GetString()}', "
                        + $"'{e.GetProperty("sequence").GetString()}', {e.GetProperty("score").GetDouble():R}), got ({a.Token}, '{a.TokenString}', '{a.Sequence}', {a.Score:R})";
                }
            }
        }
        return null;
    }

    /// <summary>Python code-point index → .NET UTF-16 index.</summary>
    private static int CodeUnits(string text, int codePoints)
    {
        int units = 0;
        for (int cp = 0; cp < codePoints && units < text.Length; cp++)
        {
            units += char.IsHighSurrogate(text[units]) && units + 1 < text.Length && char.IsLowSurrogate(text[units + 1]) ? 2 : 1;
        }
        return units;
    }
}
