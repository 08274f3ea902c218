using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Hub;
using BertFineTune.Checkpoints.Onnx;
using BertFineTune.Heads;
using BertFineTune.Inference;
using BertFineTune.Runtime;
using BertFineTune.Tokenization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace BertFineTune.Builder;

/// <summary>
/// Composes a <see cref="TaskModel"/>: a checkpoint (or a new configuration), a task head, a tokenizer, a device and
/// logging. Heads are added through <see cref="WithHead"/> or its extension methods
/// (<see cref="BertModelBuilderExtensions"/>); <see cref="Build"/> validates everything in one place and the builder
/// cannot be changed afterwards.
/// </summary>
/// <example>
/// <code>
/// using var model = BertModelBuilder.FromPretrained("google-bert/bert-base-uncased")   // or a local folder
///     .WithSequenceClassification(["negative", "positive"])
///     .UseDevice("cpu")
///     .Build();
/// </code>
/// </example>
public sealed class BertModelBuilder
{
    private readonly string? _pretrained;
    private readonly HubOptions? _hubOptions;
    private readonly BertConfig? _config;
    private readonly OnnxSource? _onnx;
    private BertTokenizer? _tokenizer;
    private HeadChoice? _head;
    private readonly List<Func<BertConfig, BertConfig>> _configure = [];
    private string _device = "cpu";
    private int? _maxSequenceLength;
    private ILoggerFactory _loggerFactory = NullLoggerFactory.Instance;
    private bool _replaceHead;
    private bool _allowRandomInitialization;
    private int? _seed;
    private bool _mixedPrecision;
    private bool _built;
    private readonly List<AddedToken> _addedTokens = [];

    /// <summary>The files <see cref="FromOnnx"/> names, read at <see cref="Build"/>.</summary>
    private sealed record OnnxSource(string OnnxFile, string Tokenizer, string? ConfigFile);

    /// <summary>A head with the config change it needs; a later <see cref="WithHead"/> replaces all of it.</summary>
    private sealed record HeadChoice(Func<BertConfig, TaskHead> Factory, Func<BertConfig, BertConfig>? Configure, string? Description);

    private BertModelBuilder(string? pretrained, HubOptions? hubOptions, BertConfig? config, BertTokenizer? tokenizer, OnnxSource? onnx = null)
    {
        _onnx = onnx;
        _pretrained = pretrained;
        _hubOptions = hubOptions;
        _config = config;
        _tokenizer = tokenizer;
    }

