using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Modeling;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Heads;

/// <summary>A head written the way docs/custom-heads.md tells users to: mean-pooled hidden states into a scalar score.</summary>
internal sealed class MeanPoolScoreHead : TaskHead
{
    private readonly Linear scorer;

    public MeanPoolScoreHead(BertConfig config) : base(nameof(MeanPoolScoreHead))
    {
        scorer = nn.Linear(config.HiddenSize, 1);
        RegisterComponents();
    }

    public override string ArchitectureName => "BertForMeanPoolScore";

    public override ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        using var scope = NewDisposeScope();
        var encoded = Encode(encoder, batch, options);
        var mask = (batch.AttentionMask ?? ones_like(batch.InputIds)).unsqueeze(-1).to_type(encoded.LastHiddenState.dtype);
        var pooled = (encoded.LastHiddenState * mask).sum(1) / mask.sum(1);
        var score = scorer.forward(pooled).squeeze(-1);
        var target = batch.Target("labels");
        var loss = target is null ? null : nn.functional.l1_loss(score, target);
        return CreateOutput(encoded, ("loss", loss), ("logits", score));
    }
}

public class CustomHeadTests
{
    [Fact]
    public void Custom_head_weights_sit_beside_the_encoder_under_their_field_names()
    {
        var config = TinyModels.Config();
        using var model = new BertForTask(config, new MeanPoolScoreHead(config));

        var keys = model.state_dict().Keys.ToList();

        Assert.Contains("scorer.weight", keys);
        Assert.Contains("scorer.bias", keys);
        Assert.Contains("bert.embeddings.word_embeddings.weight", keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("bert.pooler.", StringComparison.Ordinal));
    }

    [Fact]
    public void Custom_head_computes_its_own_loss_and_round_trips_through_save_and_load()
    {
        var config = TinyModels.Config();
        using var temp = new TempFolder();
        using var model = new BertForTask(config, new MeanPoolScoreHead(config));
        model.eval();
        using var scope = NewDisposeScope();
        var ids = tensor(new long[,] { { 2, 5, 7, 0 }, { 3, 9, 4, 8 } });
        var mask = tensor(new long[,] { { 1, 1, 1, 0 }, { 1, 1, 1, 1 } });
        var targets = new Dictionary<string, Tensor> { ["labels"] = tensor(new float[] { 0.5f, -1f }) };
        using var _ = no_grad();
        using var before = model.Forward(new BertBatch(ids, mask, targets: targets));
        var expectedLoss = (before.Logits! - targets["labels"]).abs().mean().item<float>();

        model.Save(temp.Path);
        using var reloaded = BertForTask.LoadFolder(temp.Path, new FolderLoadOptions { Head = c => new MeanPoolScoreHead(c), Strict = true });
        reloaded.eval();
        using var after = reloaded.Forward(new BertBatch(ids, mask, targets: targets));

        Assert.Equal(expectedLoss, before.Loss!.item<float>(), 1e-6);
        Assert.True(before.Logits!.eq(after.Logits!).all().item<bool>());
        Assert.Equal(["BertForMeanPoolScore"], BertConfig.Load(temp.File("config.json")).Architectures);
    }

    [Fact]
    public void Unknown_architecture_without_a_head_is_refused_with_the_supported_list()
    {
        var config = TinyModels.Config() with { Architectures = ["BertForMeanPoolScore"] };

        var error = Assert.Throws<NotSupportedException>(() => TaskHeads.FromConfig(config));

        Assert.Contains("BertForMeanPoolScore", error.Message, StringComparison.Ordinal);
        Assert.Contains("BertForSequenceClassification", error.Message, StringComparison.Ordinal);
    }
}
