namespace BertFineTune.Checkpoints;

/// <summary>Which weights files a model folder or Hub repository holds, as <see cref="WeightsFiles.ChooseAsync"/> decides.</summary>
internal enum WeightsLayout
{
    /// <summary><c>model.safetensors</c>: one file holds every tensor.</summary>
    SingleFile,

    /// <summary><c>model.safetensors.index.json</c>: the index names the shard files that hold the tensors.</summary>
    Sharded,

    /// <summary>Only <c>pytorch_model.bin</c>, a pickle checkpoint this library does not read.</summary>
    PickleOnly,

    /// <summary>No weights file at all.</summary>
    None,
}

/// <summary>
/// The weights files of a Hugging Face model and the choice between them, made in one place for a local folder
/// (<see cref="SafeTensorsCheckpoint.OpenFolder"/>) and a Hub repository or cache snapshot (<c>HubModelResolver</c>).
/// </summary>
/// <remarks>
/// The order is transformers' (<c>modeling_utils.py</c>, <c>_get_resolved_checkpoint_files</c>): <c>model.safetensors</c>
/// (<c>SAFE_WEIGHTS_NAME</c>), else <c>model.safetensors.index.json</c> (<c>SAFE_WEIGHTS_INDEX_NAME</c>), else
/// <c>pytorch_model.bin</c> (<c>WEIGHTS_NAME</c>), which this library only recognises, to say how to convert it.
/// </remarks>
internal static class WeightsFiles
{
    /// <summary>The single-file checkpoint (transformers' <c>SAFE_WEIGHTS_NAME</c>).</summary>
    public const string SafeWeightsName = "model.safetensors";

    /// <summary>The index of a sharded checkpoint (transformers' <c>SAFE_WEIGHTS_INDEX_NAME</c>).</summary>
    public const string SafeWeightsIndexName = "model.safetensors.index.json";

    /// <summary>The pickle checkpoint (transformers' <c>WEIGHTS_NAME</c>), recognised only to explain that it is not read.</summary>
    public const string PickleWeightsName = "pytorch_model.bin";

    /// <summary>What to do with a model whose weights are only <see cref="PickleWeightsName"/>.</summary>
    public const string PickleConversionHint =
        PickleWeightsName + " is a pickle checkpoint, and this library reads safetensors only: convert it in Python (transformers) with "
        + "AutoModel.from_pretrained(...).save_pretrained(folder, safe_serialization=True) and load that folder.";

    /// <summary>
    /// The layout of a model whose files <paramref name="has"/> reports, asking about each file in the order of preference
    /// and no further than the first one present (so <paramref name="has"/> may fetch the file it is asked about).
    /// </summary>
    /// <param name="has">Whether the model has the named file (and, for a fetching caller, that it was brought in).</param>
    public static async Task<WeightsLayout> ChooseAsync(Func<string, Task<bool>> has)
    {
        ArgumentNullException.ThrowIfNull(has);
        if (await has(SafeWeightsName).ConfigureAwait(false))
        {
            return WeightsLayout.SingleFile;
        }
        if (await has(SafeWeightsIndexName).ConfigureAwait(false))
        {
            return WeightsLayout.Sharded;
        }
        return await has(PickleWeightsName).ConfigureAwait(false) ? WeightsLayout.PickleOnly : WeightsLayout.None;
    }

    /// <summary><see cref="ChooseAsync"/> for a synchronous <paramref name="has"/>, such as a look at the disk.</summary>
    public static WeightsLayout Choose(Func<string, bool> has)
    {
        ArgumentNullException.ThrowIfNull(has);
        // Every task given to ChooseAsync has already completed, so this never blocks.
        return ChooseAsync(name => Task.FromResult(has(name))).GetAwaiter().GetResult();
    }

    /// <summary>
    /// The layout of the local model folder <paramref name="folder"/>. An entry of any kind counts as present, so that a
    /// directory or FIFO named <c>model.safetensors</c> is reported as what it is when opened
    /// (<see cref="FileKinds.RequireRegular"/>), not as a missing file.
    /// </summary>
    public static WeightsLayout InFolder(string folder) => Choose(name => FileKinds.Of(Path.Combine(folder, name)) != FileKind.Missing);
}
