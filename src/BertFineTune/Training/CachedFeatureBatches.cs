using System.Diagnostics;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Modeling;
using BertFineTune.Runtime;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>
/// The batches of a <see cref="BatchPlan"/> over in-memory examples, each carrying the frozen encoder's outputs for its
/// examples (<see cref="BertBatch.EncoderOutput"/>), so the head trains without running the encoder. The encoder runs
/// once per example, at the first batch asked for, in evaluation mode and without gradients; each example's last hidden
/// state [tokens, hidden] and, when the encoder has a pooler, its pooled output [hidden] are kept; a batch pads the hidden
/// states with zeros to its own length, which the batch's attention mask excludes from mean and max pooling.
/// </summary>
internal sealed class CachedFeatureBatches : BatchSource, IDisposable
{
    private readonly BatchPlan _plan;
    private readonly BatchCollator _collator;
    private readonly BertForTask _model;
    private readonly PrecisionPolicy _precision;
    private readonly ILogger _logger;
    private readonly IReadOnlyList<EncodedExample> _examples;
    private readonly Dictionary<EncodedExample, int> _index = new(ReferenceEqualityComparer.Instance);
    private Tensor[]? _hidden;
    private Tensor?[]? _pooled;

    public CachedFeatureBatches(BatchPlan plan, BatchCollator collator, BertForTask model, PrecisionPolicy precision, ILogger logger)
    {
        _plan = plan;
        _collator = collator;
        _model = model;
        _precision = precision;
        _logger = logger;
        _examples = ((InMemoryExamples)plan.Source).Examples;
        for (int i = 0; i < _examples.Count; i++)
        {
            _index.TryAdd(_examples[i], i);
        }
    }

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
        if (_hidden is not null)
        {
            return;
        }
        var clock = Stopwatch.StartNew();
        var hidden = new Tensor[_examples.Count];
        var pooled = new Tensor?[_examples.Count];
        var device = _model.Encoder.Embeddings.WordEmbeddingWeight.device;
        bool wasTraining = _model.training;
        _model.eval();
        try
        {
            using var _ = no_grad();
            using var casts = _precision.CreateCastCache();
            using var autocast = _precision.Enter(casts);
            // Length-sorted chunks, so the one-off encoding pads little.
            var order = Enumerable.Range(0, _examples.Count).OrderBy(i => _examples[i].Length).ToArray();
            foreach (var chunk in order.Chunk(Math.Max(_plan.BatchSize, 32)))
            {
                using var scope = NewDisposeScope();
                using var batch = _collator.Collate(chunk.Select(i => _examples[i]).ToArray(), device);
                using var encoded = _model.Encoder.Forward(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
                for (int row = 0; row < chunk.Length; row++)
                {
                    int example = chunk[row];
                    hidden[example] = encoded.LastHiddenState[row].narrow(0, 0, _examples[example].Length).clone().DetachFromDisposeScope();
                    pooled[example] = encoded.PoolerOutput?[row].clone().DetachFromDisposeScope();
                }
            }
        }
        catch
        {
            foreach (var t in hidden.Concat(pooled))
            {
                t?.Dispose();
            }
            throw;
        }
        finally
        {
            if (wasTraining)
            {
                _model.train();
            }
        }
        _hidden = hidden;
        _pooled = pooled;
        Log.FeaturesCached(_logger, _examples.Count, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The collated batch of <paramref name="examples"/> with their cached features, padded to the batch's length.</summary>
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
            var first = _hidden![rows[0]];
            long length = batch.InputIds.shape[1];
            var hidden = zeros([rows.Length, length, first.shape[1]], first.dtype, first.device);
            for (int row = 0; row < rows.Length; row++)
            {
                var features = _hidden[rows[row]];
                hidden[row].narrow(0, 0, features.shape[0]).copy_(features);
            }
            var pooled = _pooled![rows[0]] is null ? null : stack(rows.Select(r => _pooled[r]!).ToArray());
            var output = new BertEncoderOutput(hidden.DetachFromDisposeScope(), pooled?.DetachFromDisposeScope(), null, null);
            return new BertBatch(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, batch.Targets, batch.Loss, output, ownsTensors: true);
        }
        catch
        {
            batch.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var t in (_hidden ?? []).Concat(_pooled ?? []))
        {
            t?.Dispose();
        }
        _hidden = null;
        _pooled = null;
    }
}
