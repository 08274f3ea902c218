using BertFineTune.Data;
using BertFineTune.Training;

namespace BertFineTune.Tests.Training;

/// <summary>
/// The schedules against transformers' lambdas (optimization.py), written out by hand for 10 steps with 3 warm-up steps:
/// warm-up step/max(1, W); linear max(0, (T - s)/max(1, T - W)); cosine max(0, ½(1 + cos(π·2·cycles·(s - W)/(T - W))));
/// constant 1; polynomial ((lr - end)(1 - (s - W)/(T - W))^power + end)/lr. The step s is 0-based: the first update uses s = 0.
/// </summary>
public class LearningRateScheduleTests
{
    private const double Lr = 1e-3;
    private const double End = 1e-5;

    public static TheoryData<ScheduleKind, double, double, double> Schedules() => new()
    {
        // kind, lr at s = W (end of warm-up), lr at s = T - 1 (the last step), lr at s = 6 (mid-decay)
        { ScheduleKind.Linear, Lr, Lr * (10 - 9) / (10 - 3.0), Lr * (10 - 6) / 7.0 },
        { ScheduleKind.Cosine, Lr, Lr * 0.5 * (1 + Math.Cos(Math.PI * 2 * 0.5 * (6 / 7.0))), Lr * 0.5 * (1 + Math.Cos(Math.PI * (3 / 7.0))) },
        { ScheduleKind.Constant, Lr, Lr, Lr },
        { ScheduleKind.Polynomial, Lr, (Lr - End) * Math.Pow(1 - 6 / 7.0, 2) + End, (Lr - End) * Math.Pow(1 - 3 / 7.0, 2) + End },
    };

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Schedule_matches_transformers_at_warmup_start_warmup_end_and_last_step(ScheduleKind kind, double atWarmupEnd, double atLast, double atMiddle)
    {
        var schedule = new LearningRateSchedule(kind, TotalSteps: 10, WarmupSteps: 3, BaseLearningRate: Lr)
        {
            PolynomialPower = 2,
            PolynomialEndLearningRate = End,
        };

        Assert.Equal(0.0, schedule.LearningRateAt(0));
        Assert.Equal(Lr * 1 / 3.0, schedule.LearningRateAt(1), 1e-15);
        Assert.Equal(Lr * 2 / 3.0, schedule.LearningRateAt(2), 1e-15);
        Assert.Equal(atWarmupEnd, schedule.LearningRateAt(3), 1e-15);
        Assert.Equal(atMiddle, schedule.LearningRateAt(6), 1e-15);
        Assert.Equal(atLast, schedule.LearningRateAt(9), 1e-15);
    }

    [Theory]
    [MemberData(nameof(Schedules))]
    public void Trainer_uses_the_schedule_step_by_step_with_warmup_from_a_ratio_rounded_up(ScheduleKind kind, double atWarmupEnd, double atLast, double atMiddle)
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0));
        var options = TrainingKit.Quiet() with
        {
            LearningRate = Lr,
            Schedule = kind,
            // ceil(10 × 0.21) = 3 warm-up steps; rounding down or to nearest would give 2.
            WarmupRatio = 0.21,
            PolynomialPower = 2,
            PolynomialEndLearningRate = End,
            MaxSteps = 10,
            BatchSize = 2,
        };

        var result = new Trainer(model, options).Train(new InMemoryExamples(TrainingKit.Examples(4)));

        var used = result.Steps.Select(s => s.LearningRate).ToList();
        Assert.Equal(10, used.Count);
        Assert.Equal(0.0, used[0]);
        Assert.Equal(Lr * 2 / 3.0, used[2], 1e-15);
        Assert.Equal(atWarmupEnd, used[3], 1e-15);
        Assert.Equal(atMiddle, used[6], 1e-15);
        Assert.Equal(atLast, used[9], 1e-15);
    }

    [Theory]
    [InlineData(0.21, 10, 3)]
    [InlineData(0.1, 25, 3)]
    [InlineData(0.06, 100, 6)]
    [InlineData(0.0, 10, 0)]
    [InlineData(1.0, 7, 7)]
    public void Warmup_from_a_ratio_is_the_ceiling_of_ratio_times_steps(double ratio, int total, int expected)
    {
        Assert.Equal(expected, LearningRateSchedule.WarmupFromRatio(ratio, total));
    }

    [Fact]
    public void Polynomial_holds_the_end_rate_and_linear_holds_zero_after_the_last_step()
    {
        var polynomial = new LearningRateSchedule(ScheduleKind.Polynomial, 10, 3, Lr) { PolynomialPower = 2, PolynomialEndLearningRate = End };
        var linear = new LearningRateSchedule(ScheduleKind.Linear, 10, 3, Lr);

        Assert.Equal(End, polynomial.LearningRateAt(10), 1e-18);
        Assert.Equal(End, polynomial.LearningRateAt(15), 1e-18);
        Assert.Equal(0.0, linear.LearningRateAt(10));
        Assert.Equal(0.0, linear.LearningRateAt(12));
    }

    [Fact]
    public void Cosine_with_one_full_cycle_comes_back_up_at_the_end()
    {
        var schedule = new LearningRateSchedule(ScheduleKind.Cosine, 11, 1, Lr) { CosineCycles = 1 };

        // progress (s - 1)/10: s = 6 is half-way (cos π = -1), s = 11 the full wave (cos 2π = 1).
        Assert.Equal(0.0, schedule.LearningRateAt(6), 1e-18);
        Assert.Equal(Lr * 0.5 * (1 + Math.Cos(2 * Math.PI * 0.3)), schedule.LearningRateAt(4), 1e-15);
        Assert.Equal(Lr, schedule.LearningRateAt(11), 1e-15);
    }
}
