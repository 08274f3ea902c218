namespace BertFineTune.Tests;

/// <summary>Paths to the read-only reference fixtures beside the repository (../shared/fixtures).</summary>
internal static class Fixtures
{
    private static readonly Lazy<string> Root = new(FindRoot);

    /// <summary>The repository root (the folder holding BertFineTune.sln).</summary>
    public static string RepositoryRoot => Root.Value;

    /// <summary>../shared/fixtures/hf-reference.</summary>
    public static string HfReference => Path.Combine(RepositoryRoot, "..", "shared", "fixtures", "hf-reference");

    /// <summary>A fixture model folder by name (seq_cls, mlm, …).</summary>
    public static string Model(string name) => Path.Combine(HfReference, "models", name);

    /// <summary>The names of fixture models that carry a reference_io.safetensors.</summary>
    public static IEnumerable<string> ModelsWithReference() =>
        Directory.GetDirectories(Path.Combine(HfReference, "models"))
            .Where(d => File.Exists(Path.Combine(d, "reference_io.safetensors")))
            .Select(Path.GetFileName)
            .OrderBy(n => n, StringComparer.Ordinal)!;

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BertFineTune.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException($"BertFineTune.sln not found above {AppContext.BaseDirectory}.");
    }
}

/// <summary>A folder under the system temp folder, deleted on dispose.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "bertfinetune-tests", Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A memory-mapped file may still be open on some platforms; the OS cleans temp eventually.
        }
    }
}
