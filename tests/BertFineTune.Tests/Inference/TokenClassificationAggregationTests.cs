using BertFineTune.Inference;
using static BertFineTune.Inference.TokenClassificationAggregation;

namespace BertFineTune.Tests.Inference;

/// <summary>
/// Label schemes × aggregation strategies against transformers' token-classification pipeline
/// (src/transformers/pipelines/token_classification.py: <c>aggregate</c>, <c>aggregate_words</c>, <c>aggregate_word</c>,
/// <c>group_entities</c>, <c>group_sub_entities</c>, <c>get_tag</c>; read at the cyyever/transformers mirror, commit
/// 791f76df, the 4.5x/5.0 line; the grouping code is unchanged in 5.x). Every expected group below is derived by hand from
/// those functions: <c>get_tag</c> knows only <c>B-</c> and <c>I-</c> (any other label is its own tag, read as I);
/// an entity joins the group before it when the tags are equal and it is not B; a group is named
/// <c>first_label.split("-", 1)[-1]</c>; <c>O</c> groups are dropped by <c>ignore_labels</c>.
/// </summary>
public class TokenClassificationAggregationTests
{
    // "ann lee bob met new york geneva": eight tokens, "geneva" split as ge ##neva (a sub-word continues its word).
    private static readonly (string Word, int Start, int End, bool IsSubword)[] Tokens =
    [
        ("ann", 0, 3, false), ("lee", 4, 7, false), ("bob", 8, 11, false), ("met", 12, 15, false),
        ("new", 16, 19, false), ("york", 20, 24, false), ("ge", 25, 27, false), ("##neva", 27, 31, true),
    ];

