using BertFineTune.Checkpoints;
using BertFineTune.Modeling;
using static TorchSharp.torch;

namespace BertFineTune.Heads;

/// <summary>
/// A task-specific layer on top of <see cref="BertEncoder"/>, with its own loss and outputs. Subclass it for a custom head:
/// declare the weights in submodule fields and call <c>RegisterComponents()</c>; the field names become the checkpoint
/// keys (<c>classifier.weight</c>, …), next to the encoder's <c>bert.*</c>.
/// </summary>
/// <remarks>
/// A head keeps every weight inside a submodule (not as a <c>Parameter</c> field of the head itself), so the task model
/// can expose the submodules under their own names, exactly as transformers' state dictionaries do.
/// </remarks>
public abstract class TaskHead : nn.Module
{
    /// <summary>Names the head module (TorchSharp's module name; not part of any key).</summary>
    protected TaskHead(string name) : base(name)
    {
    }

    /// <summary>The transformers class this head corresponds to, written to <c>architectures</c> on save (e.g. <c>BertForSequenceClassification</c>).</summary>
    public abstract string ArchitectureName { get; }

    /// <summary>Whether the encoder needs its pooler (<c>bert.pooler.*</c>) for this head.</summary>
    public virtual bool UsesPooler => false;

    /// <summary>
    /// Whether the encoder's keys carry the <c>bert.</c> prefix in a saved checkpoint (true for every task head; false
    /// for the bare encoder, which transformers saves without it).
    /// </summary>
    public virtual bool PrefixEncoderKeys => true;

    /// <summary>Checkpoint keys that duplicate a tied weight and are skipped on load (e.g. the masked-LM decoder).</summary>
    public virtual IReadOnlySet<string> TiedKeys { get; } = new HashSet<string>();

    /// <summary>Runs the encoder on <paramref name="batch"/> and the head on its output; adds the loss when the batch has the targets.</summary>
    public abstract ModelOutput Forward(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options);

    /// <summary>
    /// The ONNX export hook (<c>TaskModel.ExportOnnx</c>): appends the head's nodes to <paramref name="graph"/>, which holds
    /// the encoder's outputs (<see cref="OnnxHeadGraph.LastHiddenState"/>, <see cref="OnnxHeadGraph.PoolerOutput"/>), and
    /// declares the head's outputs with <see cref="OnnxHeadGraph.Output"/> under the names <see cref="Forward"/> uses
    /// (<c>logits</c>, …), computing exactly what <see cref="Forward"/> computes in evaluation mode (no dropout, no loss).
    /// Returns true when it did; the default returns false, and the export then fails with a
    /// <see cref="NotSupportedException"/> that names the head. Every built-in head implements it.
    /// </summary>
    /// <param name="graph">The graph being exported.</param>
    /// <returns>Whether the head appended its nodes and outputs.</returns>
    public virtual bool ExportOnnx(OnnxHeadGraph graph) => false;

    /// <summary>The config to save with this head (labels, problem type); by default <paramref name="config"/> unchanged.</summary>
    public virtual BertConfig DescribeInConfig(BertConfig config) => config;

    /// <summary>
    /// Runs <paramref name="encoder"/> on the batch's inputs as given, or returns the batch's precomputed
    /// <see cref="BertBatch.EncoderOutput"/> (as new handles, which the head may dispose) when it carries one, or, when
    /// it carries the trainer's cached output of the frozen lowest layers (<see cref="Training.TrainerOptions.CacheFrozenLayers"/>),
    /// runs only the layers above them. A head that calls <see cref="BertEncoder.Forward"/> itself gets the same results
    /// by running the whole encoder.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// The precomputed outputs or cached frozen-layer states lack hidden states or attentions that <paramref name="options"/> asks for.
    /// </exception>
    protected static BertEncoderOutput Encode(BertEncoder encoder, BertBatch batch, EncoderOutputOptions options)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.EncoderOutput is { } cached)
        {
            return Precomputed(encoder, cached, options);
        }
        if (batch.FrozenLayerStates is { } states)
        {
            return FromFrozenLayerStates(encoder, states, batch.AttentionMask, options);
        }
        return encoder.Forward(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds, options);
    }

    /// <summary>
    /// Runs the layers above the frozen-layer cache's boundary on its states, with <paramref name="attentionMask"/>
    /// (the batch's, flattened as the states are for multiple choice).
    /// </summary>
    /// <exception cref="InvalidOperationException"><paramref name="options"/> asks for hidden states or attentions, which the frozen layers' cache lacks.</exception>
    private protected static BertEncoderOutput FromFrozenLayerStates(BertEncoder encoder, FrozenLayerStates states, Tensor? attentionMask,
        EncoderOutputOptions? options)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        if (options?.OutputHiddenStates == true || options?.OutputAttentions == true)
        {
            throw new InvalidOperationException(
                "The batch carries the cached output of the encoder's frozen layers, without the hidden states or attentions "
                + "that were asked for; train without TrainerOptions.CacheFrozenLayers or do not ask for them.");
        }
        return encoder.ForwardFrom(states.StartLayer, states.Hidden, attentionMask);
    }

    /// <summary>Checks precomputed encoder outputs against what is asked of them and returns aliases of them.</summary>
    private protected static BertEncoderOutput Precomputed(BertEncoder encoder, BertEncoderOutput cached, EncoderOutputOptions? options)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        if ((options?.OutputHiddenStates == true && cached.HiddenStates is null) || (options?.OutputAttentions == true && cached.Attentions is null))
        {
            throw new InvalidOperationException(
                "The batch carries precomputed encoder outputs without the hidden states or attentions that were asked for; "
                + "run the encoder instead (drop BertBatch.EncoderOutput) or precompute them.");
        }
        if (encoder.HasPooler && cached.PoolerOutput is null)
        {
            throw new InvalidOperationException("The batch's precomputed encoder outputs lack the pooled output this model's head uses.");
        }
        return cached.Alias();
    }

    /// <summary>
    /// Collects a head's outputs plus the encoder's hidden states and attentions when they were requested
    /// (<c>hidden_states.N</c>, <c>attentions.N</c>), moved out of the caller's dispose scope.
    /// </summary>
    protected static ModelOutput CreateOutput(BertEncoderOutput encoded, params (string Name, Tensor? Value)[] outputs)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, value) in outputs)
        {
            if (value is not null)
            {
                tensors[name] = value.MoveToOuterDisposeScope();
            }
        }
        for (int i = 0; i < (encoded.HiddenStates?.Count ?? 0); i++)
        {
            tensors[$"hidden_states.{i}"] = encoded.HiddenStates![i].MoveToOuterDisposeScope();
        }
        for (int i = 0; i < (encoded.Attentions?.Count ?? 0); i++)
        {
            tensors[$"attentions.{i}"] = encoded.Attentions![i].MoveToOuterDisposeScope();
        }
        return new ModelOutput(tensors);
    }
}
