using System.Diagnostics;

namespace BertFineTune.Tests.Packaging;

public class PackageTests
{
    internal static (int ExitCode, string Output) Run(string workingDirectory, string arguments, int timeoutSeconds = 600)
    {
        var start = new ProcessStartInfo("dotnet", arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {arguments} did not finish in {timeoutSeconds} s.");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>
    /// Writes a console project into <paramref name="app"/> that restores from <paramref name="feed"/> only the given
    /// packages, outside this repository's Directory.Build/Packages files, as an application of a user would.
    /// </summary>
    internal static void WriteConsumerProject(string app, string feed, params (string Id, string Version)[] packages)
    {
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <configuration>
              <packageSources>
                <add key="local" value="{feed}" />
              </packageSources>
            </configuration>
            """);
        var references = string.Join("\n", packages.Select(p => $"    <PackageReference Include=\"{p.Id}\" Version=\"{p.Version}\" />"));
        File.WriteAllText(Path.Combine(app, "app.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
                <ImportDirectoryBuildProps>false</ImportDirectoryBuildProps>
                <ImportDirectoryBuildTargets>false</ImportDirectoryBuildTargets>
              </PropertyGroup>
              <ItemGroup>
            {references}
              </ItemGroup>
            </Project>
            """);
    }

    /// <summary>Packs each project under src/ into <paramref name="feed"/> at <paramref name="version"/>.</summary>
    internal static void Pack(string feed, string version, params string[] projects)
    {
        foreach (var name in projects)
        {
            var project = Path.Combine(Fixtures.RepositoryRoot, "src", name, $"{name}.csproj");
            var pack = Run(Fixtures.RepositoryRoot, $"pack \"{project}\" -c Release -o \"{feed}\" -p:Version={version}");
            Assert.True(pack.ExitCode == 0, pack.Output);
            Assert.True(File.Exists(Path.Combine(feed, $"{name}.{version}.nupkg")), name);
        }
    }

    [Fact]
    public void The_packed_package_installs_into_a_new_console_app_and_runs_a_forward_pass()
    {
        using var temp = new TempFolder();
        var feed = Directory.CreateDirectory(Path.Combine(temp.Path, "feed")).FullName;
        var app = Directory.CreateDirectory(Path.Combine(temp.Path, "app")).FullName;
        // A version no earlier run used, so NuGet cannot answer from its global cache.
        var version = $"0.0.0-test.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        // BertFineTune depends on BertFineTune.Core (the torch-free tokenizer and predictors), packed at the same version.
        Pack(feed, version, "BertFineTune.Core", "BertFineTune");
        Assert.True(File.Exists(Path.Combine(feed, $"BertFineTune.{version}.nupkg")));
        Assert.True(File.Exists(Path.Combine(feed, $"BertFineTune.{version}.snupkg")));

        WriteConsumerProject(app, feed, ("BertFineTune", version), ("TorchSharp-cpu", "0.107.0"));
        File.WriteAllText(Path.Combine(app, "Program.cs"), $$"""
            using BertFineTune.Builder;
            using var model = BertModelBuilder.FromPretrained(args[0]).Build();
            var scores = model.CreateTextClassificationPredictor().Predict("hello world", topK: null);
            Console.WriteLine($"labels {scores.Count}");
            """);

        var run = Run(app, $"run -c Release -- \"{Fixtures.Model("seq_cls")}\"");

        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("labels 3", run.Output, StringComparison.Ordinal);
    }
}
