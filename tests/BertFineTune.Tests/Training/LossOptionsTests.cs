using BertFineTune.Data;
using BertFineTune.Heads;
using BertFineTune.Training;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Training;

/// <summary>
/// Class weights, pos_weight and label smoothing against PyTorch's formulas computed by hand on the returned logits:
/// weighted cross-entropy Σ w[yᵢ]·(−log pᵢ,yᵢ) / Σ w[yᵢ]; smoothed cross-entropy (1 − ε)·NLL + ε/C · Σ_c w_c·(−log pᵢ,c) / Σ w[yᵢ];
/// BCE with pos_weight mean(−[p_c·y·log σ(x) + (1 − y)·log(1 − σ(x))]).
/// </summary>
public class LossOptionsTests
{
    private static readonly long[,] Ids = { { 1, 5, 9, 13, 2, 7 }, { 1, 22, 3, 3, 40, 8 }, { 1, 17, 28, 4, 11, 6 }, { 1, 30, 12, 45, 19, 2 } };
    private static readonly long[] Labels = [0, 2, 1, 2];

    /// <summary>A model whose logits spread over several units, so a change of weighting moves the loss visibly.</summary>
    private static BertForTask SpreadModel(int labels)
    {
        var config = TrainingKit.Config(dropout: 0, labels);
        var model = TrainingKit.Model(config, seed: 21);
        using var _ = no_grad();
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        parameters["classifier.weight"].mul_(60);
        parameters["classifier.bias"].copy_(tensor(Enumerable.Range(0, labels).Select(i => 0.7f * (i % 2 == 0 ? i : -i)).ToArray()));
        model.eval();
        return model;
    }

    private static double[][] LogSoftmaxRows(double[] logits, int classes)
    {
        var rows = new double[logits.Length / classes][];
        for (int i = 0; i < rows.Length; i++)
        {
            var row = logits.Skip(i * classes).Take(classes).ToArray();
            double max = row.Max();
            double logSum = max + Math.Log(row.Sum(x => Math.Exp(x - max)));
            rows[i] = row.Select(x => x - logSum).ToArray();
        }
        return rows;
    }

