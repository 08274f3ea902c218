namespace BertFineTune.Checkpoints;

/// <summary>
/// How the encoder's token vectors become one vector per text: what a classification head reads
/// (<c>classifier_pooling</c> in <c>config.json</c>, see <see cref="BertConfig.ClassifierPooling"/>) and what a
/// sentence-embedding head outputs. <see cref="Cls"/>, <see cref="Mean"/> and <see cref="Max"/> are sentence-transformers'
/// pooling modes (<c>sentence_transformers/models/Pooling.py</c>); <see cref="Pooler"/> is BERT's own pooled output.
/// </summary>
public enum PoolingMode
{
    /// <summary>
    /// The pooler output (transformers' <c>BertPooler</c>, <c>modeling_bert.py</c>: <c>tanh(dense(hidden[:, 0]))</c>), which
    /// <c>BertForSequenceClassification</c> and <c>BertForMultipleChoice</c> classify; needs the encoder's pooler weights
    /// (<c>bert.pooler.dense.*</c>). <c>classifier_pooling</c> <c>"pooler"</c>, or the field absent.
    /// </summary>
    Pooler,

    /// <summary>The <c>[CLS]</c> token's last hidden state, without the pooler's dense layer and tanh (<c>"cls"</c>).</summary>
    Cls,

    /// <summary>The mean of the last hidden states of the tokens the attention mask keeps (<c>"mean"</c>).</summary>
    Mean,

    /// <summary>The element-wise maximum over the last hidden states of the tokens the attention mask keeps (<c>"max"</c>).</summary>
    Max,
}
