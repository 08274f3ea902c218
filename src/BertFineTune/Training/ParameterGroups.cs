using System.Globalization;
using BertFineTune.Heads;
using TorchSharp.Modules;

namespace BertFineTune.Training;

/// <summary>
/// The optimizer's parameter groups, chosen by parameter name: frozen parameters (<see cref="TrainerOptions.FreezeEncoder"/>,
/// <see cref="TrainerOptions.FreezeEmbeddings"/>, <see cref="TrainerOptions.FreezeLowestLayers"/>) are left out,
/// the rest grouped by layer-wise learning-rate scale (<see cref="TrainerOptions.LayerwiseLearningRateDecay"/>) and by
/// weight decay (none for names matching <see cref="TrainerOptions.NoDecayPatterns"/>).
/// </summary>
internal static class ParameterGroups
{
    /// <summary>
    /// The trainable parameters of <paramref name="model"/> in groups. Frozen parameters get requires_grad false, so
    /// autograd records nothing for a frozen bottom of the network.
    /// </summary>
    /// <exception cref="InvalidOperationException">Every parameter is frozen.</exception>
    public static List<ParameterGroup> Build(BertForTask model, TrainerOptions options)
    {
        int layers = model.Config.NumHiddenLayers;
        var byKey = new Dictionary<(double Scale, double Decay), (List<string> Names, List<Parameter> Parameters)>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            int? layer = LayerIndex(name);
            bool embeddings = name.StartsWith("bert.embeddings.", StringComparison.Ordinal);
            bool frozen = (options.FreezeEncoder && name.StartsWith("bert.", StringComparison.Ordinal))
                || (options.FreezeEmbeddings && embeddings)
                || (layer is { } l && l < options.FreezeLowestLayers)
                || (options.FreezeLowestLayers > 0 && embeddings);
            parameter.requires_grad = !frozen;
            if (frozen)
            {
                continue;
            }
            double scale = options.LayerwiseLearningRateDecay is { } decay
                ? Math.Pow(decay, embeddings ? layers + 1 : layer is { } k ? layers - k : 0)
                : 1.0;
            double weightDecay = options.NoDecayPatterns.Any(p => name.Contains(p, StringComparison.Ordinal)) ? 0.0 : options.WeightDecay;
            if (!byKey.TryGetValue((scale, weightDecay), out var group))
            {
                group = ([], []);
                byKey[(scale, weightDecay)] = group;
            }
            group.Names.Add(name);
            group.Parameters.Add(parameter);
        }
        if (byKey.Count == 0)
        {
            throw new InvalidOperationException("Every parameter is frozen: nothing would be trained. Unfreeze the head at least.");
        }
        return byKey.Select(p => new ParameterGroup(p.Value.Names, p.Value.Parameters, p.Key.Scale, p.Key.Decay)).ToList();
    }

    /// <summary>The index N of "bert.encoder.layer.N.", or null.</summary>
    internal static int? LayerIndex(string name)
    {
        const string prefix = "bert.encoder.layer.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal))
        {
            return null;
        }
        int end = name.IndexOf('.', prefix.Length);
        return end > prefix.Length && int.TryParse(name.AsSpan(prefix.Length, end - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            ? index
            : null;
    }
}
