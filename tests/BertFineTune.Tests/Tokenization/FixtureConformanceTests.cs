using BertFineTune.Conformance;
using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;

namespace BertFineTune.Tests.Tokenization;

/// <summary>The conformance harness on every row of the three tokenizer fixtures, with the full vocabulary.</summary>
public sealed class FixtureConformanceTests
{
    public static TheoryData<string> FixtureFiles() => new("tokenizer_single.json", "tokenizer_pairs.json", "tokenizer_overflow.json");

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void Every_fixture_row_matches_transformers(string fixture)
    {
        var tokenizer = BertTokenizer.Load(FullVocabPath);

        var results = TokenizerComparison.Run(tokenizer, Path.Combine(Fixtures.HfReference, fixture));

        Assert.Equal(Rows(fixture).Count, results.Count);
        var failures = results.Where(r => !r.Passed).Select(r => $"row {r.Index}: {r.Mismatch}").ToList();
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }
}
