using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using BertFineTune.Builder;

namespace BertFineTune.Tests.Samples;

/// <summary>
/// samples/OnnxWebService, the ASP.NET Core service of docs/deploy-onnx.md, run as a user runs it: its built program
/// (the solution builds it; the test project references it for the build order) is started on an exported fixture
/// classifier, answers 24 concurrent requests from its one shared predictor with the labels and scores the TorchSharp
/// predictor gives (1e-5, the ONNX predictor tests' tolerance), refuses bad bodies with 400, and carries no torch
/// library in its output folder.
/// </summary>
public sealed class OnnxWebServiceTests
{
    private static readonly string[] Texts =
    [
        "the film was fine",
        "a second, somewhat longer sentence about nothing in particular",
        "x",
        "John Smith lives in New York",
    ];

    private static string SampleProgram =>
        Path.Combine(Fixtures.RepositoryRoot, "samples", "OnnxWebService", "bin", "Release", "net10.0", "OnnxWebService.dll");

    [Fact]
    public async Task The_service_answers_concurrent_requests_from_one_shared_predictor_as_torchsharp_predicts()
    {
        Assert.True(File.Exists(SampleProgram), $"{SampleProgram} is missing: build the solution in Release first (dotnet build BertFineTune.sln -c Release).");
        Assert.DoesNotContain(Directory.GetFiles(Path.GetDirectoryName(SampleProgram)!, "*", SearchOption.AllDirectories),
            file => Path.GetFileName(file).Contains("torch", StringComparison.OrdinalIgnoreCase));

        using var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build();
        using var temp = new TempFolder();
        model.ExportOnnxFolder(temp.Path);
        var expected = model.CreateTextClassificationPredictor().PredictBatch(Texts, topK: 2);

        int port = FreePort();
        using var service = Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList = { SampleProgram, "--model", temp.Path, "--threads", "1", "--urls", $"http://127.0.0.1:{port}" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var log = new System.Text.StringBuilder();
        service.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        service.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        service.BeginOutputReadLine();
        service.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
            await WaitUntilHealthy(http, service, log);

            // 24 requests at once, each a rotation of the texts, all served by the one predictor.
            var requests = Enumerable.Range(0, 24).Select(async i =>
            {
                var texts = Texts.Skip(i % Texts.Length).Concat(Texts.Take(i % Texts.Length)).ToArray();
                var response = await http.PostAsJsonAsync("/classify", new { texts, topK = 2 });
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var body = await response.Content.ReadFromJsonAsync<List<List<JsonElement>>>();
                return (Offset: i % Texts.Length, Body: body!);
            }).ToList();
            foreach (var (offset, body) in await Task.WhenAll(requests))
            {
                Assert.Equal(Texts.Length, body.Count);
                for (int j = 0; j < body.Count; j++)
                {
                    var want = expected[(j + offset) % Texts.Length];
                    Assert.Equal(want.Select(s => s.Label), body[j].Select(s => s.GetProperty("label").GetString()));
                    Assert.Equal(want.Select(s => s.Score), body[j].Select(s => s.GetProperty("score").GetDouble()), (a, b) => Math.Abs(a - b) <= 1e-5);
                }
            }

            foreach (var bad in new object[] { new { texts = Array.Empty<string>() }, new { texts = new[] { "" } }, new { texts = new[] { "ok" }, topK = 0 } })
            {
                var response = await http.PostAsJsonAsync("/classify", bad);
                Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                Assert.Contains("must", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }
        }
        finally
        {
            if (!service.HasExited)
            {
                service.Kill(entireProcessTree: true);
            }
            service.WaitForExit();
        }
    }

    [Fact]
    public async Task The_service_refuses_to_start_without_a_model_folder_and_names_the_missing_folder()
    {
        Assert.True(File.Exists(SampleProgram), $"{SampleProgram} is missing: build the solution in Release first (dotnet build BertFineTune.sln -c Release).");
        var missing = Path.Combine(Path.GetTempPath(), $"no-such-onnx-folder-{Guid.NewGuid():N}");
        using var service = Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList = { SampleProgram, "--model", missing, "--urls", "http://127.0.0.1:0" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = service.StandardOutput.ReadToEndAsync();
        var error = service.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await service.WaitForExitAsync(timeout.Token);
        Assert.Equal(1, service.ExitCode);
        var message = await error + await output;
        Assert.Contains($"cannot serve {missing}: ONNX model folder not found", message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", message, StringComparison.Ordinal);  // a message, not a stack trace
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task WaitUntilHealthy(HttpClient http, Process service, System.Text.StringBuilder log)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(service.HasExited, $"the service stopped with exit code {(service.HasExited ? service.ExitCode : 0)}:\n{log}");
            try
            {
                if ((await http.GetAsync("/health")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(200);
        }
        Assert.Fail($"the service did not answer /health within 60 s:\n{log}");
    }
}
