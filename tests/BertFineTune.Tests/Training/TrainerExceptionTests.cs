using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Training;

namespace BertFineTune.Tests.Training;

/// <summary>
/// Every exception <see cref="Trainer"/>'s <c>Train</c> and <c>Evaluate</c> document is thrown for the case the
/// documentation names, with a message that says which; cancellation is documented as no exception at all.
/// (<see cref="NonFiniteLossException"/> is checked in <see cref="NonFiniteLossTests"/>.) The messages are the ones the
/// trainer's code writes; the cases come from the exceptions listed in the XML docs of <c>Trainer.Train</c>.
/// </summary>
public class TrainerExceptionTests
{
    private static TrainerOptions Options => TrainingKit.Quiet() with { LearningRate = 1e-3, BatchSize = 4, Epochs = 1 };

    private static InMemoryExamples Examples(int count = 8) => new(TrainingKit.Examples(count));

    public static TheoryData<string, Type, string> Cases => new()
    {
        // case, exception type, a fragment of its message
        { "no training examples", typeof(ArgumentException), "The training data has no batches" },
        { "no training batches", typeof(ArgumentException), "The training data has no batches" },
        { "every parameter frozen", typeof(InvalidOperationException), "Every parameter is frozen" },
        { "training batch without targets", typeof(InvalidOperationException), "The model produced no loss for training batch 0 of epoch 0" },
        { "metric for the best model missing", typeof(InvalidOperationException), "TrainerOptions.MetricForBestModel 'accuracy' is not among the evaluation metrics (loss)" },
        { "stream without batches under MaxSteps", typeof(InvalidOperationException), "The training data yielded no batches in epoch 0" },
        { "polynomial end above the learning rate", typeof(InvalidOperationException), "PolynomialEndLearningRate 0.5 must not exceed the learning rate 0.001" },
        { "resume from a folder that is not a checkpoint", typeof(FileNotFoundException), "is not a training checkpoint: it has no trainer_state.json" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Train_throws_the_documented_exception(string @case, Type expected, string message)
    {
        using var folder = new TempFolder();
        Action train = @case switch
        {
            "no training examples" => () => Train(Options, new InMemoryExamples([])),
            "no training batches" => () => TrainBatches(Options, new NoBatches()),
            "every parameter frozen" => () =>
            {
                var config = TrainingKit.Config(dropout: 0);
                using var model = new BertForTask(config, new SentenceEmbeddingHead());
                new Trainer(model, Options with { FreezeEncoder = true }).Train(Examples());
            },
            "training batch without targets" => () => Train(Options,
                new InMemoryExamples(TrainingKit.Examples(8).Select(e => e with { Targets = new Dictionary<string, TargetValue>() }).ToList())),
            "metric for the best model missing" => () =>
            {
                using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0));
                new Trainer(model, Options with { EvaluateEveryEpoch = true, MetricForBestModel = "accuracy" }).Train(Examples(), Examples());
            },
            "stream without batches under MaxSteps" => () => Train(Options with { MaxSteps = 2 }, new StreamingExamples(() => [])),
            "polynomial end above the learning rate" => () =>
                Train(Options with { Schedule = ScheduleKind.Polynomial, PolynomialEndLearningRate = 0.5 }, Examples()),
            "resume from a folder that is not a checkpoint" => () => Train(Options with { ResumeFromCheckpoint = folder.Path }, Examples()),
            _ => throw new ArgumentOutOfRangeException(nameof(@case), @case, "unknown case"),
        };

        var error = Assert.Throws(expected, train);

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        if (error is ArgumentException argument)
        {
            Assert.Equal("train", argument.ParamName);
        }
    }

    private static void Train(TrainerOptions options, ExampleSource examples)
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0));
        new Trainer(model, options).Train(examples);
    }

    private static void TrainBatches(TrainerOptions options, BatchSource batches)
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0));
        new Trainer(model, options).Train(batches);
    }

    /// <summary>A user's batch source that is empty (<see cref="BatchSource.FromBatches"/> itself refuses an empty list).</summary>
    private sealed class NoBatches : BatchSource
    {
        public override int? BatchesPerEpoch => 0;

        public override IEnumerable<BertBatch> Batches(int epoch, int skip = 0) => [];
    }

    [Fact]
    public void Restoring_a_best_model_whose_checkpoint_was_deleted_after_a_resume_throws_naming_the_step_and_folder()
    {
        using var folder = new TempFolder();
        var examples = Examples(16);
        // "score" is better when larger: 1 at step 1, 5 at step 2 (the best), then 0 after the resume.
        var scores = new Queue<double>([1, 5, 0]);
        IReadOnlyDictionary<string, double> Score(IReadOnlyList<EvaluationBatch> _) => new Dictionary<string, double> { ["score"] = scores.Dequeue() };
        var options = Options with
        {
            MaxSteps = 4,
            EvaluateEverySteps = 1,
            MetricForBestModel = "score",
            LoadBestModelAtEnd = true,
            OutputDirectory = folder.Path,
            SaveEverySteps = 1,
        };
        using (var model = TrainingKit.Model(TrainingKit.Config(dropout: 0)))
        {
            var first = new Trainer(model, options).Train(examples, examples, Score, callbacks: [new Hooks { Step = s => s.Step == 3 }]);
            Assert.Equal((TrainingStopReason.Callback, 2, 3), (first.StopReason, first.BestStep!.Value, first.GlobalStep));
        }
        var best = Path.Combine(folder.Path, "checkpoint-2");
        Directory.Delete(best, recursive: true);

        using var resumed = TrainingKit.Model(TrainingKit.Config(dropout: 0));
        var error = Assert.Throws<InvalidOperationException>(() => new Trainer(resumed, options with
        {
            ResumeFromCheckpoint = Path.Combine(folder.Path, "checkpoint-3"),
        }).Train(examples, examples, Score));

        Assert.Equal($"LoadBestModelAtEnd: the best evaluation was at step 2, but {best} no longer exists; its weights cannot be restored.", error.Message);
        Assert.Empty(scores);
    }

    [Fact]
    public async Task A_cancelled_token_ends_the_run_after_one_step_without_an_exception_synchronously_or_as_a_task()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        using var syncModel = TrainingKit.Model(TrainingKit.Config(dropout: 0));
        using var asyncModel = TrainingKit.Model(TrainingKit.Config(dropout: 0));

        var sync = new Trainer(syncModel, Options).Train(Examples(12), cancellationToken: cancelled.Token);
        var task = new Trainer(asyncModel, Options).TrainAsync(Examples(12), cancellationToken: cancelled.Token);
        var async = await task;

        foreach (var result in new[] { sync, async })
        {
            Assert.Equal(TrainingStopReason.Cancelled, result.StopReason);
            Assert.Equal(1, result.GlobalStep);
        }
        Assert.Equal(TaskStatus.RanToCompletion, task.Status);
    }

    [Fact]
    public void Evaluate_and_Train_refuse_null_data()
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0));
        var trainer = new Trainer(model, Options);

        Assert.Equal("data", Assert.Throws<ArgumentNullException>(() => trainer.Evaluate(null!)).ParamName);
        Assert.Equal("train", Assert.Throws<ArgumentNullException>(() => trainer.Train((ExampleSource)null!)).ParamName);
        Assert.Equal("train", Assert.Throws<ArgumentNullException>(() => trainer.Train((BatchSource)null!)).ParamName);
    }
}
