using System.Diagnostics;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Modeling;
using BertFineTune.Runtime;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>
/// The batches of a <see cref="BatchPlan"/> over in-memory examples, each carrying the cached output of the encoder's
/// frozen part for its examples (<see cref="TrainerOptions.CacheFrozenLayers"/>). With a frozen encoder
/// (<see cref="TrainerOptions.FreezeEncoder"/>) that is the last hidden state and pooled output
/// (<see cref="BertBatch.EncoderOutput"/>: only the head runs); with the lowest N layers frozen it is the hidden state
/// after layer N − 1 (<see cref="BertBatch.FrozenLayerStates"/>: layers N.., the pooler and the head run).
/// </summary>
/// <remarks>
/// The frozen part runs once per example, at the first batch asked for (so after top layers are re-initialised or a
/// checkpoint is loaded), in evaluation mode, without gradients and inside the precision scope. Each example's states
/// [tokens, hidden] are rows of one tensor [total tokens, hidden] at the example's offset, in
/// <see cref="TrainerOptions.CachePrecision"/>; above <see cref="TrainerOptions.CacheMemoryLimitBytes"/> that tensor is a
/// memory-mapped temporary file, deleted on <see cref="Dispose"/>. A batch pads the states with zeros to its own
/// length, which its attention mask excludes (the states of an example's real tokens do not depend on other rows'
/// padding, since the mask keeps every token from attending to padding).
/// </remarks>
internal sealed class CachedFeatureBatches : BatchSource, IDisposable
{
    private readonly BatchPlan _plan;
    private readonly BatchCollator _collator;
    private readonly BertForTask _model;
    private readonly PrecisionPolicy _precision;
    private readonly ILogger _logger;
    private readonly IReadOnlyList<EncodedExample> _examples;
    private readonly Dictionary<EncodedExample, int> _index = new(ReferenceEqualityComparer.Instance);
    private readonly long[] _offsets;
    private readonly long _tokens;
    private readonly int _frozenLayers;
    private readonly bool _wholeEncoder;
    private readonly ScalarType _storageType;
    private readonly long _memoryLimit;
    private Tensor? _states;
    private Tensor? _pooled;
    private string? _file;

    public CachedFeatureBatches(BatchPlan plan, BatchCollator collator, BertForTask model, PrecisionPolicy precision,
        TrainerOptions options, ILogger logger)
    {
        _plan = plan;
        _collator = collator;
        _model = model;
        _precision = precision;
        _logger = logger;
        _examples = ((InMemoryExamples)plan.Source).Examples;
        _offsets = new long[_examples.Count];
        long offset = 0;
        for (int i = 0; i < _examples.Count; i++)
        {
            _index.TryAdd(_examples[i], i);
            _offsets[i] = offset;
            offset += _examples[i].Length;
        }
        _tokens = offset;
        int layers = model.Encoder.Layers.Count;
        _wholeEncoder = options.FreezeEncoder;
        _frozenLayers = _wholeEncoder ? layers : Math.Min(options.FreezeLowestLayers, layers);
        _storageType = options.CachePrecision == CachePrecision.Float32 ? ScalarType.Float32 : ScalarType.BFloat16;
        _memoryLimit = options.CacheMemoryLimitBytes ?? GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2;
    }

    /// <summary>
    /// The type the cached states are handed on in, the one place the storage type is converted back: for the layers
    /// above the boundary, their residual stream's type (bfloat16 under mixed precision, float32 otherwise); for a head on
    /// a frozen encoder, the encoder's public output type (float32).
    /// </summary>
    private ScalarType ResidualType => _wholeEncoder ? ScalarType.Float32 : _precision.ComputeType ?? ScalarType.Float32;

    /// <summary>The temporary file the cache was spilled to while it exists, else null (for tests).</summary>
    internal string? SpillFile => _file;

    public override int? BatchesPerEpoch => _plan.BatchesPerEpoch;

    public override int CountBatches() => _plan.BatchesPerEpoch ?? _plan.Batches(0).Count();

    public override IEnumerable<BertBatch> Batches(int epoch, int skip = 0)
    {
        foreach (var examples in _plan.Batches(epoch, skip))
        {
            EnsureEncoded();
            yield return Assemble(examples);
        }
    }

