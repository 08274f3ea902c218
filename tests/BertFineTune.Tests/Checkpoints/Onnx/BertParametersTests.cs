using BertFineTune.Checkpoints;
using BertFineTune.Checkpoints.Onnx;
using BertFineTune.Heads;

namespace BertFineTune.Tests.Checkpoints.Onnx;

/// <summary>
/// The importer's table of BERT parameters (<see cref="BertParameters"/>) against the modules themselves: for every
/// architecture, the keys and shapes a model of that head saves must be exactly the table's, so the importer's shape
/// checks and missing-key lists can never drift from what the model loads.
/// </summary>
public sealed class BertParametersTests
{
    public static TheoryData<string, bool> Architectures()
    {
        var data = new TheoryData<string, bool>();
        foreach (var architecture in BertParameters.Architectures)
        {
            data.Add(architecture, true);
        }
        data.Add("BertForMaskedLM", false);
        data.Add("BertForPreTraining", false);
        return data;
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void The_table_lists_every_parameter_the_model_has_with_its_shape(string architecture, bool tied)
    {
        var config = TinyModels.Config() with { Architectures = [architecture], Labels = BertConfig.DefaultLabelNames(3), TieWordEmbeddings = tied };
        using var model = new BertForTask(config, TaskHeads.Create(architecture, config));
        var actual = model.state_dict().ToDictionary(p => p.Key.StartsWith("bert.", StringComparison.Ordinal) ? p.Key[5..] : p.Key, p => p.Value.shape);

        var expected = BertParameters.Of(architecture, config);

        Assert.Equal(actual.Keys.Order(StringComparer.Ordinal), expected.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, shape) in expected)
        {
            Assert.Equal(actual[key], shape);
        }
        Assert.Equal(architecture != "BertModel", BertParameters.PrefixesEncoder(architecture));
    }
}
