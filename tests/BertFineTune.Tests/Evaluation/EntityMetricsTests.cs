using BertFineTune.Evaluation;

namespace BertFineTune.Tests.Evaluation;

public sealed class EntityMetricsTests
{
    private static PrecisionRecallReport<string> Score(string[][] gold, string[][] predicted, EntityMatching matching = EntityMatching.Lenient) =>
        EntityMetrics.Score(gold, predicted, matching);

    [Fact]
    public void Lenient_mode_starts_an_entity_at_an_i_tag_after_o()
    {
        // Gold I-PER I-PER after O is read as PER over tokens 1-2, exactly the predicted B-PER I-PER.
        var report = Score([["O", "I-PER", "I-PER", "O"]], [["O", "B-PER", "I-PER", "O"]]);

        Assert.Equal(1.0, report.Micro.F1);
    }

    [Fact]
    public void Strict_iob2_mode_ignores_an_i_tag_that_starts_nothing()
    {
        // Gold has no strict entity (I-PER follows O); the prediction has PER 1-2: TP 0, P 0/1 = 0, R 0/0 -> 0.
        var report = Score([["O", "I-PER", "I-PER", "O"]], [["O", "B-PER", "I-PER", "O"]], EntityMatching.StrictIob2);

        Assert.Equal((0.0, 0.0, 0.0), (report.Micro.Precision, report.Micro.Recall, report.Micro.F1));
    }

    [Fact]
    public void Adjacent_b_tags_are_separate_entities()
    {
        // Gold B-PER | B-PER I-PER is two entities (0-0 and 1-2); the prediction B-PER I-PER I-PER is one (0-2): nothing matches.
        var wrong = Score([["B-PER", "B-PER", "I-PER"]], [["B-PER", "I-PER", "I-PER"]]);
        var right = Score([["B-PER", "B-PER", "I-PER"]], [["B-PER", "B-PER", "I-PER"]]);

        Assert.Equal(0.0, wrong.Micro.F1);
        Assert.Equal(2, wrong.PerClass.Single().Support);
        Assert.Equal(1.0, right.Micro.F1);
    }

    [Fact]
    public void A_type_change_ends_one_entity_and_in_lenient_mode_starts_another()
    {
        string[][] tags = [["B-PER", "I-LOC", "O"]];

        Assert.Equal([new EntitySpan(0, "PER", 0, 1), new EntitySpan(0, "LOC", 1, 2)], EntityMetrics.Entities(tags));
        Assert.Equal([new EntitySpan(0, "PER", 0, 1)], EntityMetrics.Entities(tags, EntityMatching.StrictIob2));
    }

    [Fact]
    public void Report_over_several_sentences_has_per_type_and_averaged_scores()
    {
        string[][] gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]];
        string[][] predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "O", "O"]];

        var report = Score(gold, predicted);

        // Gold: PER(s0 0-1), LOC(s0 3), ORG(s1 0), PER(s1 2) = 4. Predicted: PER(s0 0-1), ORG(s0 3), ORG(s1 0; I- at a
        // sentence start begins an entity) = 3. Correct: PER(s0 0-1) and ORG(s1 0) = 2.
        // LOC: TP 0, predicted 0, gold 1 -> 0, 0, 0. ORG: TP 1, predicted 2, gold 1 -> 1/2, 1, 2/3. PER: TP 1, predicted 1, gold 2 -> 1, 1/2, 2/3.
        Assert.Equal(["LOC", "ORG", "PER"], report.PerClass.Select(c => c.Label));
        AssertRow((0.0, 0.0, 0.0, 1), report.PerClass[0]);
        AssertRow((0.5, 1.0, 2.0 / 3, 1), report.PerClass[1]);
        AssertRow((1.0, 0.5, 2.0 / 3, 2), report.PerClass[2]);
        // Micro: P 2/3, R 2/4, F1 2·2/(3 + 4) = 4/7.
        Assert.Equal(2.0 / 3, report.Micro.Precision, 12);
        Assert.Equal(0.5, report.Micro.Recall, 12);
        Assert.Equal(4.0 / 7, report.Micro.F1, 12);
        // Macro: P (0 + 1/2 + 1)/3 = 1/2, R (0 + 1 + 1/2)/3 = 1/2, F1 (0 + 2/3 + 2/3)/3 = 4/9.
        Assert.Equal(4.0 / 9, report.Macro.F1, 12);
        // Weighted by support 1, 1, 2: P (0 + 1/2 + 2)/4 = 5/8, F1 (0 + 2/3 + 4/3)/4 = 1/2.
        Assert.Equal(0.625, report.Weighted.Precision, 12);
        Assert.Equal(0.5, report.Weighted.F1, 12);
    }

    [Fact]
    public void Entities_do_not_run_across_sentences()
    {
        // I-PER opening sentence 1 starts a new entity even though sentence 0 ends inside a PER.
        var entities = EntityMetrics.Entities([["O", "B-PER"], ["I-PER", "O"]]);

        Assert.Equal([new EntitySpan(0, "PER", 1, 2), new EntitySpan(1, "PER", 0, 1)], entities);
    }

    [Fact]
    public void Strict_mode_refuses_tags_outside_iob2()
    {
        var error = Assert.Throws<ArgumentException>(() => EntityMetrics.Entities([["B-PER", "E-PER"]], EntityMatching.StrictIob2));

        Assert.Contains("'E-PER' is not an IOB2 tag", error.Message, StringComparison.Ordinal);
    }

    private static void AssertRow((double P, double R, double F1, int Support) expected, ClassScores<string> actual)
    {
        Assert.Equal(expected.P, actual.Precision, 12);
        Assert.Equal(expected.R, actual.Recall, 12);
        Assert.Equal(expected.F1, actual.F1, 12);
        Assert.Equal(expected.Support, actual.Support);
    }
}
