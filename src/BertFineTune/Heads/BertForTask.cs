using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using BertFineTune.Runtime;
using BertFineTune.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>Options for <see cref="BertForTask.LoadFolder(string, FolderLoadOptions?)"/>.</summary>
internal sealed record FolderLoadOptions
{
    /// <summary>Changes the loaded config before the model is built (e.g. dropout overrides); null keeps it.</summary>
    public Func<BertConfig, BertConfig>? Configure { get; init; }

    /// <summary>The head to put on the encoder; null picks the built-in head named by <c>architectures[0]</c>.</summary>
    public Func<BertConfig, TaskHead>? Head { get; init; }

    /// <summary>Throw when a parameter is missing from the checkpoint or a checkpoint tensor is unused.</summary>
    public bool Strict { get; init; }

    /// <summary>Initialise anew, instead of throwing, the parameters whose checkpoint shape differs.</summary>
    public bool IgnoreMismatchedSizes { get; init; }

    /// <summary>The dtype of the model's parameters; F16/BF16 checkpoints are up-cast to it. Default float32.</summary>
    public ScalarType DType { get; init; } = ScalarType.Float32;
}

/// <summary>
/// A <see cref="BertEncoder"/> with a <see cref="TaskHead"/> on top: transformers' <c>BertFor…</c> classes. Parameter
/// names equal the Hugging Face keys (<c>bert.embeddings.word_embeddings.weight</c>, <c>classifier.weight</c>, …), so
/// loading and saving are a rename-free walk.
/// </summary>
public sealed class BertForTask : nn.Module
{
    private readonly BertEncoder bert;

