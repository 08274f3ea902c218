using System.Collections.Concurrent;
using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;
using EncodedText = BertFineTune.Tokenization.EncodedText;

namespace BertFineTune.Tests.Tokenization;

/// <summary>One tokenizer instance shared by many threads gives what it gives on one thread.</summary>
public sealed class ConcurrencyTests
{
    private const int Rounds = 4;

    [Fact]
    public void Eight_threads_sharing_one_tokenizer_get_the_sequential_results()
    {
        var tokenizer = BertTokenizer.Load(FullVocabPath);
        var texts = SingleTexts();
        // Pairs too, so the truncation path runs concurrently: each text with the next one, truncated to 24.
        var options = new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 24 };
        var expectedSingle = texts.Select(t => tokenizer.Encode(t)).ToList();
        var expectedPair = texts.Select((t, i) => tokenizer.Encode(t, texts[(i + 1) % texts.Count], options)).ToList();

        var results = new ConcurrentBag<(int Index, EncodedText Single, EncodedText Pair)>();
        var threads = new ConcurrentDictionary<int, bool>();
        // Eight workers, each going over every text several times from its own starting point.
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, worker =>
        {
            threads[Environment.CurrentManagedThreadId] = true;
            for (int k = 0; k < Rounds * texts.Count; k++)
            {
                int i = (k + worker * 37) % texts.Count;
                results.Add((i, tokenizer.Encode(texts[i]), tokenizer.Encode(texts[i], texts[(i + 1) % texts.Count], options)));
            }
        });

        Assert.Equal(8 * Rounds * texts.Count, results.Count);
        foreach (var (index, single, pair) in results)
        {
            AssertSameEncoding(expectedSingle[index], single);
            AssertSameEncoding(expectedPair[index], pair);
        }
        Assert.True(threads.Count > 1 || Environment.ProcessorCount == 1, "Parallel.For ran every worker on one thread.");
    }

    [Fact]
    public void Batch_of_many_texts_takes_the_parallel_path_and_equals_per_text_encoding()
    {
        var tokenizer = Full;
        var texts = SingleTexts();
        Assert.True(texts.Count >= 32, "The batch must be large enough for the parallel path (32 texts or more).");

        var batch = tokenizer.EncodeBatch(texts);

        Assert.Equal(texts.Count, batch.Encodings.Count);
        for (int i = 0; i < texts.Count; i++)
        {
            var single = tokenizer.Encode(texts[i]);
            Assert.Equal(single.Ids, batch.Encodings[i].Ids);
            Assert.Equal(single.Offsets, batch.Encodings[i].Offsets);
            Assert.Equal(single.WordIds, batch.Encodings[i].WordIds);
            Assert.Equal(i, batch.Encodings[i].SampleIndex);
        }
    }

    [Fact]
    public void Batch_of_many_pairs_equals_per_pair_encoding()
    {
        var tokenizer = Full;
        var texts = SingleTexts().Take(64).ToList();
        var pairs = texts.Select((_, i) => (string?)texts[^(i + 1)]).ToList();
        var options = new EncodingOptions { Truncation = TruncationStrategy.LongestFirst, MaxLength = 40 };

        var batch = tokenizer.EncodeBatch(texts, pairs, options);

        Assert.Equal(texts.Count, batch.Encodings.Count);
        for (int i = 0; i < texts.Count; i++)
        {
            var single = tokenizer.Encode(texts[i], pairs[i], options);
            Assert.Equal(single.Ids, batch.Encodings[i].Ids);
            Assert.Equal(single.TypeIds, batch.Encodings[i].TypeIds);
            Assert.Equal(single.Offsets, batch.Encodings[i].Offsets);
            Assert.Equal(single.SequenceIds, batch.Encodings[i].SequenceIds);
        }
    }
}
