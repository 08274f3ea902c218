using BertFineTune.Heads;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace BertFineTune.Training;

/// <summary>
/// The best evaluation of a run and the early-stopping patience, as transformers keeps them
/// (<c>Trainer._determine_best_metric</c>, <c>EarlyStoppingCallback</c>); with <see cref="TrainerOptions.LoadBestModelAtEnd"/>
/// a copy of the best weights, restored at the end of the run.
/// </summary>
internal sealed class BestModelTracker : IDisposable
{
    private readonly BertForTask _model;
    private readonly TrainerOptions _options;
    private readonly ILogger _logger;
    private Dictionary<string, Tensor>? _bestWeights;

    /// <summary>Starts from <paramref name="position"/>'s best metric, its step and patience (nothing, for a new run).</summary>
    public BestModelTracker(BertForTask model, TrainerOptions options, ILogger logger, TrainerPosition position)
    {
        _model = model;
        _options = options;
        _logger = logger;
        BestMetric = position.BestMetric;
        BestStep = position.BestStep;
        Patience = position.EvaluationsWithoutImprovement;
    }

    /// <summary>The best value of <see cref="TrainerOptions.MetricForBestModel"/> so far, or null.</summary>
    public double? BestMetric { get; private set; }

    /// <summary>The step of the best evaluation, or null.</summary>
    public int? BestStep { get; private set; }

    /// <summary>Evaluations in a row that did not reset the early-stopping patience.</summary>
    public int Patience { get; private set; }

    /// <summary>
    /// Records the evaluation at <paramref name="step"/>, the <paramref name="evaluations"/>-th of the run (resumed ones
    /// included); returns true when early stopping triggers.
    /// </summary>
    /// <exception cref="InvalidOperationException">The metric for the best model is not among <paramref name="metrics"/>.</exception>
    public bool Update(IReadOnlyDictionary<string, double> metrics, int step, int evaluations)
    {
        var name = _options.MetricForBestModel.StartsWith("eval_", StringComparison.Ordinal)
            ? _options.MetricForBestModel["eval_".Length..]
            : _options.MetricForBestModel;
        if (!metrics.TryGetValue(name, out var value))
        {
            throw new InvalidOperationException(
                $"TrainerOptions.MetricForBestModel '{_options.MetricForBestModel}' is not among the evaluation metrics ({string.Join(", ", metrics.Keys)}).");
        }
        // transformers keeps two rules apart. EarlyStoppingCallback.check_metric_value (trainer_callback.py) runs first,
        // in on_evaluate, against the best metric so far: only an improvement beyond the threshold resets the patience.
        // Then Trainer._determine_best_metric (trainer.py) records any strict improvement as the new best, threshold or
        // not, starting from -inf (greater is better) or +inf; that best is what load_best_model_at_end restores.
        // BestMetric stays null until a value beats that start (a NaN never does), so nothing infinite is saved.
        bool greater = _options.EffectiveGreaterIsBetter;
        double best = BestMetric ?? (greater ? double.NegativeInfinity : double.PositiveInfinity);
        bool first = evaluations == 1;
        bool resetsPatience = first || (IsBetter(value, best, greater) && Math.Abs(value - best) > _options.EarlyStoppingThreshold);
        Patience = resetsPatience ? 0 : Patience + 1;
        if (IsBetter(value, best, greater))
        {
            BestMetric = value;
            BestStep = step;
            if (_options.LoadBestModelAtEnd)
            {
                DisposeBestWeights();
                using var _ = no_grad();
                _bestWeights = _model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
            }
        }
        if (_options.EarlyStoppingPatience is { } patience && Patience >= patience)
        {
            Log.EarlyStopped(_logger, step, name, patience);
            return true;
        }
        return false;
    }

    // np.greater / np.less: false whenever either side is NaN, so a NaN metric is never a new best.
    private static bool IsBetter(double value, double than, bool greater) => greater ? value > than : value < than;

    /// <summary>
    /// With <see cref="TrainerOptions.LoadBestModelAtEnd"/>, puts the best weights back into the model: the copy kept in
    /// memory or, when the best evaluation came before a resume, the checkpoint saved at that step.
    /// </summary>
    /// <exception cref="InvalidOperationException">The best evaluation's checkpoint no longer exists.</exception>
    public void RestoreBest()
    {
        if (!_options.LoadBestModelAtEnd)
        {
            return;
        }
        if (_bestWeights is not null)
        {
            using var _ = no_grad();
            foreach (var (name, tensor) in _model.state_dict())
            {
                tensor.copy_(_bestWeights[name]);
            }
            Log.BestRestored(_logger, BestStep ?? 0, _options.MetricForBestModel, BestMetric ?? double.NaN);
        }
        else if (BestStep is { } bestStep && _options.OutputDirectory is not null)
        {
            // The best evaluation came before a resume: its weights are in the checkpoint saved at that step.
            var folder = TrainerCheckpoint.FolderFor(_options.OutputDirectory, bestStep);
            if (!Directory.Exists(folder))
            {
                throw new InvalidOperationException(
                    $"LoadBestModelAtEnd: the best evaluation was at step {bestStep}, but {folder} no longer exists; its weights cannot be restored.");
            }
            TrainerCheckpoint.LoadWeights(folder, _model);
            Log.BestRestored(_logger, bestStep, _options.MetricForBestModel, BestMetric ?? double.NaN);
        }
    }

    private void DisposeBestWeights()
    {
        foreach (var tensor in _bestWeights?.Values ?? Enumerable.Empty<Tensor>())
        {
            tensor.Dispose();
        }
        _bestWeights = null;
    }

    /// <summary>Disposes the kept copy of the best weights.</summary>
    public void Dispose() => DisposeBestWeights();
}
