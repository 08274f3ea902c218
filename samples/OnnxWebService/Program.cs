using BertFineTune.Inference;
using BertFineTune.Onnx;

// Serves a text classifier exported with `bert-finetune export-onnx --folder` (or TaskModel.ExportOnnxFolder):
//   dotnet run -c Release --project samples/OnnxWebService -- --model <export folder> [--provider cpu|cuda] [--threads N]
//   curl -s localhost:5000/classify -H 'Content-Type: application/json' -d '{"texts": ["a gripping film"]}'
var builder = WebApplication.CreateBuilder(args);
var folder = builder.Configuration["model"];
if (string.IsNullOrWhiteSpace(folder))
{
    Console.Error.WriteLine("usage: OnnxWebService --model <folder written by `bert-finetune export-onnx --folder`> [--provider cpu|cuda] [--threads N]");
    return 2;
}
var runtime = new OnnxRuntimeOptions
{
    ExecutionProvider = builder.Configuration["provider"] is "cuda" ? OnnxExecutionProvider.Cuda : OnnxExecutionProvider.Cpu,
    IntraOpNumThreads = int.TryParse(builder.Configuration["threads"], out var threads) ? threads : null,
};

// One model and one predictor for the whole service: ONNX Runtime's sessions run concurrent requests, and the
// predictor keeps no per-call state, so every request shares them (see docs/deploy-onnx.md).
builder.Services.AddSingleton(_ => OnnxModel.Load(folder, runtime));
builder.Services.AddSingleton(services => services.GetRequiredService<OnnxModel>().CreateTextClassificationPredictor());

var app = builder.Build();
// Load at start-up, so that a wrong folder stops the service with the loader's message instead of failing requests.
IReadOnlyList<string> labels;
try
{
    labels = app.Services.GetRequiredService<TextClassificationPredictor>().Labels;
}
catch (Exception e) when (e is IOException or InvalidDataException or InvalidOperationException or ArgumentException or BertFineTune.Checkpoints.BertConfigException)
{
    Console.Error.WriteLine($"OnnxWebService: cannot serve {folder}: {e.Message}");
    return 1;
}
app.Logger.LogInformation("Serving {Folder} with labels {Labels}", folder, string.Join(", ", labels));

app.MapGet("/health", () => Results.Ok(new { status = "ok", labels }));
app.MapPost("/classify", (ClassifyRequest request, TextClassificationPredictor predictor) =>
{
    if (request.Texts is not { Count: > 0 } texts || texts.Any(string.IsNullOrEmpty))
    {
        return Results.BadRequest(new { error = "\"texts\" must be a non-empty array of non-empty strings." });
    }
    if (texts.Count > ClassifyRequest.MaxTexts)
    {
        return Results.BadRequest(new { error = $"\"texts\" holds {texts.Count} strings; send at most {ClassifyRequest.MaxTexts} per request." });
    }
    if (request.TopK is < 1)
    {
        return Results.BadRequest(new { error = "\"topK\" must be at least 1 (or left out for the best label only)." });
    }
    return Results.Ok(predictor.PredictBatch(texts, topK: request.TopK ?? 1));
});
app.Run();
return 0;

/// <summary>The body of <c>POST /classify</c>: the texts to classify, and how many labels to return for each.</summary>
internal sealed record ClassifyRequest(IReadOnlyList<string>? Texts, int? TopK)
{
    /// <summary>A request's largest batch: bounds the memory one request can take.</summary>
    public const int MaxTexts = 256;
}