    private void EnsureEncoded()
    {
        if (_states is not null)
        {
            return;
        }
        var clock = Stopwatch.StartNew();
        var device = _model.Encoder.Embeddings.WordEmbeddingWeight.device;
        long hiddenSize = _model.Encoder.Config.HiddenSize;
        long elementBytes = _storageType == ScalarType.Float32 ? 4 : 2;
        bool pooler = _wholeEncoder && _model.Encoder.HasPooler;
        long bytes = (_tokens + (pooler ? _examples.Count : 0)) * hiddenSize * elementBytes;
        bool wasTraining = _model.training;
        _model.eval();
        try
        {
            using var _ = no_grad();
            // The one tensor [total tokens, hidden] (at least one row: libtorch maps no empty file).
            long rows = Math.Max(_tokens, 1);
            if (bytes > _memoryLimit && device.type == DeviceType.CPU)
            {
                _file = Path.Combine(Path.GetTempPath(), $"bertfinetune-layer-cache-{Guid.NewGuid():N}.bin");
                using (var stream = new FileStream(_file, FileMode.CreateNew, FileAccess.Write))
                {
                    stream.SetLength(rows * hiddenSize * elementBytes);
                }
                using var flat = from_file(_file, shared: true, size: rows * hiddenSize, dtype: _storageType);
                _states = flat.view(rows, hiddenSize).DetachFromDisposeScope();
            }
            else
            {
                _states = empty([rows, hiddenSize], _storageType, device).DetachFromDisposeScope();
            }
            _pooled = pooler ? empty([_examples.Count, hiddenSize], _storageType, device).DetachFromDisposeScope() : null;

            using var casts = _precision.CreateCastCache();
            using var autocast = _precision.Enter(casts);
            // Length-sorted chunks, so the one-off encoding pads little.
            var order = Enumerable.Range(0, _examples.Count).OrderBy(i => _examples[i].Length).ToArray();
            foreach (var chunk in order.Chunk(Math.Max(_plan.BatchSize, 32)))
            {
                using var scope = NewDisposeScope();
                using var batch = _collator.Collate(chunk.Select(i => _examples[i]).ToArray(), device);
                Tensor hidden;
                Tensor? pooled = null;
                if (_wholeEncoder)
                {
                    var encoded = _model.Encoder.Forward(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
                    hidden = encoded.LastHiddenState;
                    pooled = encoded.PoolerOutput;
                }
                else
                {
                    hidden = _model.Encoder.ForwardTo(_frozenLayers, batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
                }
                for (int row = 0; row < chunk.Length; row++)
                {
                    int example = chunk[row];
                    int length = _examples[example].Length;
                    _states.narrow(0, _offsets[example], length).copy_(hidden[row].narrow(0, 0, length));
                    if (pooled is not null)
                    {
                        _pooled![example].copy_(pooled[row]);
                    }
                }
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        finally
        {
            if (wasTraining)
            {
                _model.train();
            }
        }
        Log.FrozenLayersCached(_logger, _wholeEncoder ? "the whole encoder" : $"embeddings + layers 0..{_frozenLayers - 1}",
            _examples.Count, _tokens, hiddenSize * elementBytes, bytes, _file is null ? "memory" : $"memory-mapped file {_file}",
            clock.Elapsed.TotalSeconds);
    }

    /// <summary>The collated batch of <paramref name="examples"/> with their cached states, padded to the batch's length.</summary>
    private BertBatch Assemble(IReadOnlyList<EncodedExample> examples)
    {
        var batch = _collator.Collate(examples);
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var rows = examples.Select(e => _index.TryGetValue(e, out var i)
                ? i
                : throw new InvalidOperationException("A batch holds an example that is not among the cached ones.")).ToArray();
            long length = batch.InputIds.shape[1];
            var hidden = zeros([rows.Length, length, _states!.shape[1]], ResidualType, batch.InputIds.device);
            for (int row = 0; row < rows.Length; row++)
            {
                int example = rows[row];
                hidden[row].narrow(0, 0, _examples[example].Length).copy_(_states.narrow(0, _offsets[example], _examples[example].Length));
            }
            if (!_wholeEncoder)
            {
                var states = new FrozenLayerStates(hidden.DetachFromDisposeScope(), _frozenLayers);
                return new BertBatch(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.Targets, batch.Loss,
                    encoderOutput: null, ownsTensors: true, states);
            }
            Tensor? pooled = null;
            if (_pooled is not null)
            {
                using var index = tensor(rows.Select(r => (long)r).ToArray(), device: _pooled.device);
                pooled = _pooled.index_select(0, index).to_type(ResidualType);
            }
            var output = new BertEncoderOutput(hidden.DetachFromDisposeScope(), pooled?.DetachFromDisposeScope(), null, null);
            return new BertBatch(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.Targets, batch.Loss, output, ownsTensors: true);
        }
        catch
        {
            batch.Dispose();
            throw;
        }
    }

    /// <summary>Frees the cache and deletes its temporary file, if any.</summary>
    public void Dispose()
    {
        _states?.Dispose();
        _pooled?.Dispose();
        _states = null;
        _pooled = null;
        if (_file is not null)
        {
            // The mapping is gone with the tensor; a file still in use elsewhere (another handle on Windows) is left to the temp cleaner.
            try
            {
                File.Delete(_file);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
            _file = null;
        }
    }
}
