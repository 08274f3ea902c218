namespace BertFineTune.Tokenization;

/// <summary>The encodings of a batch, in input order (overflow windows of one input next to each other).</summary>
public sealed class BatchEncoding
{
    internal BatchEncoding(IReadOnlyList<EncodedText> encodings) => Encodings = encodings;

    /// <summary>One encoding per input, or per window when overflowing tokens were requested.</summary>
    public IReadOnlyList<EncodedText> Encodings { get; }

    /// <summary>Each encoding's input index (transformers' <c>overflow_to_sample_mapping</c>).</summary>
    public IReadOnlyList<int> SampleMapping => Encodings.Select(e => e.SampleIndex).ToList();
}
