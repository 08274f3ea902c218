namespace BertFineTune.Training;

/// <summary>
/// Where a training run's wall time went, phase by phase, and how much of what the model read was padding. Measured with
/// a monotonic clock around each phase; on CUDA the device is synchronised before the clock is read, so a phase holds the
/// kernels it queued (on the CPU every operation is synchronous). A resumed run counts from the resume.
/// </summary>
/// <param name="Data">
/// Getting each training batch ready: enumerating and collating the batches (tokenised examples padded into tensors, or
/// the cached frozen-layer features assembled, including the one-off pass that fills that cache), counting its tokens and
/// moving it to the model's device.
/// </param>
/// <param name="Forward">The model's forward passes over the training batches, the loss included.</param>
/// <param name="Backward">The backward passes (gradients of the scaled loss).</param>
/// <param name="Optimizer">Each optimizer step: gradient clipping, the AdamW update and zeroing the gradients.</param>
/// <param name="Evaluation">The evaluations during training (forward passes over the evaluation data and the metrics).</param>
/// <param name="Checkpoint">Writing checkpoints (weights, optimizer and trainer state, tokenizer) and pruning old ones; best-model snapshots held in memory are included.</param>
/// <param name="Total">
/// Wall time of the whole run, from the start of <c>Train</c>'s loop set-up (or of the resume) to its result: the phases
/// plus what none of them covers (set-up, logging, callbacks, restoring the best model), see <see cref="Other"/>.
/// </param>
/// <param name="RealTokens">Tokens of the training batches the attention mask keeps (its sum), over every micro-batch; multiple-choice batches count every choice.</param>
/// <param name="PaddingTokens">Padding positions of the same batches: the attention mask's elements minus <paramref name="RealTokens"/>.</param>
public sealed record TrainingPhaseTimes(TimeSpan Data, TimeSpan Forward, TimeSpan Backward, TimeSpan Optimizer,
    TimeSpan Evaluation, TimeSpan Checkpoint, TimeSpan Total, long RealTokens, long PaddingTokens)
{
    /// <summary>No time and no tokens: what a run that did nothing (or a result built by hand) reports.</summary>
    public static TrainingPhaseTimes Zero { get; } = new(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero,
        TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero, 0, 0);

    /// <summary>
    /// <see cref="Total"/> less the measured phases (never below zero): set-up, logging, progress reports, callbacks and
    /// restoring the best model.
    /// </summary>
    public TimeSpan Other
    {
        get
        {
            var rest = Total - (Data + Forward + Backward + Optimizer + Evaluation + Checkpoint);
            return rest < TimeSpan.Zero ? TimeSpan.Zero : rest;
        }
    }

    /// <summary>The padding share of the training batches' positions, in [0, 1]: PaddingTokens / (RealTokens + PaddingTokens); 0 when no batch was read.</summary>
    public double PaddingShare => RealTokens + PaddingTokens == 0 ? 0 : (double)PaddingTokens / (RealTokens + PaddingTokens);

    /// <summary>The phases by name (data, forward, backward, optimizer, evaluation, checkpoint, other), in that order, as the log, <c>trainer_state.json</c> and the CLI name them.</summary>
    public IReadOnlyList<(string Name, TimeSpan Time)> Phases =>
    [
        ("data", Data), ("forward", Forward), ("backward", Backward), ("optimizer", Optimizer),
        ("evaluation", Evaluation), ("checkpoint", Checkpoint), ("other", Other),
    ];
}
