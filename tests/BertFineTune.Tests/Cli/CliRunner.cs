using System.Diagnostics;

namespace BertFineTune.Tests.Cli;

/// <summary>Runs the built <c>bert-finetune</c> as a separate process, as a user would.</summary>
internal static class CliRunner
{
    public sealed record Result(int ExitCode, string Output, string Error);

    public static string Assembly()
    {
        // Tests run from tests/BertFineTune.Tests/bin/<Configuration>/<TargetFramework>/; the CLI builds with the same configuration.
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var path = Path.Combine(Fixtures.RepositoryRoot, "src", "BertFineTune.Cli", "bin", here.Parent!.Name, here.Name, "bert-finetune.dll");
        Assert.True(File.Exists(path), $"{path} is missing: build the solution (the test project references the CLI so it is built first).");
        return path;
    }

    public static Result Run(string? standardInput, params string[] arguments) => Run(standardInput, null, arguments);

    public static Result Run(string? standardInput, IReadOnlyDictionary<string, string>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(Dotnet())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = Fixtures.RepositoryRoot,
        };
        start.ArgumentList.Add(Assembly());
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // No colours or live redraws: plain text a test can read.
        start.Environment["NO_COLOR"] = "1";
        start.Environment["TERM"] = "dumb";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (standardInput is not null)
        {
            process.StandardInput.Write(standardInput);
        }
        process.StandardInput.Close();
        if (!process.WaitForExit(300_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bert-finetune {string.Join(' ', arguments)} did not finish in 300 s.");
        }
        return new Result(process.ExitCode, output.Result, error.Result);
    }

    /// <summary>
    /// Runs the CLI and presses Ctrl-C (SIGINT to the process) when a line of its standard output first satisfies
    /// <paramref name="interruptAt"/>, as a user at a terminal would. Linux only: the process starts through
    /// <c>env --default-signal=INT</c>, because a process started from a non-interactive shell's background job inherits
    /// SIGINT ignored, and .NET then respects that and never raises Console.CancelKeyPress.
    /// </summary>
    public static Result RunInterrupted(Func<string, bool> interruptAt, params string[] arguments)
    {
        var start = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = Fixtures.RepositoryRoot,
        };
        foreach (var argument in (string[])["--default-signal=INT", Dotnet(), Assembly(), .. arguments])
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["NO_COLOR"] = "1";
        start.Environment["TERM"] = "dumb";
        using var process = new Process { StartInfo = start };
        var output = new System.Text.StringBuilder();
        bool interrupted = false;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (output)
            {
                output.AppendLine(e.Data);
                if (!interrupted && interruptAt(e.Data))
                {
                    interrupted = true;
                    using var kill = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                    kill.WaitForExit();
                }
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        var error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Close();
        if (!process.WaitForExit(300_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bert-finetune {string.Join(' ', arguments)} did not finish in 300 s.");
        }
        process.WaitForExit();
        lock (output)
        {
            Assert.True(interrupted, $"no output line asked for the interruption:\n{output}");
            return new Result(process.ExitCode, output.ToString(), error.Result);
        }
    }

    private static string Dotnet() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
        : "dotnet";
}
