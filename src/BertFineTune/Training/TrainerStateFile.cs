using System.Text.Json;
using System.Text.Json.Nodes;
using BertFineTune.Checkpoints;

namespace BertFineTune.Training;

/// <summary>
/// A checkpoint's <c>trainer_state.json</c>: the run's position (<see cref="TrainerPosition"/>) with transformers'
/// <c>global_step</c>, <c>epoch</c>, <c>max_steps</c>, <c>best_metric</c> and <c>log_history</c> fields, plus what an
/// exact resume needs (epoch index, batches done, optimizer steps, evaluations without improvement), and (our own
/// addition) where the run's time went up to the checkpoint: <c>phase_seconds</c> (data, forward, backward, optimizer,
/// evaluation, checkpoint, other, total), <c>real_tokens</c> and <c>padding_tokens</c>. A file without these reads as before.
/// </summary>
internal static class TrainerStateFile
{
    public const string FileName = "trainer_state.json";

    /// <summary>Writes <paramref name="p"/> to <paramref name="path"/> atomically; <paramref name="totalSteps"/> and <paramref name="epoch"/> are for readers (transformers' max_steps and epoch).</summary>
    public static void Write(string path, TrainerPosition p, int totalSteps, double epoch)
    {
        var root = new JsonObject
        {
            ["global_step"] = p.GlobalStep,
            ["epoch"] = epoch,
            ["max_steps"] = totalSteps,
            ["epoch_index"] = p.EpochIndex,
            ["batches_done_in_epoch"] = p.BatchesDoneInEpoch,
            ["optimizer_steps"] = p.OptimizerSteps,
            ["best_metric"] = p.BestMetric,
            ["best_step"] = p.BestStep,
            ["evaluations_without_improvement"] = p.EvaluationsWithoutImprovement,
            ["log_history"] = new JsonArray(
                p.Steps.Select(s => (JsonNode)new JsonObject
                {
                    ["step"] = s.Step, ["epoch"] = s.Epoch, ["loss"] = Finite(s.Loss), ["grad_norm"] = Finite(s.GradientNorm),
                    ["learning_rate"] = s.LearningRate, ["skipped"] = s.Skipped,
                }).Concat(p.Evaluations.Select(e =>
                {
                    var o = new JsonObject { ["step"] = e.Step, ["epoch"] = e.Epoch };
                    foreach (var (name, value) in e.Metrics)
                    {
                        o[$"eval_{name}"] = Finite(value);
                    }
                    return (JsonNode)o;
                })).ToArray()),
        };
        if (p.PhaseTimes is { } times)
        {
            var seconds = new JsonObject();
            foreach (var (name, time) in times.Phases)
            {
                seconds[name] = time.TotalSeconds;
            }
            seconds["total"] = times.Total.TotalSeconds;
            root["phase_seconds"] = seconds;
            root["real_tokens"] = times.RealTokens;
            root["padding_tokens"] = times.PaddingTokens;
        }
        AtomicFile.WriteText(path, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>The <c>phase_seconds</c> and token counts, or null when the file has none (written before they existed).</summary>
    private static TrainingPhaseTimes? ReadPhaseTimes(JsonObject root)
    {
        if (root["phase_seconds"] is not JsonObject seconds)
        {
            return null;
        }
        TimeSpan Seconds(string name) => TimeSpan.FromSeconds((double)seconds[name]!);
        return new TrainingPhaseTimes(Seconds("data"), Seconds("forward"), Seconds("backward"), Seconds("optimizer"),
            Seconds("evaluation"), Seconds("checkpoint"), Seconds("total"), (long)root["real_tokens"]!, (long)root["padding_tokens"]!);
    }

    // JSON has no NaN; a non-finite value is written as null.
    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    /// <summary>Reads the position written by <see cref="Write"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a trainer_state.json this library wrote.</exception>
    public static TrainerPosition Read(string path)
    {
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            var steps = new List<StepRecord>();
            var evaluations = new List<EvaluationRecord>();
            foreach (var entry in root["log_history"]!.AsArray())
            {
                var o = entry!.AsObject();
                int step = (int)o["step"]!;
                double epoch = (double)o["epoch"]!;
                if (o.ContainsKey("grad_norm"))
                {
                    steps.Add(new StepRecord(step, epoch, (double?)o["loss"] ?? double.NaN, (double?)o["grad_norm"] ?? double.NaN,
                        (double)o["learning_rate"]!, (bool)o["skipped"]!));
                }
                else
                {
                    evaluations.Add(new EvaluationRecord(step, epoch, o.Where(p => p.Key.StartsWith("eval_", StringComparison.Ordinal))
                        .ToDictionary(p => p.Key["eval_".Length..], p => (double?)p.Value ?? double.NaN)));
                }
            }
            return new TrainerPosition(
                (int)root["global_step"]!, (int)root["epoch_index"]!, (int)root["batches_done_in_epoch"]!,
                (long)root["optimizer_steps"]!, (double?)root["best_metric"], (int?)root["best_step"],
                (int)root["evaluations_without_improvement"]!, steps, evaluations, ReadPhaseTimes(root));
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not a trainer_state.json written by this library ({e.Message}).", e);
        }
    }
}
