using BertFineTune.Tokenization;

namespace BertFineTune.Inference;

/// <summary>Sentence embeddings: one vector per text (the sentence-embedding head's <c>embeddings</c> output), and cosine similarity.</summary>
public sealed class EmbeddingPredictor : Predictor
{
    /// <summary>Creates the predictor over <paramref name="backend"/>, whose output <c>embeddings</c> is [hidden] per input.</summary>
    internal EmbeddingPredictor(IPredictorBackend backend, BertTokenizer tokenizer, int batchSize = 32) : base(backend, tokenizer, batchSize)
    {
    }

    /// <summary>The embedding of <paramref name="text"/>.</summary>
    public float[] Embed(string text) => EmbedBatch([text])[0];

    /// <summary>The embeddings of many texts, in input order.</summary>
    public IReadOnlyList<float[]> EmbedBatch(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var encodings = Tokenizer.EncodeBatch(texts, options: TruncateToModel).Encodings;
        var vectors = new float[texts.Count][];
        Run(encodings, (i, outputs) => vectors[i] = Output(outputs, "embeddings").Values);
        return vectors;
    }

    /// <summary>The cosine of the angle between two vectors of the same length (0 when either is zero).</summary>
    public static double CosineSimilarity(IReadOnlyList<float> a, IReadOnlyList<float> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (a.Count != b.Count)
        {
            throw new ArgumentException($"Vectors of lengths {a.Count} and {b.Count} cannot be compared.", nameof(b));
        }
        double dot = 0, normA = 0, normB = 0;
        for (int i = 0; i < a.Count; i++)
        {
            dot += (double)a[i] * b[i];
            normA += (double)a[i] * a[i];
            normB += (double)b[i] * b[i];
        }
        return normA == 0 || normB == 0 ? 0 : dot / Math.Sqrt(normA * normB);
    }
}