    /// <summary>Puts <paramref name="head"/> on a new, randomly initialised encoder for <paramref name="config"/>.</summary>
    /// <param name="config">The configuration; its sizes are bounded by memory before anything is allocated.</param>
    /// <param name="head">The task head.</param>
    /// <param name="configSource">Names the config in messages (its path); null for "config.json".</param>
    /// <exception cref="ArgumentException">The head declares a parameter outside a submodule.</exception>
    /// <exception cref="BertConfigException">A field is invalid, or the parameters would not fit in memory (<see cref="ModelSize.CheckFitsMemory"/>).</exception>
    /// <exception cref="InvalidOperationException">TorchSharp could not allocate the parameters; the message gives the sizes, no native frames.</exception>
    internal BertForTask(BertConfig config, TaskHead head, string? configSource = null) : base(TorchRuntime.CheckedModuleName(nameof(BertForTask)))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(head);
        configSource ??= BertConfig.FileName;
        config.Validate(configSource);
        ModelSize.CheckFitsMemory(config, configSource);
        try
        {
            bert = new BertEncoder(config, addPoolingLayer: head.UsesPooler);
        }
        catch (Exception e) when (ModelSize.IsNativeFailure(e))
        {
            // The native message goes on with C++ frames; only its first line is kept, beside the sizes that asked for it.
            throw ModelSize.AllocationFailed(config, configSource, e);
        }
        Head = head;
        Config = head.DescribeInConfig(config) with { Architectures = [head.ArchitectureName] };
        register_module("bert", bert);
        // The head's submodules sit beside "bert", as in transformers ("classifier.weight", not "head.classifier.weight").
        var direct = head.named_parameters(recurse: false).Select(p => p.name).ToList();
        if (direct.Count > 0)
        {
            throw new ArgumentException(
                $"Head {head.GetType().Name} declares parameters outside a submodule ({string.Join(", ", direct)}); put them in a submodule field.",
                nameof(head));
        }
        foreach (var (name, child) in head.named_children())
        {
            if (name == "bert")
            {
                throw new ArgumentException($"Head {head.GetType().Name} has a submodule named 'bert', which is the encoder's key.", nameof(head));
            }
            register_module(name, child);
        }
    }

    /// <summary>The configuration, with the head's labels and architecture, as it will be saved.</summary>
    public BertConfig Config { get; private set; }

    /// <summary>The encoder (<c>bert.*</c>).</summary>
    public BertEncoder Encoder => bert;

    /// <summary>The task head.</summary>
    public TaskHead Head { get; }

    /// <summary>What loading the checkpoint did, for a model from <see cref="LoadFolder(string, FolderLoadOptions?)"/>; null otherwise.</summary>
    public LoadReport? LoadReport { get; private set; }

    /// <summary>Runs the model on <paramref name="batch"/>; the output has a loss when the batch carries the head's targets.</summary>
    public ModelOutput Forward(BertBatch batch, EncoderOutputOptions? options = null) =>
        Head.Forward(bert, batch, options ?? new EncoderOutputOptions());

    /// <summary>
    /// Resizes the word embeddings to <paramref name="newNumTokens"/> rows (transformers'
    /// <c>model.resize_token_embeddings(len(tokenizer))</c>, <c>modeling_utils.py</c>), after tokens were added to the
    /// tokenizer (<see cref="BertTokenizer.AddTokens(IEnumerable{string}, bool)"/>; pass its
    /// <see cref="BertTokenizer.VocabularySize"/>). Existing rows are kept; rows past the new size are dropped when
    /// shrinking. <c>vocab_size</c> in <see cref="Config"/> (and the encoder's) is updated, so the model saves and
    /// reloads at the new size, and a masked-LM head follows: its tied decoder is the resized matrix, its bias gets zero
    /// entries (an untied decoder is resized like the embeddings). Call it before creating a trainer: an optimizer made
    /// earlier still holds the old parameters.
    /// </summary>
    /// <param name="newNumTokens">The number of rows, at least 1; more than the pad token id.</param>
    /// <param name="padToMultipleOf">Round the size up to a multiple of this (transformers' <c>pad_to_multiple_of</c>), e.g. 8 for tensor cores.</param>
    /// <param name="meanResizing">
    /// transformers' <c>mean_resizing</c> (default true there and here): each new row is the mean of the old rows. The
    /// reference samples each new row from a normal with that mean and 1e-9 times the old rows' covariance, a spread of
    /// about 3e-5 standard deviations of the old rows, and uses the plain mean when that covariance is not positive
    /// definite; this library always uses the plain mean, so the result is deterministic. False: Normal(0,
    /// <c>initializer_range</c>) rows from TorchSharp's global generator (seed it with <c>torch.random.manual_seed</c>).
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">The size is below 1 or not above the pad token id, or <paramref name="padToMultipleOf"/> is not positive.</exception>
    internal void ResizeTokenEmbeddings(int newNumTokens, int? padToMultipleOf = null, bool meanResizing = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(newNumTokens, 1);
        if (padToMultipleOf is { } multiple)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(multiple, 1, nameof(padToMultipleOf));
            newNumTokens = checked((newNumTokens + multiple - 1) / multiple * multiple);
        }
        if (Config.PadTokenId is { } pad && newNumTokens <= pad)
        {
            throw new ArgumentOutOfRangeException(nameof(newNumTokens), newNumTokens,
                $"Resizing to {newNumTokens} rows would drop the padding row {pad} (pad_token_id); keep at least {pad + 1} rows.");
        }
        if (newNumTokens == bert.Embeddings.WordEmbeddingWeight.shape[0])
        {
            return;
        }
        bert.ResizeTokenEmbeddings(newNumTokens, meanResizing ? Initialization.NewRows.Mean : Initialization.NewRows.Normal);
        foreach (var module in modules())
        {
            if (module is BertLMPredictionHead head)
            {
                head.ResizeVocabulary(newNumTokens, meanResizing, Config.InitializerRange);
            }
        }
        Config = Config with { VocabSize = newNumTokens };
    }

    /// <summary>Sets training mode (dropout on) or evaluation mode on the encoder and the head.</summary>
    public override void train(bool on = true)
    {
        base.train(on);
        Head.train(on);
    }

    /// <summary>
    /// Loads a Hugging Face model folder (<c>config.json</c> and <c>model.safetensors</c> or its sharded index) with the
    /// head its <c>architectures</c> names, or the one <paramref name="options"/> supplies. See <see cref="LoadReport"/>
    /// for the keys that were newly initialised or not used.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder lacks config.json or weights.</exception>
    /// <exception cref="BertConfigException">config.json is invalid.</exception>
    /// <exception cref="SafeTensorsFormatException">A weights file is malformed.</exception>
    /// <exception cref="CheckpointMismatchException">Shapes differ, or strict loading found missing or unused keys.</exception>
    internal static BertForTask LoadFolder(string folder, FolderLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        options ??= new FolderLoadOptions();
        TorchRuntime.EnsureAvailable();
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"Model folder not found: {folder}");
        }
        var config = BertConfig.Load(folder);
        if (options.Configure is { } configure)
        {
            config = configure(config);
            config.Validate(Path.Combine(folder, BertConfig.FileName) + " (after Configure)");
        }
        using var checkpoint = SafeTensorsCheckpoint.OpenFolder(folder);
        return Load(config, checkpoint, options, folder);
    }

    /// <summary>
    /// Builds the model for <paramref name="config"/> with the head <paramref name="options"/> supplies (else the one
    /// <c>architectures</c> names) and loads <paramref name="checkpoint"/> into it; <paramref name="source"/> names the
    /// checkpoint in messages.
    /// </summary>
    /// <exception cref="CheckpointMismatchException">Shapes differ, or strict loading found missing or unused keys.</exception>
    /// <exception cref="BertConfigException">A size in the config is not the checkpoint's, or the model would not fit in memory.</exception>
    internal static BertForTask Load(BertConfig config, ICheckpointTensors checkpoint, FolderLoadOptions options, string source)
    {
        var configSource = Directory.Exists(source) ? Path.Combine(source, BertConfig.FileName) : source;
        // Before anything is allocated: every size the config declares must be one the weights have (header shapes only).
        ModelSize.CheckBackedByWeights(config, checkpoint, configSource, source);
        var head = CreateHead(config, configSource, c => options.Head?.Invoke(c) ?? TaskHeads.FromConfig(c));
        var model = new BertForTask(config, head, configSource);
        try
        {
            if (options.DType != ScalarType.Float32)
            {
                model.to(options.DType);
            }
            var state = model.state_dict();
            model.LoadReport = StateDictLoader.Load(checkpoint, state, new StateDictLoadOptions
            {
                BasePrefix = "bert",
                TiedKeys = head.TiedKeys,
                Strict = options.Strict,
                IgnoreMismatchedSizes = options.IgnoreMismatchedSizes,
            }, source: source);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates the head of <paramref name="config"/> after bounding the model's size by memory (a masked-LM head alone
    /// allocates vocab_size floats), turning a native allocation failure into a message with the sizes.
    /// </summary>
    /// <exception cref="BertConfigException">The model would not fit in memory.</exception>
    /// <exception cref="InvalidOperationException">TorchSharp could not allocate the head.</exception>
    internal static TaskHead CreateHead(BertConfig config, string configSource, Func<BertConfig, TaskHead> factory)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(factory);
        ModelSize.CheckFitsMemory(config, configSource);
        try
        {
            return factory(config);
        }
        catch (Exception e) when (ModelSize.IsNativeFailure(e))
        {
            throw ModelSize.AllocationFailed(config, configSource, e);
        }
    }

    /// <summary>
    /// Saves the model in the Hugging Face layout: <c>config.json</c> (with <c>architectures</c> and <c>model_type</c>)
    /// and <c>model.safetensors</c>, each written to a temporary file and renamed, so the folder loads in Python's
    /// <c>from_pretrained</c>.
    /// </summary>
    internal void Save(string folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        Directory.CreateDirectory(folder);
        var state = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, tensor) in state_dict())
        {
            var key = !Head.PrefixEncoderKeys && name.StartsWith("bert.", StringComparison.Ordinal) ? name["bert.".Length..] : name;
            state.Add(new(key, tensor));
        }
        var dtype = state.Select(s => s.Value).FirstOrDefault(t => t.is_floating_point())?.dtype ?? ScalarType.Float32;
        SafeTensorsWriter.Write(Path.Combine(folder, WeightsFiles.SafeWeightsName), state,
            new Dictionary<string, string> { ["format"] = "pt" });
        (Config with { DType = DTypeName(dtype) }).Save(folder);
    }

    private static string DTypeName(ScalarType type) => type switch
    {
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float64 => "float64",
        _ => "float32",
    };
}
