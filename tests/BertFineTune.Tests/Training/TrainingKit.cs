using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Modeling;
using BertFineTune.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Training;

/// <summary>Tiny models, examples, weight snapshots and callbacks shared by the trainer tests.</summary>
internal static class TrainingKit
{
    /// <summary>The tiny test config with the given dropout everywhere (0 makes a forward pass deterministic).</summary>
    public static BertConfig Config(double dropout, int labels = 3) =>
        TinyModels.Config(labels) with { HiddenDropoutProb = dropout, AttentionProbsDropoutProb = dropout };

    /// <summary>A sequence-classification model whose random weights depend only on <paramref name="seed"/>.</summary>
    public static BertForTask Model(BertConfig config, int seed = 1)
    {
        random.manual_seed(seed);
        return new BertForTask(config, new SequenceClassificationHead(config));
    }

    /// <summary>
    /// <paramref name="count"/> single-label examples of random tokens; lengths in [<paramref name="minLength"/>,
    /// <paramref name="maxLength"/>]; the label depends on the tokens so there is something to learn.
    /// </summary>
    public static List<EncodedExample> Examples(int count, int seed = 5, int minLength = 3, int maxLength = 9, int labels = 3, int vocab = 50)
    {
        var rng = new Random(seed);
        var examples = new List<EncodedExample>(count);
        for (int i = 0; i < count; i++)
        {
            int length = rng.Next(minLength, maxLength + 1);
            var ids = new int[length];
            ids[0] = 1;
            for (int k = 1; k < length; k++)
            {
                ids[k] = rng.Next(2, vocab);
            }
            examples.Add(EncodedExample.WithLabel(ids, null, TargetValue.Integer(ids.Sum() % labels)));
        }
        return examples;
    }

    /// <summary>Options without evaluation or epoch checkpoints, so each test turns on only what it checks.</summary>
    public static TrainerOptions Quiet(TrainerOptions? options = null) => (options ?? new TrainerOptions()) with
    {
        EvaluateEveryEpoch = false,
        SaveEveryEpoch = false,
    };

    /// <summary>Detached copies of every weight by name; dispose with <see cref="Dispose"/>.</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module model)
    {
        using var _ = no_grad();
        return model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone(), StringComparer.Ordinal);
    }

    public static void Dispose(Dictionary<string, Tensor>? snapshot)
    {
        foreach (var tensor in snapshot?.Values ?? Enumerable.Empty<Tensor>())
        {
            tensor.Dispose();
        }
    }

    /// <summary>Copies every weight of <paramref name="source"/> into <paramref name="target"/>.</summary>
    public static void CopyWeights(nn.Module source, nn.Module target)
    {
        using var _ = no_grad();
        var from = source.state_dict();
        foreach (var (name, tensor) in target.state_dict())
        {
            tensor.copy_(from[name]);
        }
    }

    /// <summary>The largest absolute difference between two snapshots of the same model (NaN counts as infinite).</summary>
    public static double MaxDifference(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b)
    {
        Assert.Equal(a.Keys.OrderBy(k => k, StringComparer.Ordinal), b.Keys.OrderBy(k => k, StringComparer.Ordinal));
        double worst = 0;
        foreach (var (name, tensor) in a)
        {
            worst = Math.Max(worst, MaxDifference(tensor, b[name]));
        }
        return worst;
    }

    public static double MaxDifference(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        Assert.Equal(a.shape, b.shape);
        if (a.numel() == 0)
        {
            return 0;
        }
        double value = (a.detach().to_type(ScalarType.Float64) - b.detach().to_type(ScalarType.Float64)).abs().max().item<double>();
        return double.IsNaN(value) ? double.PositiveInfinity : value;
    }

    /// <summary>Whether two tensors hold exactly the same bits (same shape, every element equal).</summary>
    public static bool BitIdentical(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.detach().eq(b.detach()).all().item<bool>();
    }

    /// <summary>Names of the snapshot entries that differ in any bit.</summary>
    public static List<string> Changed(IReadOnlyDictionary<string, Tensor> before, IReadOnlyDictionary<string, Tensor> after) =>
        before.Where(p => !BitIdentical(p.Value, after[p.Key])).Select(p => p.Key).OrderBy(k => k, StringComparer.Ordinal).ToList();

    /// <summary>The value of a float tensor as doubles, row-major.</summary>
    public static double[] Values(Tensor tensor)
    {
        using var flat = tensor.detach().to_type(ScalarType.Float64).cpu().contiguous().flatten();
        return flat.data<double>().ToArray();
    }
}

/// <summary>A callback built from delegates.</summary>
internal sealed class Hooks : TrainerCallback
{
    public Func<StepRecord, bool>? Step { get; init; }

    public Func<EvaluationRecord, bool>? Evaluate { get; init; }

    public Func<string, int, bool>? Save { get; init; }

    public override bool OnStep(StepRecord step) => Step?.Invoke(step) ?? false;

    public override bool OnEvaluate(EvaluationRecord evaluation) => Evaluate?.Invoke(evaluation) ?? false;

    public override bool OnSave(string folder, int step) => Save?.Invoke(folder, step) ?? false;
}

/// <summary>Records every step.</summary>
internal sealed class StepLog : TrainerCallback
{
    public List<StepRecord> Steps { get; } = [];

    public override bool OnStep(StepRecord step)
    {
        Steps.Add(step);
        return false;
    }
}

/// <summary>An <see cref="IProgress{T}"/> that records reports synchronously, on the reporting thread.</summary>
internal sealed class ProgressLog<T> : IProgress<T>
{
    public List<T> Reports { get; } = [];

    public void Report(T value)
    {
        lock (Reports)
        {
            Reports.Add(value);
        }
    }
}

/// <summary>
/// Single-label classification on the first token's hidden state, with dropout, that records each training-mode forward
/// pass (the batch's token ids), so tests can see exactly which batches a run put through the model.
/// </summary>
internal sealed class RecordingClassificationHead : TaskHead
{
    private readonly Dropout dropout;
    private readonly Linear classifier;

    public RecordingClassificationHead(BertConfig config) : base(nameof(RecordingClassificationHead))
    {
        dropout = nn.Dropout(config.HiddenDropoutProb);
        classifier = nn.Linear(config.HiddenSize, config.NumLabels);
        RegisterComponents();
    }

    /// <summary>The token ids of every batch run in training mode, one string per batch.</summary>
    public List<string> TrainingBatches { get; } = [];

    public override string ArchitectureName => "BertForRecordedClassification";

    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        if (training)
        {
            TrainingBatches.Add(string.Join(" ", batch.InputIds.data<long>().ToArray()));
        }
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var first = encoded.LastHiddenState.select(1, 0);
        var logits = classifier.forward(dropout.forward(first));
        var labels = batch.Target("labels");
        var loss = labels is null ? null : nn.functional.cross_entropy(logits, labels);
        return CreateOutput(encoded, ("loss", loss), ("logits", logits));
    }
}
