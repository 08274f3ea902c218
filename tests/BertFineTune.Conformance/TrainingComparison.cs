using System.Globalization;
using System.Text.Json;
using BertFineTune.Checkpoints;
using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Training;
using static TorchSharp.torch;

namespace BertFineTune.Conformance;

/// <summary>One compared quantity of a training run.</summary>
/// <param name="Name">What was compared (e.g. <c>step 1 loss</c>, <c>weights</c>).</param>
/// <param name="Difference">Absolute difference (relative for gradient norms).</param>
/// <param name="Passed">Whether it is within the tolerance.</param>
/// <param name="Detail">Expected and actual values, or the worst tensor for weights.</param>
public sealed record TrainingCheck(string Name, double Difference, bool Passed, string Detail)
{
    /// <summary>The harness's line.</summary>
    public override string ToString() =>
        $"{Name} diff={Difference.ToString("G4", CultureInfo.InvariantCulture)} {(Passed ? "ok" : "FAIL")} ({Detail})";
}

/// <summary>
/// Reproduces a <c>training_steps.json</c> fixture through the public <see cref="Trainer"/>: loads the start model,
/// builds the optimizer, schedule and clipping from the JSON, feeds the batches in order, and compares every step's loss,
/// gradient norm before clipping and learning rate, then every weight against the end model.
/// </summary>
public static class TrainingComparison
{
    private const double Tolerance = 1e-5;