    private static double Loss(BertForTask model, Tensor labels, LossOptions? options, out double[] logits)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var targets = new Dictionary<string, Tensor> { ["labels"] = labels };
        using var output = model.Forward(new BertBatch(tensor(Ids), targets: targets, loss: options));
        logits = TrainingKit.Values(output.Logits!);
        return output.Loss!.item<float>();
    }

    [Fact]
    public void Class_weights_give_the_weighted_mean_of_the_cross_entropy()
    {
        using var model = SpreadModel(3);
        using var labels = tensor(Labels);
        float[] weights = [1f, 2f, 0.5f];

        double plain = Loss(model, labels, null, out _);
        double weighted = Loss(model, labels, new LossOptions(ClassWeights: weights), out var logits);

        var logp = LogSoftmaxRows(logits, 3);
        double numerator = 0, denominator = 0;
        for (int i = 0; i < Labels.Length; i++)
        {
            double w = weights[Labels[i]];
            numerator += w * -logp[i][Labels[i]];
            denominator += w;
        }
        double expectedPlain = Enumerable.Range(0, Labels.Length).Average(i => -logp[i][Labels[i]]);
        Assert.Equal(expectedPlain, plain, 1e-5);
        Assert.Equal(numerator / denominator, weighted, 1e-5);
        Assert.True(Math.Abs(weighted - plain) > 0.05, $"weighted {weighted} vs plain {plain}");
    }

    [Fact]
    public void Label_smoothing_mixes_the_target_with_the_mean_over_classes()
    {
        using var model = SpreadModel(3);
        using var labels = tensor(Labels);
        const double epsilon = 0.1;

        double smoothed = Loss(model, labels, new LossOptions(LabelSmoothing: epsilon), out var logits);

        var logp = LogSoftmaxRows(logits, 3);
        double expected = Enumerable.Range(0, Labels.Length)
            .Average(i => (1 - epsilon) * -logp[i][Labels[i]] + epsilon / 3 * logp[i].Sum(x => -x));
        double plain = Enumerable.Range(0, Labels.Length).Average(i => -logp[i][Labels[i]]);
        Assert.Equal(expected, smoothed, 1e-5);
        Assert.True(Math.Abs(smoothed - plain) > 0.01, $"smoothed {smoothed} vs plain {plain}");
    }

    [Fact]
    public void Label_smoothing_with_class_weights_normalises_both_terms_by_the_target_weights()
    {
        using var model = SpreadModel(3);
        using var labels = tensor(Labels);
        float[] weights = [1f, 2f, 0.5f];
        const double epsilon = 0.2;

        double loss = Loss(model, labels, new LossOptions(ClassWeights: weights, LabelSmoothing: epsilon), out var logits);

        var logp = LogSoftmaxRows(logits, 3);
        double nll = 0, smooth = 0, denominator = 0;
        for (int i = 0; i < Labels.Length; i++)
        {
            nll += weights[Labels[i]] * -logp[i][Labels[i]];
            smooth += Enumerable.Range(0, 3).Sum(c => weights[c] * -logp[i][c]);
            denominator += weights[Labels[i]];
        }
        Assert.Equal((1 - epsilon) * nll / denominator + epsilon / 3 * smooth / denominator, loss, 1e-5);
    }

    [Fact]
    public void Positive_weights_scale_the_positive_term_of_multi_label_bce()
    {
        using var model = SpreadModel(4);
        float[,] targets = { { 1, 0, 1, 0 }, { 0, 0, 1, 1 }, { 1, 1, 0, 0 }, { 0, 1, 0, 1 } };
        using var labels = tensor(targets);
        float[] positive = [1f, 3f, 0.5f, 2f];

        double plain = Loss(model, labels, null, out _);
        double weighted = Loss(model, labels, new LossOptions(PositiveWeights: positive), out var logits);

        static double LogSigmoid(double x) => x >= 0 ? -Math.Log(1 + Math.Exp(-x)) : x - Math.Log(1 + Math.Exp(x));
        double expected = 0, expectedPlain = 0;
        for (int i = 0; i < 4; i++)
        {
            for (int c = 0; c < 4; c++)
            {
                double x = logits[i * 4 + c], y = targets[i, c];
                expected += -(positive[c] * y * LogSigmoid(x) + (1 - y) * LogSigmoid(-x));
                expectedPlain += -(y * LogSigmoid(x) + (1 - y) * LogSigmoid(-x));
            }
        }
        Assert.Equal(expectedPlain / 16, plain, 1e-5);
        Assert.Equal(expected / 16, weighted, 1e-5);
        Assert.True(Math.Abs(weighted - plain) > 0.05, $"weighted {weighted} vs plain {plain}");
    }

    [Fact]
    public void Trainer_applies_its_loss_options_to_the_training_loss()
    {
        using var model = SpreadModel(3);
        var examples = TrainingKit.Examples(6, seed: 3);
        float[] weights = [0.2f, 1f, 3f];
        var loss = new LossOptions(ClassWeights: weights, LabelSmoothing: 0.1);
        double[] logits;
        using (var scope = NewDisposeScope())
        using (var _ = no_grad())
        using (var output = model.Forward(new BatchCollator().Collate(examples)))
        {
            logits = TrainingKit.Values(output.Logits!);
        }
        var labels = examples.Select(e => e.Targets["labels"].IntegerValue).ToArray();
        var logp = LogSoftmaxRows(logits, 3);
        double nll = 0, smooth = 0, denominator = 0;
        for (int i = 0; i < labels.Length; i++)
        {
            nll += weights[labels[i]] * -logp[i][labels[i]];
            smooth += Enumerable.Range(0, 3).Sum(c => weights[c] * -logp[i][c]);
            denominator += weights[labels[i]];
        }
        double expected = 0.9 * nll / denominator + 0.1 / 3 * smooth / denominator;

        var result = new Trainer(model, TrainingKit.Quiet() with { Loss = loss, MaxSteps = 1, BatchSize = 6, Shuffle = false })
            .Train(new InMemoryExamples(examples));

        Assert.Equal(expected, Assert.Single(result.Steps).Loss, 1e-5);
    }
}
