using System.Text.Json;
using BertFineTune.Data.Readers;
using BertFineTune.Tokenization;
using static BertFineTune.Tests.Data.Readers.ReaderTestData;

namespace BertFineTune.Tests.Data.Readers;

public sealed class SquadTests
{
    private const int MaxLength = 30;
    private const int Stride = 8;

    /// <summary>
    /// Specials (ids 0..4), the letters a..z, and "where", "treasure", "island", "?": every word of the contexts below is
    /// one token, so windows can be counted by hand.
    /// </summary>
    private static readonly BertTokenizer Small = Tokenization.TokenizerTestData.FromTokens(
        Tokenization.TokenizerTestData.Specials.Concat(Enumerable.Range('a', 26).Select(c => ((char)c).ToString()))
            .Concat(["where", "treasure", "island", "?"]));

    /// <summary>An 80-word context of "b" with "treasure island" as words <paramref name="at"/> and at + 1.</summary>
    private static string Context(int at) =>
        string.Join(' ', Enumerable.Range(0, 80).Select(k => k == at ? "treasure" : k == at + 1 ? "island" : "b"));

    private static object Question(string id, string context, bool impossible = false) => new
    {
        id,
        question = "  Where treasure?",
        answers = impossible ? Array.Empty<object>() : [new { text = "treasure island", answer_start = context.IndexOf("treasure", StringComparison.Ordinal) }],
        is_impossible = impossible,
    };

    private static string WriteSquad(TempFolder folder, params (string Context, object[] Questions)[] paragraphs)
    {
        var path = folder.File("squad.json");
        var document = new
        {
            version = "v2.0",
            data = new[] { new { title = "Treasure", paragraphs = paragraphs.Select(p => new { context = p.Context, qas = p.Questions }).ToArray() } },
        };
        File.WriteAllText(path, JsonSerializer.Serialize(document));
        return path;
    }

    private static IReadOnlyList<QuestionAnswerFeature> Windows(string path) =>
        SquadEncoder.Encode(SquadReader.Read(path).Items, Small, MaxLength, Stride).Items;

    private static (long Start, long End)[] Positions(IEnumerable<QuestionAnswerFeature> windows) =>
        windows.Select(w => (w.Example.Targets["start_positions"].IntegerValue, w.Example.Targets["end_positions"].IntegerValue)).ToArray();

    // Window arithmetic for all cases below: the question "where treasure ?" is 3 tokens, so a window holds
    // 30 - 3 - 3 = 24 context tokens, starting every 24 - 8 = 16 tokens: [0,24) [16,40) [32,56) [48,72) [64,80).
    // Context token k of a window starting at s sits at position 5 + (k - s) ([CLS] where treasure ? [SEP] come first).

    [Fact]
    public void Answer_in_the_second_window_only_points_there_and_at_cls_elsewhere()
    {
        using var folder = new TempFolder();
        var windows = Windows(WriteSquad(folder, (Context(26), [Question("q", Context(26))])));

        // Words 26-27 lie only in [16,40): positions 5 + 10 = 15 and 16.
        Assert.Equal([(0L, 0L), (15, 16), (0, 0), (0, 0), (0, 0)], Positions(windows));
        Assert.Equal("treasure island", windows[1].AnswerText(15, 16));
        Assert.Equal([0, 1, 2, 3, 4], windows.Select(w => w.WindowIndex));
        Assert.All(windows, w => Assert.Equal("q", w.ExampleId));
    }

    [Fact]
    public void Answer_in_the_third_window_only_points_there_and_at_cls_elsewhere()
    {
        using var folder = new TempFolder();
        var windows = Windows(WriteSquad(folder, (Context(44), [Question("q", Context(44))])));

        // Words 44-45 lie only in [32,56): positions 5 + 12 = 17 and 18.
        Assert.Equal([(0L, 0L), (0, 0), (17, 18), (0, 0), (0, 0)], Positions(windows));
    }

    [Fact]
    public void Answer_in_the_overlap_of_the_second_and_third_windows_points_at_it_in_both()
    {
        using var folder = new TempFolder();
        var windows = Windows(WriteSquad(folder, (Context(34), [Question("q", Context(34))])));

        // Words 34-35 lie in [16,40) at 5 + 18 = 23, 24 and in [32,56) at 5 + 2 = 7, 8.
        Assert.Equal([(0L, 0L), (23, 24), (7, 8), (0, 0), (0, 0)], Positions(windows));
    }

    [Fact]
    public void Answer_cut_by_a_window_end_points_at_cls_in_that_window()
    {
        using var folder = new TempFolder();
        var windows = Windows(WriteSquad(folder, (Context(23), [Question("q", Context(23))])));

        // Words 23-24: [0,24) holds only word 23, so 0; [16,40) holds both at 5 + 7 = 12 and 13.
        Assert.Equal([(0L, 0L), (12, 13), (0, 0), (0, 0), (0, 0)], Positions(windows));
    }

    [Fact]
    public void Unanswerable_question_points_at_cls_in_every_window()
    {
        using var folder = new TempFolder();
        var windows = Windows(WriteSquad(folder, (Context(26), [Question("none", Context(26), impossible: true)])));

        Assert.Equal(5, windows.Count);
        Assert.All(Positions(windows), p => Assert.Equal((0L, 0L), p));
    }