    /// <summary>
    /// Starts from a Hugging Face model: a local folder (config.json, weights and tokenizer files), or a Hub id such as
    /// <c>google-bert/bert-base-uncased</c>, found in (or downloaded into) the cache huggingface_hub shares. Nothing is
    /// read or downloaded until <see cref="Build"/>. An existing folder always wins over a Hub id.
    /// </summary>
    /// <param name="reference">A model folder, or a Hub id (<c>org/name</c> or <c>name</c>).</param>
    /// <param name="hubOptions">
    /// How to reach the Hub (revision, endpoint, token, offline, cache folder); null or unset properties come from the
    /// environment (<c>HF_ENDPOINT</c>, <c>HF_TOKEN</c>, <c>HF_HUB_OFFLINE</c>, <c>HF_HUB_CACHE</c>/<c>HF_HOME</c>).
    /// </param>
    /// <exception cref="DirectoryNotFoundException"><paramref name="reference"/> is neither a folder nor a Hub id.</exception>
    public static BertModelBuilder FromPretrained(string reference, HubOptions? hubOptions = null)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (!Directory.Exists(reference) && !HubModelResolver.IsHubId(reference))
        {
            throw new DirectoryNotFoundException(
                $"Model folder not found: {reference}. Give a folder with config.json and model.safetensors, or a Hugging Face Hub id (org/name).");
        }
        return new BertModelBuilder(reference, hubOptions ?? new HubOptions(), null, null);
    }

    /// <summary>
    /// Starts from a BERT model exported to ONNX (by <c>torch.onnx.export</c> or optimum), imported at <see cref="Build"/>
    /// by the rules of <see cref="OnnxImport"/> straight into the model, without a folder: the weights and configuration
    /// are read off the graph (or <paramref name="configFile"/> is checked against it), and parameters the file lacks are
    /// newly initialised and listed in <see cref="BertForTask.LoadReport"/>. Without a head call, the head is the one the
    /// graph shows. Use <see cref="OnnxImport.ImportFolder"/> instead to import once and load the folder many times.
    /// </summary>
    /// <param name="onnxFile">The <c>.onnx</c> file; external data files must sit in its folder.</param>
    /// <param name="tokenizer">A <c>vocab.txt</c>, a <c>tokenizer.json</c>, or a folder holding either (an ONNX file carries no tokenizer).</param>
    /// <param name="configFile">The model's <c>config.json</c>, or null to read the configuration off the graph.</param>
    /// <exception cref="FileNotFoundException"><paramref name="onnxFile"/> does not exist.</exception>
    /// <remarks><see cref="Build"/> throws <see cref="OnnxImportException"/> for a file it cannot import.</remarks>
    public static BertModelBuilder FromOnnx(string onnxFile, string tokenizer, string? configFile = null)
    {
        ArgumentNullException.ThrowIfNull(onnxFile);
        ArgumentNullException.ThrowIfNull(tokenizer);
        if (!File.Exists(onnxFile))
        {
            throw new FileNotFoundException($"ONNX file not found: {onnxFile}", onnxFile);
        }
        return new BertModelBuilder(null, null, null, null, new OnnxSource(onnxFile, tokenizer, configFile));
    }

    /// <summary>Starts from a new, randomly initialised model of <paramref name="config"/> with <paramref name="tokenizer"/>.</summary>
    public static BertModelBuilder FromConfig(BertConfig config, BertTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new BertModelBuilder(null, null, config, tokenizer);
    }

    /// <summary>
    /// Puts the head <paramref name="factory"/> creates on the encoder; the core of every <c>With…</c> extension and the
    /// way to add a custom <see cref="TaskHead"/>. <paramref name="configure"/> adjusts the config first (labels, problem
    /// type). A later call replaces this one entirely, its config change included.
    /// </summary>
    /// <param name="factory">Creates the head for the final config.</param>
    /// <param name="configure">Changes the config for this head, or null.</param>
    /// <param name="description">Names the head in error messages, e.g. "sequence classification head (3 labels)".</param>
    public BertModelBuilder WithHead(Func<BertConfig, TaskHead> factory, Func<BertConfig, BertConfig>? configure = null, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Mutable();
        _head = new HeadChoice(factory, configure, description);
        return this;
    }

    /// <summary>Allows a head whose shape differs from the checkpoint's (another label count) to be initialised anew.</summary>
    public BertModelBuilder ReplacingExistingHead()
    {
        Mutable();
        _replaceHead = true;
        return this;
    }

    /// <summary>
    /// Lets <see cref="Build"/> go on when the checkpoint supplies no encoder weight at all (every key renamed, an empty
    /// <c>weight_map</c>, a folder of another model), so the whole model is randomly initialised, as for training from
    /// scratch. Without it such a checkpoint is refused, since fine-tuning random weights silently gives a useless model.
    /// Partly matching checkpoints and new heads never need it: they load, and the keys newly initialised and the ones not
    /// used are logged as warnings, as transformers logs them.
    /// </summary>
    public BertModelBuilder AllowingRandomInitialization()
    {
        Mutable();
        _allowRandomInitialization = true;
        return this;
    }

    /// <summary>
    /// Seeds TorchSharp's global generator (<c>torch.random.manual_seed</c>) with <paramref name="seed"/> at
    /// <see cref="Build"/>, right before the model is created, so every weight the checkpoint does not supply (a new head,
    /// a new encoder, new embedding rows) is drawn from the seed and two builds with the same seed are bit-identical, as
    /// transformers' <c>Trainer</c> calls <c>set_seed(args.seed)</c> before <c>model_init</c> (<c>trainer.py</c>). Give it
    /// the <see cref="Training.TrainerOptions.Seed"/> of the run, which then seeds dropout, shuffling and layer
    /// re-initialisation when training starts. Without this call the generator is left as it is.
    /// </summary>
    /// <param name="seed">Any integer; the CLI's <c>--seed</c>.</param>
    public BertModelBuilder WithSeed(int seed)
    {
        Mutable();
        _seed = seed;
        return this;
    }

    /// <summary>Uses <paramref name="tokenizer"/> instead of the one in the model folder.</summary>
    public BertModelBuilder WithTokenizer(BertTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        Mutable();
        _tokenizer = tokenizer;
        return this;
    }

    /// <summary>
    /// Adds <paramref name="tokens"/> to the tokenizer (<see cref="BertTokenizer.AddTokens(IEnumerable{string}, bool)"/>:
    /// normalized tokens, or special and not normalized with <paramref name="specialTokens"/>) and, when that takes the
    /// tokenizer past the model's <c>vocab_size</c>, resizes the word embeddings to the tokenizer's size at
    /// <see cref="Build"/> (<see cref="BertForTask.ResizeTokenEmbeddings"/>, mean resizing): transformers'
    /// <c>tokenizer.add_tokens(...)</c> then <c>model.resize_token_embeddings(len(tokenizer))</c>. The saved model and
    /// tokenizer reload with the tokens. Tokens the tokenizer already has keep their ids, so building again from the
    /// saved folder with the same call changes nothing.
    /// </summary>
    /// <example><c>.WithAddedTokens(["[E1]", "[/E1]", "[E2]", "[/E2]"], specialTokens: true)</c> for entity markers.</example>
    public BertModelBuilder WithAddedTokens(IEnumerable<string> tokens, bool specialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return WithAddedTokens(tokens.Select(t => new AddedToken(t ?? throw new ArgumentException("A token is null.", nameof(tokens)))), specialTokens);
    }

    /// <summary>
    /// Adds <paramref name="tokens"/>, with their matching options, to the tokenizer and resizes the word embeddings
    /// to match at <see cref="Build"/>; see <see cref="WithAddedTokens(IEnumerable{string}, bool)"/>.
    /// </summary>
    public BertModelBuilder WithAddedTokens(IEnumerable<AddedToken> tokens, bool specialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        Mutable();
        foreach (var token in tokens)
        {
            ArgumentNullException.ThrowIfNull(token, nameof(tokens));
            _addedTokens.Add(specialTokens ? token with { Special = true } : token);
        }
        return this;
    }

    /// <summary>Runs on <paramref name="device"/>: <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    public BertModelBuilder UseDevice(string device)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(device);
        Mutable();
        _device = device;
        return this;
    }

    /// <summary>Limits inputs to <paramref name="tokens"/> tokens (special tokens included).</summary>
    public BertModelBuilder WithMaxSequenceLength(int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 3);
        Mutable();
        _maxSequenceLength = tokens;
        return this;
    }

    /// <summary>Overrides the dropout probabilities of the config (hidden, attention and, when given, classifier).</summary>
    public BertModelBuilder WithDropout(double hidden, double? attention = null, double? classifier = null)
    {
        Mutable();
        _configure.Add(c => c with
        {
            HiddenDropoutProb = hidden,
            AttentionProbsDropoutProb = attention ?? hidden,
            ClassifierDropout = classifier ?? c.ClassifierDropout,
        });
        return this;
    }

    /// <summary>
    /// The one switch for mixed precision: the built model's trainer and predictors run the encoder's matmuls and
    /// attention in bfloat16, with float32 weights, gradients, optimizer state, LayerNorm, activations and loss (see
    /// <see cref="Runtime.Autocast"/>): about as accurate and much faster on CPUs with AVX512-BF16 or AMX and on CUDA.
    /// Where the device lacks bfloat16 support, <see cref="Build"/> logs one line saying why and everything stays in
    /// float32; <see cref="TaskModel.MixedPrecision"/> tells which. Default off, which keeps every number exactly float32.
    /// </summary>
    public BertModelBuilder UseMixedPrecision(bool enabled = true)
    {
        Mutable();
        _mixedPrecision = enabled;
        return this;
    }

    /// <summary>Logs through <paramref name="loggerFactory"/> (default: no logging).</summary>
    public BertModelBuilder UseLoggerFactory(ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(loggerFactory);
        Mutable();
        _loggerFactory = loggerFactory;
        return this;
    }

    /// <summary>
    /// Validates everything and builds the model: resolves a Hub id (downloading what the cache lacks), loads (or
    /// creates) the weights with the chosen head, loads the tokenizer, checks them against each other and moves the model
    /// to the device. After a successful build the builder refuses changes; after a failed one it is unchanged and can be
    /// corrected and built again.
    /// </summary>
    /// <param name="downloadProgress">Told about each file downloaded from the Hub.</param>
    /// <param name="cancellationToken">Stops a download; a later build resumes it.</param>
    /// <exception cref="InvalidOperationException">Something does not fit; the message says what and how to fix it.</exception>
    /// <exception cref="HubException">The Hub model cannot be found, reached or downloaded; the message says what to do.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> stopped a download.</exception>
    /// <exception cref="OnnxImportException">The file of <see cref="FromOnnx"/> cannot be imported; the message names the node or initializer.</exception>
    /// <exception cref="BertConfigException">
    /// config.json is invalid, a size it declares is not the one the weights have (the message names the field, the tensor
    /// and both values), or the parameters would not fit in the memory this process may use (the message names the field).
    /// </exception>
    public TaskModel Build(IProgress<DownloadProgress>? downloadProgress = null, CancellationToken cancellationToken = default)
    {
        Mutable();
        TorchRuntime.EnsureAvailable();
        var logger = _loggerFactory.CreateLogger<BertModelBuilder>();
        var device = ResolveDevice(_device);
        var folder = ResolveFolder(downloadProgress, cancellationToken);
        using var onnx = _onnx is null ? null : OnnxBertReader.Read(_onnx.OnnxFile, _onnx.ConfigFile);
        if (onnx is not null)
        {
            logger.LogInformation("Imported {File}: {Report}", _onnx!.OnnxFile, onnx.Report);
        }

        var baseConfig = _config ?? onnx?.Config ?? BertConfig.Load(folder!);
        var configure = _head?.Configure is { } headConfigure ? _configure.Prepend(headConfigure) : _configure;
        var config = configure.Aggregate(baseConfig, (c, f) => f(c));
        try
        {
            config.Validate("the builder's configuration");
        }
        catch (BertConfigException e)
        {
            throw new InvalidOperationException($"The model configuration is invalid: {e.Message}", e);
        }
        // Opened once (headers only) and kept for loading the weights below.
        using var weights = folder is not null && WeightsFiles.InFolder(folder) is WeightsLayout.SingleFile or WeightsLayout.Sharded
            ? SafeTensorsCheckpoint.OpenFolder(folder)
            : null;
        if (weights is not null)
        {
            // Before anything else is checked or built: the sizes config.json declares must be the weights' (headers only).
            ModelSize.CheckBackedByWeights(config, weights, Path.Combine(folder!, BertConfig.FileName), folder!);
        }
        var tokenizer = _tokenizer ?? LoadTokenizer(_onnx?.Tokenizer ?? folder!);
        foreach (var warning in tokenizer.LoadWarnings)
        {
            logger.LogWarning("{Warning}", warning);
        }
        if (_addedTokens.Count > 0)
        {
            try
            {
                tokenizer = tokenizer.AddTokens(_addedTokens);
            }
            catch (ArgumentException e)
            {
                throw new InvalidOperationException($"WithAddedTokens: {e.Message}", e);
            }
        }
        // Added tokens past vocab_size get new embedding rows after the weights are loaded (the checkpoint has the old size).
        bool resize = _addedTokens.Count > 0 && tokenizer.VocabularySize > config.VocabSize;
        if (!resize)
        {
            InputLimits.CheckVocabulary(tokenizer, config);
        }
        int maxLength = InputLimits.MaxLength(tokenizer, config, _maxSequenceLength);
        if (maxLength > config.MaxPositionEmbeddings)
        {
            throw new InvalidOperationException(
                $"WithMaxSequenceLength({maxLength}) exceeds the model's max_position_embeddings {config.MaxPositionEmbeddings}; use at most {config.MaxPositionEmbeddings}.");
        }
        tokenizer = tokenizer.WithModelMaxLength(maxLength);

        if (_seed is { } seed)
        {
            // Everything below that draws (head and encoder construction, new embedding rows) follows the seed.
            random.manual_seed(seed);
        }
        var model = CreateModel(folder, weights, onnx, config, baseConfig.Architectures, logger);
        try
        {
            if (resize)
            {
                logger.LogInformation("Resized the word embeddings from {Old} to {New} rows for the added tokens", config.VocabSize, tokenizer.VocabularySize);
                model.ResizeTokenEmbeddings(tokenizer.VocabularySize);
            }
            if (device.type != DeviceType.CPU)
            {
                try
                {
                    model.to(device);
                }
                catch (Exception e) when (ModelSize.IsNativeFailure(e))
                {
                    // A device out of memory: the sizes and the allocator's first line, not its C++ frames.
                    throw ModelSize.AllocationFailed(model.Config, "the model", e, $"moving the model to {_device}");
                }
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
        bool mixedPrecision = PrecisionPolicy.Resolve(_mixedPrecision, device, logger);
        _built = true;
        return new TaskModel(model, tokenizer, device, maxLength, _loggerFactory, mixedPrecision);
    }

    /// <summary>The model folder: the one given, or the Hub id's snapshot in the cache (downloaded when missing); null for <see cref="FromConfig"/>.</summary>
    private string? ResolveFolder(IProgress<DownloadProgress>? progress, CancellationToken cancellationToken)
    {
        if (_pretrained is null || Directory.Exists(_pretrained))
        {
            return _pretrained;
        }
        using var resolver = new HubModelResolver(_hubOptions!);
        return resolver.Resolve(_pretrained, progress, cancellationToken);
    }

    /// <summary>A new model of <paramref name="config"/>, or the folder's (or the ONNX file's) weights under the chosen head.</summary>
    private BertForTask CreateModel(string? folder, SafeTensorsCheckpoint? weights, OnnxBertModel? onnx, BertConfig config,
        IReadOnlyList<string> checkpointArchitectures, ILogger logger)
    {
        if (folder is null && onnx is null)
        {
            const string configSource = "the builder's configuration";
            return new BertForTask(config, BertForTask.CreateHead(config, configSource, c => _head?.Factory(c) ?? TaskHeads.FromConfig(c)), configSource);
        }
        var options = new FolderLoadOptions
        {
            Head = _head?.Factory,
            IgnoreMismatchedSizes = _replaceHead,
        };
        var source = folder ?? _onnx!.OnnxFile;
        BertForTask model;
        try
        {
            // A folder without safetensors weights gets OpenFolder's message (which names the pickle-only case).
            using var opened = onnx is null && weights is null ? SafeTensorsCheckpoint.OpenFolder(folder!) : null;
            ICheckpointTensors checkpoint = onnx is null ? weights ?? opened! : new InMemoryCheckpoint(onnx.StateDict);
            model = BertForTask.Load(config, checkpoint, options, source);
        }
        catch (CheckpointMismatchException e)
        {
            throw new InvalidOperationException(
                $"The {_head?.Description ?? "chosen head"} does not fit the checkpoint's: {e.Message} Call ReplacingExistingHead() to initialise a new head instead.", e);
        }
        if (model.LoadReport is { IsExactMatch: false } report)
        {
            foreach (var (level, message) in report.Messages(model.Config.Architectures[0], source, checkpointArchitectures))
            {
#pragma warning disable CA2254 // The message is built by LoadReport in transformers' words; it carries no template holes.
                logger.Log(level, message);
#pragma warning restore CA2254
            }
            try
            {
                RefuseRandomEncoder(model, report, source);
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        return model;
    }

    /// <summary>
    /// Refuses a checkpoint that supplied no encoder (<c>bert.*</c>) weight at all, unless
    /// <see cref="AllowingRandomInitialization"/> was called: a renamed or empty checkpoint would otherwise load, train
    /// and predict from random weights without a word.
    /// </summary>
    private void RefuseRandomEncoder(BertForTask model, LoadReport report, string source)
    {
        if (_allowRandomInitialization)
        {
            return;
        }
        var fresh = report.NewlyInitialized();
        var encoderKeys = model.state_dict().Keys.Where(k => k.StartsWith("bert.", StringComparison.Ordinal)).ToList();
        if (encoderKeys.Count == 0 || encoderKeys.Any(k => !fresh.Contains(k)))
        {
            return;
        }
        var unused = report.UnexpectedKeys;
        var what = unused.Count == 0
            ? "the checkpoint has no tensors (an empty weight_map or an empty weights file)"
            : $"none of its {unused.Count} tensors has a Hugging Face BERT name (first: {string.Join(", ", unused.Take(3))})";
        throw new InvalidOperationException(
            $"{source}: no encoder weight was loaded: {what}, so all {encoderKeys.Count} encoder tensors (e.g. bert.embeddings.word_embeddings.weight) "
            + "would be random. Point at the right model folder, or rename the checkpoint's keys to the names transformers saves "
            + "(embeddings.word_embeddings.weight or bert.embeddings.word_embeddings.weight, …); to train from scratch on purpose, "
            + "call AllowingRandomInitialization() (CLI: --allow-random-init).");
    }

    /// <summary>The tokenizer of a model folder, or the vocab.txt / tokenizer.json / folder given to <see cref="FromOnnx"/>.</summary>
    private static BertTokenizer LoadTokenizer(string path)
    {
        try
        {
            return BertTokenizer.Load(path);
        }
        catch (FileNotFoundException e)
        {
            throw new InvalidOperationException($"No tokenizer in {path}: {e.Message} Pass one with WithTokenizer().", e);
        }
    }

    private static Device ResolveDevice(string name)
    {
        Device device;
        try
        {
            device = new Device(name);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or System.Runtime.InteropServices.ExternalException)
        {
            throw new InvalidOperationException($"Device '{name}' is not understood; use 'cpu', 'cuda' or 'cuda:N'.", e);
        }
        if (device.type == DeviceType.CUDA)
        {
            if (!cuda.is_available())
            {
                throw new InvalidOperationException(
                    $"Device '{name}' was asked for but CUDA is not available: reference a TorchSharp CUDA package instead of TorchSharp-cpu, "
                    + "check the NVIDIA driver, or use 'cpu'.");
            }
            if (device.index >= cuda.device_count())
            {
                throw new InvalidOperationException($"Device '{name}' does not exist: this machine has {cuda.device_count()} CUDA device(s).");
            }
        }
        return device;
    }

    private void Mutable()
    {
        if (_built)
        {
            throw new InvalidOperationException("The builder was already built; create a new builder for another model.");
        }
    }
}
