using System.Runtime.InteropServices;

namespace BertFineTune.Runtime;

/// <summary>
/// Makes libtorch's OpenMP threads sleep, not spin, while they wait (<c>OMP_WAIT_POLICY=PASSIVE</c>), unless the user
/// chose a policy. libtorch's CPU build ships GNU OpenMP (libgomp), which reads <c>OMP_WAIT_POLICY</c> and
/// <c>GOMP_SPINCOUNT</c> from the process's native environment once, when it is loaded. Its default spins a waiting
/// thread for up to 300,000 iterations (and far longer when OMP_WAIT_POLICY is ACTIVE) at every barrier; when another
/// process takes one of the cores, the thread that was descheduled holds every barrier up while the others burn the
/// remaining cores spinning, and training falls to a tenth of its speed. Passive waiting costs a little on an idle
/// machine and keeps a busy core's cost to its share (docs/performance.md, "Threads").
/// </summary>
internal static partial class OpenMpWaitPolicy
{
    /// <summary>The variable libgomp (and the OpenMP standard) reads for the wait policy.</summary>
    public const string WaitPolicyVariable = "OMP_WAIT_POLICY";

    /// <summary>libgomp's own spin-count variable; a user who set it chose the waiting, so it is respected too.</summary>
    public const string SpinCountVariable = "GOMP_SPINCOUNT";

    /// <summary>What was decided, for the CLI's "speed:" block; null until <see cref="Apply"/> ran.</summary>
    public static string? Description { get; private set; }

    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the native environment unless <c>OMP_WAIT_POLICY</c> or
    /// <c>GOMP_SPINCOUNT</c> is already set there; on Linux and macOS only (elsewhere libtorch does not use libgomp).
    /// Must run before libtorch loads: afterwards the OpenMP runtime has read its settings. Returns what it did.
    /// </summary>
    public static string Apply()
    {
        Description = Decide();
        return Description;
    }

    private static string Decide()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return "libtorch's default (not GNU OpenMP on this system)";
        }
        // Read from the native environment: .NET's Environment.* works on its own copy on Unix, which libgomp never sees.
        foreach (var variable in new[] { WaitPolicyVariable, SpinCountVariable })
        {
            if (NativeGet(variable) is { } value)
            {
                return $"{variable}={value} (set by the user)";
            }
        }
        if (setenv(WaitPolicyVariable, "PASSIVE", 0) != 0)
        {
            return $"libgomp's default: setting {WaitPolicyVariable} failed (errno {Marshal.GetLastPInvokeError()})";
        }
        return $"{WaitPolicyVariable}=PASSIVE (waiting threads sleep; set {WaitPolicyVariable} or {SpinCountVariable} to override)";
    }

    /// <summary>The native environment's value of <paramref name="name"/>, or null when unset.</summary>
    internal static string? NativeGet(string name) => Marshal.PtrToStringUTF8(getenv(name));

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr getenv(string name);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int setenv(string name, string value, int overwrite);
}
