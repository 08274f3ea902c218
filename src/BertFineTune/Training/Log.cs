using Microsoft.Extensions.Logging;

namespace BertFineTune.Training;

/// <summary>The trainer's log messages.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information,
        "Training {Examples} batches per epoch, {TotalSteps} optimizer steps, {Trainable:N0} of {Total:N0} parameters trainable")]
    public static partial void TrainingStarted(ILogger logger, string examples, int totalSteps, long trainable, long total);

    [LoggerMessage(2, LogLevel.Information, "Resumed from {Checkpoint} at step {Step} (epoch {Epoch}, batch {Batch})")]
    public static partial void Resumed(ILogger logger, string checkpoint, int step, int epoch, int batch);

    [LoggerMessage(3, LogLevel.Information,
        "Step {Step}/{TotalSteps} epoch {Epoch:F2} loss {Loss:F4} lr {LearningRate:E3} grad-norm {GradientNorm:F4} {SamplesPerSecond:F1} samples/s")]
    public static partial void StepLogged(ILogger logger, int step, int totalSteps, double epoch, double loss, double learningRate,
        double gradientNorm, double samplesPerSecond);

    [LoggerMessage(4, LogLevel.Warning, "Step {Step}: loss {Loss} or gradient norm {GradientNorm} is not finite; the update was skipped")]
    public static partial void NonFiniteStepSkipped(ILogger logger, int step, double loss, double gradientNorm);

    [LoggerMessage(5, LogLevel.Information, "Evaluation at step {Step}: {Metrics}")]
    public static partial void Evaluated(ILogger logger, int step, string metrics);

    [LoggerMessage(6, LogLevel.Information, "Saved checkpoint {Folder}")]
    public static partial void CheckpointSaved(ILogger logger, string folder);

    [LoggerMessage(7, LogLevel.Information, "Early stopping at step {Step}: no improvement of {Metric} for {Patience} evaluations")]
    public static partial void EarlyStopped(ILogger logger, int step, string metric, int patience);

    [LoggerMessage(8, LogLevel.Information, "Training cancelled at step {Step}")]
    public static partial void Cancelled(ILogger logger, int step);

    [LoggerMessage(9, LogLevel.Information, "Restored the best weights, from step {Step} ({Metric} = {Value})")]
    public static partial void BestRestored(ILogger logger, int step, string metric, double value);

    [LoggerMessage(11, LogLevel.Information, "Training in mixed precision: bfloat16 matmuls and attention, float32 weights, gradients and optimizer state")]
    public static partial void MixedPrecisionTraining(ILogger logger);

    /// <summary>The event ids of the frozen-layer cache's two lines, which the CLI shows with its progress.</summary>
    internal const int FeatureCacheUnavailableId = 12, FrozenLayersCachedId = 13;

    [LoggerMessage(FeatureCacheUnavailableId, LogLevel.Warning, "CacheFrozenLayers is off for this run: {Reason}; the frozen layers run on every batch")]
    public static partial void FeatureCacheUnavailable(ILogger logger, string reason);

    [LoggerMessage(FrozenLayersCachedId, LogLevel.Information, "Frozen-layer cache: the output of {Layers} for {Examples} examples, {Tokens} tokens, {BytesPerToken} bytes per token, {Bytes} bytes in all, in {Where}; built in {Seconds:F1} s")]
    public static partial void FrozenLayersCached(ILogger logger, string layers, int examples, long tokens, long bytesPerToken, long bytes, string where, double seconds);

    [LoggerMessage(14, LogLevel.Information,
        "Training took {TotalSeconds:F2} s: {Phases}; {RealTokens} real and {PaddingTokens} padding tokens ({PaddingPercent:F1}% padding)")]
    public static partial void PhaseTimes(ILogger logger, double totalSeconds, string phases, long realTokens, long paddingTokens, double paddingPercent);
}
