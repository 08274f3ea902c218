using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace BertFineTune.Runtime;

/// <summary>
/// Whether bfloat16 compute is worth using on a device: always on CUDA; on the CPU only when it has native bfloat16
/// instructions (AVX512-BF16 or AMX-BF16), without which libtorch emulates bf16 more slowly than float32. The CPU is
/// probed once per process: CPUID on x86, the <c>/proc/cpuinfo</c> flags elsewhere on Linux.
/// </summary>
internal static class BFloat16Support
{
    private static readonly Lazy<string?> CpuProblem = new(FindCpuProblem, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Tests set this to pretend the CPU has (the function returns null) or lacks bfloat16 support (it returns why).</summary>
    internal static Func<string?>? CpuSupportOverride { get; set; }

    /// <summary>
    /// Whether bfloat16 compute is worth using on <paramref name="device"/>; <paramref name="reason"/> says why not, or
    /// names what was found.
    /// </summary>
    public static bool IsSupported(Device device, out string reason)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device.type != DeviceType.CPU)
        {
            reason = $"{device.type} device";
            return true;
        }
        var problem = CpuSupportOverride is { } forced ? forced() : CpuProblem.Value;
        reason = problem ?? "the CPU has native bfloat16 instructions";
        return problem is null;
    }

    private static string? FindCpuProblem()
    {
        try
        {
            if (X86Base.IsSupported)
            {
                var (maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
                if (maxLeaf >= 7)
                {
                    var (_, _, _, leaf7Edx) = X86Base.CpuId(7, 0);
                    var (leaf71Eax, _, _, _) = X86Base.CpuId(7, 1);
                    bool amx = (leaf7Edx & (1 << 22)) != 0;
                    bool avx512 = (leaf71Eax & (1 << 5)) != 0 && Avx512F.IsSupported;
                    if (amx || avx512)
                    {
                        return null;
                    }
                }
                return "the CPU has neither AVX512-BF16 nor AMX-BF16 instructions, so bfloat16 matmuls would be emulated and slower than float32";
            }
            if (OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo"))
            {
                var flags = File.ReadLines("/proc/cpuinfo")
                    .FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal) || l.StartsWith("Features", StringComparison.Ordinal));
                var names = flags?.Split([' ', '\t', ':'], StringSplitOptions.RemoveEmptyEntries) ?? [];
                if (names.Contains("avx512_bf16") || names.Contains("amx_bf16"))
                {
                    return null;
                }
            }
            return "no native bfloat16 instructions (AVX512-BF16 or AMX-BF16) were found on this CPU";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            return $"the CPU's bfloat16 support could not be determined ({e.Message})";
        }
    }
}