    [Fact]
    public void Windows_keep_context_offsets_only_for_context_tokens()
    {
        using var folder = new TempFolder();
        var window = Windows(WriteSquad(folder, (Context(26), [Question("q", Context(26))])))[1];

        // Positions 0-4 are [CLS] where treasure ? [SEP], the last is [SEP]: no context offsets there.
        Assert.All(Enumerable.Range(0, 5), t => Assert.Null(window.ContextOffsets[t]));
        Assert.Null(window.ContextOffsets[^1]);
        // Position 5 is context word 16, which starts at character 2·16 = 32 (each earlier word is "b" and a space).
        Assert.Equal((32, 33), window.ContextOffsets[5]);
    }

    [Fact]
    public void Context_of_more_than_2000_tokens_gives_many_windows()
    {
        // "the cat sat on the mat ." is 7 tokens; 300 copies are 2,100 context tokens.
        var context = string.Concat(Enumerable.Repeat("the cat sat on the mat . ", 300)).TrimEnd();
        Assert.Equal(6, Tokenizer.Tokenize("what did the cat do ?").Count);
        var example = new QuestionAnswerExample("long", null, "what did the cat do ?", context, [new SquadAnswer("sat on the mat", 8)], false);

        var windows = SquadEncoder.Encode([example], Tokenizer).Items;

        // Defaults 384 / 128: 384 - 6 - 3 = 375 context tokens per window, a new window every 375 - 128 = 247 tokens;
        // the last window must reach token 2,100, so it starts at 247·7 = 1,729 (247·6 = 1,482 + 375 < 2,100): 8 windows.
        Assert.Equal(8, windows.Count);
        Assert.All(windows, w => Assert.True(w.Example.Length <= 384));
        // "sat on the mat" is context tokens 2-5, in the first window only, after [CLS], 6 question tokens and [SEP]: 10-13.
        Assert.Equal([(10L, 13L), .. Enumerable.Repeat((0L, 0L), 7)], Positions(windows));
    }

    [Fact]
    public void Reader_keeps_ids_titles_answers_and_impossible_flags()
    {
        using var folder = new TempFolder();
        var path = WriteSquad(folder,
            (Context(26), [Question("a", Context(26)), Question("b", Context(26), impossible: true)]),
            ("short context", [new { id = "c", question = "which?", answers = new[] { new { text = "context", answer_start = 6 } } }]));

        var result = SquadReader.Read(path);

        Assert.Equal(["a", "b", "c"], result.Items.Select(e => e.Id));
        Assert.Equal(new SquadAnswer("treasure island", 52), result.Items[0].Answers.Single());
        Assert.True(result.Items[1].IsImpossible);
        Assert.Empty(result.Items[1].Answers);
        // SQuAD v1.1 questions have no is_impossible: they are answerable.
        Assert.False(result.Items[2].IsImpossible);
        Assert.Equal("Treasure", result.Items[2].Title);
    }

    [Fact]
    public void Answer_text_not_at_its_offset_with_throw_names_the_file_question_and_reason()
    {
        using var folder = new TempFolder();
        var path = WriteSquad(folder,
            ("short context", [new { id = "q1", question = "which?", answers = new[] { new { text = "context", answer_start = 5 } } }]));

        var error = Assert.Throws<BadRowException>(() => SquadReader.Read(path));

        // Characters 5..12 of "short context" are " contex".
        Assert.Equal(new BadRow(path, null, "q1", "answer 0 'context' is not the context's text at answer_start 5, which is ' contex'"), error.Row);
        Assert.StartsWith($"{path}: question 'q1': answer 0 'context'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Skip_and_count_lists_exactly_the_bad_questions_and_keeps_the_good_ones()
    {
        using var folder = new TempFolder();
        var path = WriteSquad(folder, ("short context", [
            new { id = "good1", question = "which?", answers = new object[] { new { text = "short", answer_start = 0 } } },
            new { id = "shifted", question = "which?", answers = new object[] { new { text = "short", answer_start = 1 } } },
            new { id = "outside", question = "which?", answers = new object[] { new { text = "context", answer_start = 10 } } },
            new { id = "unmarked", question = "which?", answers = Array.Empty<object>() },
            new { id = "good2", question = "which?", answers = new object[] { new { text = "context", answer_start = 6 } } },
        ]));

        var result = SquadReader.Read(path, BadRowPolicy.SkipAndCount);

        Assert.Equal(["good1", "good2"], result.Items.Select(e => e.Id));
        Assert.Equal(["shifted", "outside", "unmarked"], result.SkippedRows.Select(r => r.RecordId));
        Assert.Equal("answer 0 'context' at answer_start 10 runs outside the context of 13 characters", result.SkippedRows[1].Reason);
        Assert.Equal("no answers, and not marked is_impossible", result.SkippedRows[2].Reason);
        Assert.All(result.SkippedRows, r => Assert.Equal(path, r.File));
    }

    [Fact]
    public void A_file_that_is_not_json_is_refused_with_its_name()
    {
        using var folder = new TempFolder();
        var path = WriteLines(folder, "broken.json", "{\"data\": [");

        var error = Assert.Throws<InvalidDataException>(() => SquadReader.Read(path));

        Assert.StartsWith($"{path}: not valid JSON", error.Message, StringComparison.Ordinal);
    }
}
