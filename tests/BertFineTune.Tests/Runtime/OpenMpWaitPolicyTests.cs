using System.Diagnostics;
using BertFineTune.Tests.Training;

namespace BertFineTune.Tests.Runtime;

/// <summary>
/// The OpenMP wait policy libtorch's libgomp reads from the native environment when it loads: the library sets
/// OMP_WAIT_POLICY=PASSIVE before loading libtorch, unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT (libgomp's
/// env.c, initialize_env: both are read once, at load). Each case runs in a fresh test-host process, since the
/// variables only matter before libtorch loads and this test process has loaded it already.
/// </summary>
public class OpenMpWaitPolicyTests
{
    [Theory]
    [InlineData(null, null, "PASSIVE", "(unset)")]
    [InlineData("ACTIVE", null, "ACTIVE", "(unset)")]
    [InlineData("active", null, "active", "(unset)")]
    [InlineData(null, "1000", "(unset)", "1000")]
    [InlineData("PASSIVE", "0", "PASSIVE", "0")]
    public async Task Native_environment_gets_passive_waiting_unless_the_user_chose(string? policy, string? spinCount, string expectedPolicy, string expectedSpinCount)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return;
        }
        var start = new ProcessStartInfo(CheckpointCrashTests.DotnetExecutable(), [CheckpointCrashTests.HostAssembly(), "omp-env"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Set(start, "OMP_WAIT_POLICY", policy);
        Set(start, "GOMP_SPINCOUNT", spinCount);
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120)))
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {output}{await errors}");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains($"OMP_WAIT_POLICY={expectedPolicy}", lines);
        Assert.Contains($"GOMP_SPINCOUNT={expectedSpinCount}", lines);
        // The decision names who chose: the user when either variable was given, else the library.
        var decision = lines.Single(l => l.StartsWith("decision=", StringComparison.Ordinal));
        Assert.Equal(policy is null && spinCount is null, !decision.Contains("set by the user", StringComparison.Ordinal));
    }

    private static void Set(ProcessStartInfo start, string name, string? value)
    {
        if (value is null)
        {
            start.Environment.Remove(name);
        }
        else
        {
            start.Environment[name] = value;
        }
    }
}