    /// <summary>Each scheme's tags for the eight tokens: two people then one, "met", a two-word place then one more adjacent place.</summary>
    public static TheoryData<string, string, string, string> Table => new()
    {
        // scheme, tags of the 8 tokens, expected groups with Simple, expected groups with First / Average / Max.
        //
        // IOB1 and IOB2: B starts a new group, I joins a group of its type.
        { "IOB1", "I-PER I-PER B-PER O I-LOC I-LOC B-LOC I-LOC",
            "PER:ann lee:0-7 | PER:bob:8-11 | LOC:new york:16-24 | LOC:geneva:25-31",
            "PER:ann lee:0-7 | PER:bob:8-11 | LOC:new york:16-24 | LOC:geneva:25-31" },
        { "IOB2", "B-PER I-PER B-PER O B-LOC I-LOC B-LOC I-LOC",
            "PER:ann lee:0-7 | PER:bob:8-11 | LOC:new york:16-24 | LOC:geneva:25-31",
            "PER:ann lee:0-7 | PER:bob:8-11 | LOC:new york:16-24 | LOC:geneva:25-31" },
        // BIOES and BILOU: E-/S-/L-/U- are tags of their own ("E-PER" != "PER"), so no two adjacent tokens join; every
        // group is still named after the type. With Simple, "##neva" (E-LOC) is a group alone and keeps its "##"
        // (convert_tokens_to_string of one token). The word strategies give "geneva" the label of "ge" (B-LOC).
        { "BIOES", "B-PER E-PER S-PER O B-LOC E-LOC B-LOC E-LOC",
            "PER:ann:0-3 | PER:lee:4-7 | PER:bob:8-11 | LOC:new:16-19 | LOC:york:20-24 | LOC:ge:25-27 | LOC:##neva:27-31",
            "PER:ann:0-3 | PER:lee:4-7 | PER:bob:8-11 | LOC:new:16-19 | LOC:york:20-24 | LOC:geneva:25-31" },
        { "BILOU", "B-PER L-PER U-PER O B-LOC L-LOC B-LOC L-LOC",
            "PER:ann:0-3 | PER:lee:4-7 | PER:bob:8-11 | LOC:new:16-19 | LOC:york:20-24 | LOC:ge:25-27 | LOC:##neva:27-31",
            "PER:ann:0-3 | PER:lee:4-7 | PER:bob:8-11 | LOC:new:16-19 | LOC:york:20-24 | LOC:geneva:25-31" },
        // Types with hyphens: only the prefix goes (split("-", 1)), the type keeps its own hyphen.
        { "IOB2 hyphenated", "B-PER-X I-PER-X B-PER-X O B-LOC-Y I-LOC-Y B-LOC-Y I-LOC-Y",
            "PER-X:ann lee:0-7 | PER-X:bob:8-11 | LOC-Y:new york:16-24 | LOC-Y:geneva:25-31",
            "PER-X:ann lee:0-7 | PER-X:bob:8-11 | LOC-Y:new york:16-24 | LOC-Y:geneva:25-31" },
        { "BIOES hyphenated", "B-PER-X E-PER-X S-PER-X O B-LOC-Y E-LOC-Y B-LOC-Y E-LOC-Y",
            "PER-X:ann:0-3 | PER-X:lee:4-7 | PER-X:bob:8-11 | LOC-Y:new:16-19 | LOC-Y:york:20-24 | LOC-Y:ge:25-27 | LOC-Y:##neva:27-31",
            "PER-X:ann:0-3 | PER-X:lee:4-7 | PER-X:bob:8-11 | LOC-Y:new:16-19 | LOC-Y:york:20-24 | LOC-Y:geneva:25-31" },
        // No prefix (IO): every label reads as I of itself, so runs of one type join.
        { "IO", "PER PER PER O LOC LOC LOC LOC",
            "PER:ann lee bob:0-11 | LOC:new york geneva:16-31",
            "PER:ann lee bob:0-11 | LOC:new york geneva:16-31" },
        // No prefix but a hyphen: the runs join as above, and the name is what follows the first hyphen.
        { "IO hyphenated", "PER-X PER-X PER-X O LOC-Y LOC-Y LOC-Y LOC-Y",
            "X:ann lee bob:0-11 | Y:new york geneva:16-31",
            "X:ann lee bob:0-11 | Y:new york geneva:16-31" },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Each_scheme_groups_as_transformers_with_every_strategy(string scheme, string tags, string simple, string byWord)
    {
        var (preEntities, labels) = Sentence(tags.Split(' '));

        Assert.True(simple == Groups(preEntities, labels, AggregationStrategy.Simple), $"{scheme} Simple: {Groups(preEntities, labels, AggregationStrategy.Simple)}");
        foreach (var strategy in new[] { AggregationStrategy.First, AggregationStrategy.Average, AggregationStrategy.Max })
        {
            var actual = Groups(preEntities, labels, strategy);
            Assert.True(byWord == actual, $"{scheme} {strategy}: {actual}");
        }
        // Without aggregation every token keeps its full label (the "entity" key), prefix included.
        var none = Aggregate(preEntities, labels, AggregationStrategy.None, Join);
        Assert.Equal(tags.Split(' '), none.Select(e => e.Entity));
        Assert.Equal(Enumerable.Range(1, Tokens.Length).Select(i => (int?)i), none.Select(e => e.Index));
    }

    /// <summary>Issue 11, item 6: a single-token S-PER (or U-PER) entity is the group "PER", as transformers names it.</summary>
    [Theory]
    [InlineData("S-PER")]
    [InlineData("U-PER")]
    [InlineData("E-PER")]
    [InlineData("L-PER")]
    [InlineData("B-PER")]
    public void A_single_token_entity_is_named_by_its_type(string label)
    {
        var (preEntities, labels) = Sentence(["O", "O", label, "O", "O", "O", "O", "O"]);

        var group = Assert.Single(Aggregate(preEntities, labels, AggregationStrategy.Simple, Join), g => g.Entity != "O");

        Assert.Equal(("PER", "bob", 8, 11), (group.Entity, group.Word, group.Start, group.End));
    }

    [Theory]
    [InlineData("B-PER", "B", "PER")]
    [InlineData("I-PER", "I", "PER")]
    [InlineData("S-PER", "I", "S-PER")]
    [InlineData("E-PER", "I", "E-PER")]
    [InlineData("U-PER", "I", "U-PER")]
    [InlineData("L-PER", "I", "L-PER")]
    [InlineData("B-MISC-X", "B", "MISC-X")]
    [InlineData("O", "I", "O")]
    [InlineData("PER", "I", "PER")]
    [InlineData("b-per", "I", "b-per")] // the prefixes are case-sensitive
    public void Get_tag_reads_only_the_B_and_I_prefixes(string label, string bi, string tag) =>
        Assert.Equal((bi, tag), GetTag(label));

    [Theory]
    [InlineData("B-PER", "PER")]
    [InlineData("S-PER", "PER")]
    [InlineData("E-PER", "PER")]
    [InlineData("U-PER", "PER")]
    [InlineData("L-PER", "PER")]
    [InlineData("B-MISC-X", "MISC-X")]
    [InlineData("MISC-X", "X")]
    [InlineData("O", "O")]
    [InlineData("PER", "PER")]
    [InlineData("-PER", "PER")]
    [InlineData("PER-", "")]
    public void The_group_name_is_the_label_after_its_first_hyphen(string label, string name) =>
        Assert.Equal(name, EntityGroupName(label));

    /// <summary>
    /// aggregate_word on a word whose two tokens disagree: "ge" scores B-LOC 0.50 / I-LOC 0.45, "##neva" scores
    /// B-MISC 0.55 / I-LOC 0.44 (the rest spread evenly). First takes "ge"'s best (B-LOC); Max takes the token with the
    /// highest score ("##neva", B-MISC); Average takes the best mean (I-LOC 0.445, against B-LOC ≈ 0.25 and B-MISC ≈ 0.28).
    /// </summary>
    [Theory]
    [InlineData(AggregationStrategy.First, "B-LOC", 0.5)]
    [InlineData(AggregationStrategy.Max, "B-MISC", 0.55)]
    [InlineData(AggregationStrategy.Average, "I-LOC", 0.445)]
    public void The_word_strategies_choose_the_words_label_as_transformers(AggregationStrategy strategy, string label, double score)
    {
        string[] labels = ["O", "B-LOC", "I-LOC", "B-MISC"];
        PreEntity[] word =
        [
            new("ge", [0.025f, 0.5f, 0.45f, 0.025f], 25, 27, 7, false),
            new("##neva", [0.005f, 0.005f, 0.44f, 0.55f], 27, 31, 8, true),
        ];

        var entity = AggregateWord(word, labels, strategy, Join);

        Assert.Equal((label, "geneva", 25, 31), (entity.Entity, entity.Word, entity.Start, entity.End));
        Assert.Equal(score, entity.Score, 6);
    }

    private static string Join(IReadOnlyList<string> tokens) => ConvertTokensToString(tokens, "##", cleanUp: true);

    /// <summary>The eight tokens with 0.9 on their tag (0.8 for "##neva", so that its word's strategies agree) and the rest spread evenly.</summary>
    private static (List<PreEntity> PreEntities, List<string> Labels) Sentence(string[] tags)
    {
        var labels = tags.Append("O").Distinct().ToList();
        var preEntities = Tokens.Select((t, i) =>
        {
            float top = t.Word == "##neva" ? 0.8f : 0.9f;
            var scores = labels.Select(l => l == tags[i] ? top : (1 - top) / (labels.Count - 1)).ToArray();
            return new PreEntity(t.Word, scores, t.Start, t.End, i + 1, t.IsSubword);
        }).ToList();
        return (preEntities, labels);
    }

    /// <summary>The groups as "name:word:start-end", O groups left out as <c>ignore_labels=["O"]</c> does.</summary>
    private static string Groups(List<PreEntity> preEntities, List<string> labels, AggregationStrategy strategy) =>
        string.Join(" | ", Aggregate(preEntities, labels, strategy, Join).Where(g => g.Entity != "O")
            .Select(g => $"{g.Entity}:{g.Word}:{g.Start}-{g.End}"));
}
