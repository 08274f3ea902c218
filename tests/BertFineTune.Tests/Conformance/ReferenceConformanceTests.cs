using BertFineTune.Conformance;

namespace BertFineTune.Tests.Conformance;

public class ReferenceConformanceTests
{
    private const double Tolerance = 1e-5;

    public static TheoryData<string> Models() => new(Fixtures.ModelsWithReference());

    [Theory]
    [MemberData(nameof(Models))]
    public void Every_reference_output_matches_within_tolerance(string model)
    {
        var results = ReferenceComparison.Run(Fixtures.Model(model), Tolerance);

        Assert.NotEmpty(results);
        var failures = results.Where(r => !r.Passed).ToList();
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }
}
