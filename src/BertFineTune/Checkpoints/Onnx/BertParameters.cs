namespace BertFineTune.Checkpoints.Onnx;

/// <summary>
/// The Hugging Face parameter keys and shapes of each BERT architecture this library has a head for, as transformers'
/// <c>modeling_bert.py</c> declares them (<c>BertEmbeddings</c>, <c>BertLayer</c>, <c>BertPooler</c>, the <c>BertFor…</c>
/// heads). Encoder keys are given without the <c>bert.</c> prefix. The importer checks every mapped ONNX weight against
/// this table and lists the keys the file did not provide. A test compares the table with the modules' own
/// <c>state_dict</c> for every architecture, so the two cannot drift apart.
/// </summary>
internal static class BertParameters
{
    /// <summary>The transformers classes the importer can produce.</summary>
    public static IReadOnlyList<string> Architectures { get; } =
    [
        "BertModel", "BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering",
        "BertForMultipleChoice", "BertForMaskedLM", "BertForPreTraining",
    ];

    /// <summary>
    /// Whether <paramref name="architecture"/> has the pooler (transformers' <c>add_pooling_layer</c>): the bare model, the
    /// classifiers on the pooled output and pre-training do; token classification, QA and masked LM do not.
    /// </summary>
    public static bool HasPooler(string architecture) =>
        architecture is "BertModel" or "BertForSequenceClassification" or "BertForMultipleChoice" or "BertForPreTraining";

    /// <summary>Whether saved keys of <paramref name="architecture"/> carry the <c>bert.</c> prefix (all but the bare <c>BertModel</c>).</summary>
    public static bool PrefixesEncoder(string architecture) => architecture != "BertModel";

    /// <summary>Every parameter of <paramref name="architecture"/> under <paramref name="config"/>: key (without <c>bert.</c>) → shape.</summary>
    public static IReadOnlyDictionary<string, long[]> Of(string architecture, BertConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        long h = config.HiddenSize, v = config.VocabSize, i = config.IntermediateSize;
        var keys = new Dictionary<string, long[]>(StringComparer.Ordinal)
        {
            ["embeddings.word_embeddings.weight"] = [v, h],
            ["embeddings.position_embeddings.weight"] = [config.MaxPositionEmbeddings, h],
            ["embeddings.token_type_embeddings.weight"] = [config.TypeVocabSize, h],
            ["embeddings.LayerNorm.weight"] = [h],
            ["embeddings.LayerNorm.bias"] = [h],
        };
        void Linear(string name, long output, long input)
        {
            keys[name + ".weight"] = [output, input];
            keys[name + ".bias"] = [output];
        }
        void Norm(string name)
        {
            keys[name + ".weight"] = [h];
            keys[name + ".bias"] = [h];
        }
        for (int layer = 0; layer < config.NumHiddenLayers; layer++)
        {
            var prefix = $"encoder.layer.{layer}.";
            Linear(prefix + "attention.self.query", h, h);
            Linear(prefix + "attention.self.key", h, h);
            Linear(prefix + "attention.self.value", h, h);
            Linear(prefix + "attention.output.dense", h, h);
            Norm(prefix + "attention.output.LayerNorm");
            Linear(prefix + "intermediate.dense", i, h);
            Linear(prefix + "output.dense", h, i);
            Norm(prefix + "output.LayerNorm");
        }
        if (HasPooler(architecture))
        {
            Linear("pooler.dense", h, h);
        }
        switch (architecture)
        {
            case "BertForSequenceClassification" or "BertForTokenClassification":
                Linear("classifier", config.NumLabels, h);
                break;
            case "BertForMultipleChoice":
                Linear("classifier", 1, h);
                break;
            case "BertForQuestionAnswering":
                Linear("qa_outputs", 2, h);
                break;
            case "BertForMaskedLM" or "BertForPreTraining":
                Linear("cls.predictions.transform.dense", h, h);
                Norm("cls.predictions.transform.LayerNorm");
                keys["cls.predictions.bias"] = [v];
                if (!config.TieWordEmbeddings)
                {
                    keys["cls.predictions.decoder.weight"] = [v, h];
                }
                if (architecture == "BertForPreTraining")
                {
                    Linear("cls.seq_relationship", 2, h);
                }
                break;
        }
        return keys;
    }
}
