using BertFineTune.Data;
using BertFineTune.Training;
using TorchSharp;

namespace BertFineTune.Tests.Training;

public class TensorLeakTests
{
    [Fact]
    public void Two_hundred_steps_leave_no_more_live_tensors_than_twenty()
    {
        using var model = TrainingKit.Model(TrainingKit.Config(dropout: 0.1));
        var options = TrainingKit.Quiet() with
        {
            MaxSteps = 200,
            BatchSize = 4,
            GradientAccumulationSteps = 2,
            WeightDecay = 0.01,
            LoggingSteps = 10,
        };
        long? at20 = null, at200 = null;
        var progress = new ProgressLog<TrainingProgress>();

        var result = new Trainer(model, options).Train(new InMemoryExamples(TrainingKit.Examples(16)), progress: progress, callbacks:
        [
            new Hooks
            {
                Step = s =>
                {
                    if (s.Step == 20)
                    {
                        at20 = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
                    }
                    else if (s.Step == 200)
                    {
                        at200 = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
                    }
                    return false;
                },
            },
        ]);

        Assert.Equal(200, result.GlobalStep);
        Assert.Equal(20, progress.Reports.Count);
        Assert.NotNull(at20);
        Assert.NotNull(at200);
        Assert.True(at200 <= at20, $"live tensors grew from {at20} after step 20 to {at200} after step 200");
    }
}
