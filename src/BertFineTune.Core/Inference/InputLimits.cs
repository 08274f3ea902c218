using BertFineTune.Checkpoints;
using BertFineTune.Tokenization;

namespace BertFineTune.Inference;

/// <summary>
/// The two checks that a tokenizer fits a model, in one place for the builder and the predictors: every id the tokenizer
/// can produce has an embedding row, and inputs are no longer than the position table.
/// </summary>
internal static class InputLimits
{
    /// <summary>
    /// The longest input in tokens, special tokens included: <paramref name="requested"/> when given, else the tokenizer's
    /// <c>model_max_length</c> capped at the model's <c>max_position_embeddings</c> (transformers' pipelines truncate to
    /// the tokenizer's limit; a longer input has no position embedding).
    /// </summary>
    public static int MaxLength(BertTokenizer tokenizer, BertConfig config, int? requested = null) =>
        requested ?? Math.Min(tokenizer.Options.ModelMaxLength ?? config.MaxPositionEmbeddings, config.MaxPositionEmbeddings);

    /// <summary>Refuses a tokenizer with ids past the model's <c>vocab_size</c>.</summary>
    /// <exception cref="InvalidOperationException">The tokenizer has more tokens than the word embedding has rows.</exception>
    public static void CheckVocabulary(BertTokenizer tokenizer, BertConfig config)
    {
        if (tokenizer.VocabularySize > config.VocabSize)
        {
            throw new InvalidOperationException(
                $"The tokenizer has {tokenizer.VocabularySize} tokens but the model's vocab_size is {config.VocabSize}: ids past it have no embedding. "
                + "Use the tokenizer the checkpoint was trained with, add new tokens with WithAddedTokens() (which resizes the embeddings), "
                + "or a config whose vocab_size covers the vocabulary.");
        }
    }
}
