using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Runtime;
using BertFineTune.Tokenization;
using BertFineTune.Training;

namespace BertFineTune.Tests.Runtime;

public class RuntimeOptionsTests
{
    [Fact]
    public void TorchThreads_sets_libtorch_intra_op_threads_and_refuses_nonsense()
    {
        int before = TorchThreads.Count;
        try
        {
            TorchThreads.Set(1);
            Assert.Equal(1, TorchThreads.Count);
            Assert.Throws<ArgumentOutOfRangeException>(() => TorchThreads.Set(0));
            Assert.Throws<ArgumentOutOfRangeException>(() => TorchThreads.Set(-3));
            var error = Assert.Throws<ArgumentOutOfRangeException>(() => TorchThreads.Set(4 * Environment.ProcessorCount + 1));
            Assert.Contains("logical processors", error.Message, StringComparison.Ordinal);
            Assert.Equal(1, TorchThreads.Count);
        }
        finally
        {
            TorchThreads.Set(before);
        }
    }

    private static BertModelBuilder Builder() => BertModelBuilder.FromConfig(
        new BertConfig { VocabSize = 8000, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 64 },
        BertTokenizer.Load(Path.Combine(Fixtures.HfReference, "vocab8k.txt"))).WithSequenceClassification(["no", "yes"]);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void UseMixedPrecision_reaches_the_trainer_and_the_predictors_where_the_cpu_supports_it_and_logs_why_not(bool supported)
    {
        var previous = BFloat16Support.CpuSupportOverride;
        BFloat16Support.CpuSupportOverride = () => supported ? null : "pretend CPU without bf16";
        try
        {
            var logs = new RecordingLoggerFactory();
            using var model = Builder().UseMixedPrecision().UseLoggerFactory(logs).Build();

            Assert.Equal(supported, model.MixedPrecision);
            Assert.Equal(supported, ((BertFineTune.Inference.TorchPredictorBackend)model.CreateTextClassificationPredictor().Backend).MixedPrecision);
            Assert.Equal(supported, model.CreateTrainer(new TrainerOptions()).MixedPrecision);
            var warnings = logs.Messages.Where(m => m.Contains("Mixed precision is off", StringComparison.Ordinal)).ToList();
            if (supported)
            {
                Assert.Empty(warnings);
            }
            else
            {
                Assert.Contains("pretend CPU without bf16", Assert.Single(warnings), StringComparison.Ordinal);
            }
        }
        finally
        {
            BFloat16Support.CpuSupportOverride = previous;
        }
    }

    [Fact]
    public void Trainer_and_predictors_stay_in_float32_unless_asked()
    {
        using var model = Builder().Build();

        Assert.False(model.MixedPrecision);
        Assert.False(((BertFineTune.Inference.TorchPredictorBackend)model.CreateTextClassificationPredictor().Backend).MixedPrecision);
        Assert.False(model.CreateTrainer(new TrainerOptions()).MixedPrecision);
    }
}
