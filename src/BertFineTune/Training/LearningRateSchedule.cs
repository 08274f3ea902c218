namespace BertFineTune.Training;

/// <summary>The learning-rate schedules of transformers' <c>get_scheduler</c>.</summary>
public enum ScheduleKind
{
    /// <summary>Warm-up, then linear decay to 0 at the last step.</summary>
    Linear,
    /// <summary>Warm-up, then half a cosine wave down to 0.</summary>
    Cosine,
    /// <summary>Warm-up, then constant.</summary>
    Constant,
    /// <summary>Warm-up, then polynomial decay to <see cref="LearningRateSchedule.PolynomialEndLearningRate"/>.</summary>
    Polynomial,
}

/// <summary>
/// A learning-rate schedule with warm-up, computing the multiplier of the base learning rate at each optimizer step
/// with transformers' formulas (<c>get_linear_schedule_with_warmup</c> and its siblings).
/// </summary>
/// <param name="Kind">The schedule's shape.</param>
/// <param name="TotalSteps">Optimizer steps the schedule spans.</param>
/// <param name="WarmupSteps">Steps of linear warm-up from 0.</param>
/// <param name="BaseLearningRate">The peak learning rate.</param>
internal sealed record LearningRateSchedule(ScheduleKind Kind, int TotalSteps, int WarmupSteps, double BaseLearningRate)
{
    /// <summary>Cosine waves over the decay (transformers' default 0.5: from 1 down to 0 once).</summary>
    public double CosineCycles { get; init; } = 0.5;

    /// <summary>Exponent of the polynomial decay (1 = linear).</summary>
    public double PolynomialPower { get; init; } = 1.0;

    /// <summary>Learning rate the polynomial decay ends at (transformers' default 1e-7).</summary>
    public double PolynomialEndLearningRate { get; init; } = 1e-7;

    /// <summary>Warm-up steps for a ratio of <paramref name="totalSteps"/>, rounded up as transformers does.</summary>
    public static int WarmupFromRatio(double ratio, int totalSteps) =>
        ratio is >= 0 and <= 1
            ? (int)Math.Ceiling(totalSteps * ratio)
            : throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "The warm-up ratio must be in [0, 1].");

    /// <summary>
    /// The schedule of <paramref name="options"/> for a run of <paramref name="totalSteps"/> optimizer steps: it spans
    /// <see cref="TrainerOptions.ScheduleTotalSteps"/> when set, else the run; warm-up is
    /// <see cref="TrainerOptions.WarmupSteps"/>, else <see cref="TrainerOptions.WarmupRatio"/> of that span.
    /// </summary>
    internal static LearningRateSchedule FromOptions(TrainerOptions options, int totalSteps)
    {
        int scheduleSteps = options.ScheduleTotalSteps ?? totalSteps;
        return new LearningRateSchedule(options.Schedule, scheduleSteps,
            options.EffectiveWarmupSteps(totalSteps), options.LearningRate)
        {
            CosineCycles = options.CosineCycles,
            PolynomialPower = options.PolynomialPower,
            PolynomialEndLearningRate = options.PolynomialEndLearningRate,
        };
    }

    /// <summary>The learning rate of optimizer step <paramref name="step"/> (0-based).</summary>
    public double LearningRateAt(int step) => BaseLearningRate * Multiplier(step);

    /// <summary>The multiplier of the base learning rate at <paramref name="step"/>.</summary>
    public double Multiplier(int step)
    {
        if (step < WarmupSteps)
        {
            return (double)step / Math.Max(1, WarmupSteps);
        }
        double decaySteps = Math.Max(1, TotalSteps - WarmupSteps);
        switch (Kind)
        {
            case ScheduleKind.Linear:
                return Math.Max(0.0, (TotalSteps - step) / decaySteps);
            case ScheduleKind.Cosine:
            {
                double progress = (step - WarmupSteps) / decaySteps;
                return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * CosineCycles * 2.0 * progress)));
            }
            case ScheduleKind.Constant:
                return 1.0;
            case ScheduleKind.Polynomial:
            {
                if (PolynomialEndLearningRate > BaseLearningRate)
                {
                    throw new InvalidOperationException(
                        $"PolynomialEndLearningRate {PolynomialEndLearningRate} must not exceed the learning rate {BaseLearningRate}.");
                }
                if (step > TotalSteps)
                {
                    return PolynomialEndLearningRate / BaseLearningRate;
                }
                double range = BaseLearningRate - PolynomialEndLearningRate;
                double remaining = 1.0 - (step - WarmupSteps) / decaySteps;
                return (range * Math.Pow(remaining, PolynomialPower) + PolynomialEndLearningRate) / BaseLearningRate;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(step), Kind, "Unknown schedule.");
        }
    }
}