    /// <summary>Runs the fixture at <paramref name="fixturePath"/>.</summary>
    public static IReadOnlyList<TrainingCheck> Run(string fixturePath)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(fixturePath))!;
        using var document = JsonDocument.Parse(File.ReadAllText(fixturePath));
        var root = document.RootElement;
        if (root.TryGetProperty("optimizer", out var optimizerName) && optimizerName.GetString() is { } name && !name.EndsWith("AdamW", StringComparison.Ordinal))
        {
            throw new NotSupportedException($"{fixturePath}: optimizer '{name}' is not AdamW.");
        }
        var steps = root.GetProperty("steps").EnumerateArray().ToList();
        var betas = root.GetProperty("betas");
        var options = new TrainerOptions
        {
            LearningRate = root.GetProperty("lr").GetDouble(),
            AdamBeta1 = betas[0].GetDouble(),
            AdamBeta2 = betas[1].GetDouble(),
            AdamEpsilon = root.GetProperty("eps").GetDouble(),
            WeightDecay = root.GetProperty("weight_decay").GetDouble(),
            NoDecayPatterns = root.GetProperty("no_decay").EnumerateArray().Select(e => e.GetString()!).ToList(),
            Schedule = root.GetProperty("schedule").GetString() switch
            {
                "linear" => ScheduleKind.Linear,
                "cosine" => ScheduleKind.Cosine,
                "constant" or "constant_with_warmup" => ScheduleKind.Constant,
                "polynomial" => ScheduleKind.Polynomial,
                var other => throw new NotSupportedException($"{fixturePath}: schedule '{other}' is not supported."),
            },
            WarmupSteps = root.GetProperty("warmup_steps").GetInt32(),
            ScheduleTotalSteps = root.GetProperty("total_steps").GetInt32(),
            MaxGradNorm = root.TryGetProperty("max_grad_norm", out var clip) && clip.ValueKind == JsonValueKind.Number ? clip.GetDouble() : null,
            MaxSteps = steps.Count,
            Shuffle = false,
            EvaluateEveryEpoch = false,
            SaveEveryEpoch = false,
        };
        double? dropout = root.TryGetProperty("dropout", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetDouble() : null;

        using var model = BertForTask.LoadFolder(Path.Combine(folder, root.GetProperty("start").GetString()!), new FolderLoadOptions
        {
            Strict = true,
            Configure = dropout is { } p ? c => c with { HiddenDropoutProb = p, AttentionProbsDropoutProb = p, ClassifierDropout = p } : null,
        });
        using var batchFile = SafeTensorsFile.Open(Path.Combine(folder, root.GetProperty("batches").GetString()!));
        var batches = new List<BertBatch>();
        try
        {
            for (int i = 0; i < steps.Count; i++)
            {
                var prefix = $"step{steps[i].GetProperty("step").GetInt32()}.";
                var tensors = batchFile.Tensors.Where(t => t.Name.StartsWith(prefix, StringComparison.Ordinal))
                    .ToDictionary(t => t.Name[prefix.Length..], t => batchFile.ReadTensor(t.Name));
                if (!tensors.TryGetValue("input_ids", out var ids))
                {
                    throw new InvalidDataException($"{batchFile.FilePath} has no {prefix}input_ids.");
                }
                string[] inputs = ["input_ids", "attention_mask", "token_type_ids"];
                batches.Add(new BertBatch(ids, tensors.GetValueOrDefault("attention_mask"), tensors.GetValueOrDefault("token_type_ids"),
                    tensors.Where(t => !inputs.Contains(t.Key)).ToDictionary(t => t.Key, t => t.Value), ownsTensors: true));
            }

            var recorder = new StepRecorder();
            new Trainer(model, options).Train(BatchSource.FromBatches(batches), callbacks: [recorder]);

            var checks = new List<TrainingCheck>();
            for (int i = 0; i < steps.Count; i++)
            {
                var expected = steps[i];
                var actual = i < recorder.Steps.Count ? recorder.Steps[i] : null;
                if (actual is null)
                {
                    checks.Add(new TrainingCheck($"step {i}", double.NaN, false, "the trainer ran fewer steps"));
                    continue;
                }
                checks.Add(Absolute($"step {i} loss", expected.GetProperty("loss").GetDouble(), actual.Loss));
                double norm = expected.GetProperty("grad_norm_before_clip").GetDouble();
                double relative = Math.Abs(actual.GradientNorm - norm) / Math.Max(Math.Abs(norm), 1e-12);
                checks.Add(new TrainingCheck($"step {i} grad_norm", relative, relative <= Tolerance, $"expected {norm:R}, got {actual.GradientNorm:R}"));
                checks.Add(Absolute($"step {i} lr", expected.GetProperty("lr_used").GetDouble(), actual.LearningRate));
            }
            checks.Add(CompareWeights(model, Path.Combine(folder, root.GetProperty("end").GetString()!)));
            return checks;
        }
        finally
        {
            batches.ForEach(b => b.Dispose());
        }
    }

    private static TrainingCheck Absolute(string name, double expected, double actual)
    {
        double diff = Math.Abs(expected - actual);
        return new TrainingCheck(name, diff, diff <= Tolerance, $"expected {expected:R}, got {actual:R}");
    }

    private static TrainingCheck CompareWeights(BertForTask model, string endFolder)
    {
        using var end = SafeTensorsCheckpoint.OpenFolder(endFolder);
        var state = model.state_dict();
        double worst = 0;
        string worstName = "none";
        var missing = new List<string>();
        foreach (var (key, parameter) in state)
        {
            var name = end.Names.Contains(key) ? key : key.StartsWith("bert.", StringComparison.Ordinal) && end.Names.Contains(key[5..]) ? key[5..] : null;
            if (name is null)
            {
                missing.Add(key);
                continue;
            }
            using var expected = end.ReadTensor(name, ScalarType.Float32);
            using var diff = (parameter.detach() - expected).abs().max();
            double value = diff.item<float>();
            if (value > worst || double.IsNaN(value))
            {
                worst = value;
                worstName = key;
            }
        }
        if (missing.Count > 0)
        {
            return new TrainingCheck("weights", double.NaN, false, $"missing from the end model: {string.Join(", ", missing)}");
        }
        return new TrainingCheck($"weights ({state.Count} tensors)", worst, worst <= Tolerance, $"largest difference in {worstName}");
    }

    private sealed class StepRecorder : TrainerCallback
    {
        public List<StepRecord> Steps { get; } = [];

        public override bool OnStep(StepRecord step)
        {
            Steps.Add(step);
            return false;
        }
    }
}
