namespace BertFineTune.Checkpoints;

/// <summary>
/// The tokenizer files of a Hugging Face model folder, handled as files (this layer does not read them; the tokenizer
/// layer does): what the Hub resolver fetches and what an import copies into a new model folder.
/// </summary>
internal static class TokenizerFiles
{
    /// <summary>The fast-tokenizer file.</summary>
    public const string TokenizerJson = "tokenizer.json";

    /// <summary>The WordPiece vocabulary, one token per line.</summary>
    public const string Vocab = "vocab.txt";

    /// <summary>Every tokenizer file a BERT model folder may hold, as transformers saves them.</summary>
    public static IReadOnlyList<string> Names { get; } = [TokenizerJson, "tokenizer_config.json", Vocab, "special_tokens_map.json"];

    /// <summary>
    /// The files to copy from <paramref name="source"/> and their names in the model folder: a folder's tokenizer files
    /// (it must hold <c>tokenizer.json</c> or <c>vocab.txt</c>); a file ending in <c>.json</c> as <c>tokenizer.json</c>;
    /// any other file as <c>vocab.txt</c>: the forms the tokenizer's <c>Load</c> reads.
    /// </summary>
    /// <exception cref="FileNotFoundException">Nothing at <paramref name="source"/>, or a folder without tokenizer.json or vocab.txt.</exception>
    public static IReadOnlyList<(string Source, string Name)> Resolve(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (Directory.Exists(source))
        {
            var files = Names.Select(n => (Source: Path.Combine(source, n), Name: n)).Where(f => File.Exists(f.Source)).ToList();
            if (!files.Any(f => f.Name is TokenizerJson or Vocab))
            {
                throw new FileNotFoundException($"{source}: the folder has no {TokenizerJson} or {Vocab} to take the tokenizer from.", Path.Combine(source, Vocab));
            }
            return files;
        }
        if (!File.Exists(source))
        {
            throw new FileNotFoundException($"Tokenizer not found: {source}. Give a vocab.txt, a tokenizer.json or a model folder holding one.", source);
        }
        return [(source, source.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? TokenizerJson : Vocab)];
    }
}
