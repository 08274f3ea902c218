using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace BertFineTune.Runtime;

/// <summary>Checks once that TorchSharp's native libraries load, and turns a failure into an actionable message.</summary>
internal static class TorchRuntime
{
    private static readonly Lazy<Exception?> LoadFailure = new(TryLoad, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Throws a <see cref="TorchRuntimeException"/> explaining the fix when libtorch cannot be loaded.</summary>
    public static void EnsureAvailable()
    {
        if (LoadFailure.Value is { } failure)
        {
            throw new TorchRuntimeException(Explain(failure), failure);
        }
    }

    /// <summary>Checks the runtime, then returns <paramref name="name"/>: for module constructors, whose base call touches libtorch first.</summary>
    internal static string CheckedModuleName(string name)
    {
        EnsureAvailable();
        return name;
    }

    private static Exception? TryLoad()
    {
        // Before the first call into TorchSharp, which loads libtorch and with it the OpenMP runtime that reads its settings once.
        OpenMpWaitPolicy.Apply();
        try
        {
            InitializeDeviceType(TorchSharp.DeviceType.CPU);
            return null;
        }
        catch (Exception e) when (e is TypeInitializationException or NotSupportedException or DllNotFoundException
            or EntryPointNotFoundException or ExternalException)
        {
            return e;
        }
    }

    private static string Explain(Exception failure)
    {
        var inner = failure is TypeInitializationException { InnerException: { } cause } ? cause.Message : failure.Message;
        var hint = OperatingSystem.IsLinux()
            ? " On Linux with a libstdc++ older than GCC 13 (Debian 12, Ubuntu 22.04) the build must mark libLibTorchSharp.so's "
              + "GLIBCXX_3.4.32 need weak: BertFineTune's build step does this when BertFineTuneWeakenGlibcxxNeed is 'auto' and the "
              + "building machine lacks that version; set it to 'true' when building on a newer system for an older one."
            : string.Empty;
        return $"TorchSharp's native library could not be loaded ({inner}). Reference a libtorch backend package "
            + $"(TorchSharp-cpu, or a CUDA bundle) from the application.{hint} See docs/troubleshooting.md.";
    }
}

/// <summary>The TorchSharp native runtime could not be loaded; the message says how to fix it.</summary>
public sealed class TorchRuntimeException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public TorchRuntimeException(string message, Exception inner) : base(message, inner)
    {
    }
}
