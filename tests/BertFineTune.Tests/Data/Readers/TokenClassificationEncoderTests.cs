using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Evaluation;
using BertFineTune.Tokenization;
using static BertFineTune.Tests.Data.Readers.ReaderTestData;

namespace BertFineTune.Tests.Data.Readers;

public sealed class TokenClassificationEncoderTests
{
    private static readonly string[] Labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];

    private static readonly string[] ConllLabels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"];

    /// <summary>A vocabulary where every piece is known: "Johnson" is john ##son, "U.S." is u . s . (four BERT words).</summary>
    private static BertTokenizer Small() => Tokenization.TokenizerTestData.FromTokens(
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "john", "##son", "visited", "u", ".", "s", "today"]);

    private static TaggedSentence Sentence(string[] words, string[] tags) => new("inline", 1, words, tags);

    [Fact]
    public void Labels_go_on_first_sub_tokens_and_removed_words_have_no_token()
    {
        // U+200B (zero-width space, category Cf) is removed by BERT's normaliser: the word yields no token.
        var sentence = Sentence(["Johnson", "visited", "\u200B", "U.S.", "today"], ["B-PER", "O", "O", "B-LOC", "O"]);

        var result = TokenClassificationEncoder.Encode([sentence], Small(), Labels);

        var example = result.Items[0];
        // Tokens: [CLS] john ##son visited u . s . today [SEP] = ids 2 5 6 7 8 9 10 9 11 3.
        Assert.Equal([2, 5, 6, 7, 8, 9, 10, 9, 11, 3], example.Example.InputIds);
        // Words: john ##son -> 0, visited -> 1, u . s . -> 3, today -> 4; word 2 has none.
        Assert.Equal([null, 0, 0, 1, 3, 3, 3, 3, 4, null], example.TokenWords);
        Assert.Equal([1, 3, -1, 4, 8], example.FirstTokenOfWord);
        // Label ids (index in [O, B-PER, I-PER, B-LOC, I-LOC]) on first sub-tokens only: B-PER 1, O 0, B-LOC 3, O 0.
        Assert.Equal([-100L, 1, -100, 0, 3, -100, -100, -100, 0, -100], example.Example.Targets["labels"].TokenLabelValues);
        Assert.Equal(1, example.WordsWithoutTokens);
    }

    [Fact]
    public void Word_labels_take_the_first_sub_token_prediction_and_o_for_words_without_tokens()
    {
        var sentence = Sentence(["Johnson", "visited", "\u200B", "U.S.", "today"], ["B-PER", "O", "O", "B-LOC", "O"]);
        var example = TokenClassificationEncoder.Encode([sentence], Small(), Labels).Items[0];

        // Predictions on the 10 tokens; only positions 1, 3, 4 and 8 (first sub-tokens) count.
        var words = example.WordLabels([0, 1, 2, 0, 3, 4, 4, 4, 0, 0], Labels);

        Assert.Equal(["B-PER", "O", "O", "B-LOC", "O"], words);
    }

    [Fact]
    public void A_sentence_whose_words_all_vanish_is_a_bad_row()
    {
        var empty = new TaggedSentence("file.conll", 7, ["\u200B", "\u00AD"], ["O", "O"]);
        var good = Sentence(["today"], ["O"]);

        var error = Assert.Throws<BadRowException>(() => TokenClassificationEncoder.Encode([empty, good], Small(), Labels));
        var skipped = TokenClassificationEncoder.Encode([empty, good], Small(), Labels, badRows: BadRowPolicy.SkipAndCount);

        Assert.StartsWith("file.conll:7: the sentence has no tokens", error.Message, StringComparison.Ordinal);
        Assert.Single(skipped.Items);
        Assert.Equal(7, Assert.Single(skipped.SkippedRows).Line);
    }

    [Fact]
    public void Conll_dev_round_trip_with_gold_logits_scores_entity_f1_of_one()
    {
        var (sentences, examples) = ReadAndAlignDev();

        var predicted = examples.Select(e => e.WordLabels(ArgmaxOfOneHot(e, _ => false), ConllLabels)).ToArray();
        var report = EntityMetrics.Score(sentences.Select(s => s.Tags).ToArray(), predicted);

        Assert.Equal(1.0, report.Micro.F1);
        Assert.Equal(1.0, report.Micro.Precision);
    }

    [Fact]
    public void Conll_dev_round_trip_without_person_predictions_scores_the_hand_computed_f1()
    {
        var (sentences, examples) = ReadAndAlignDev();
        string[] person = ["B-PER", "I-PER"];

        // The stand-in model predicts O wherever the gold label is a PER tag.
        var predicted = examples.Select(e => e.WordLabels(ArgmaxOfOneHot(e, label => person.Contains(ConllLabels[label])), ConllLabels)).ToArray();
        var report = EntityMetrics.Score(sentences.Select(s => s.Tags).ToArray(), predicted);

        // Lenient (seqeval default) gold entities = B- tags (5,886, counted with awk) plus I- tags that follow O or another
        // type (56: 10 LOC, 31 MISC, 11 ORG, 4 PER), so 5,942 entities, of which 1,838 + 4 = 1,842 are PER.
        // Removing PER leaves every other entity intact: TP = predicted = 5,942 - 1,842 = 4,100, gold = 5,942.
        // P = 1, R = 4100/5942, F1 = 2·4100 / (4100 + 5942) = 8200/10042.
        Assert.Equal(1.0, report.Micro.Precision);
        Assert.Equal(4100.0 / 5942, report.Micro.Recall, 12);
        Assert.Equal(8200.0 / 10042, report.Micro.F1, 12);
        var personRow = report.PerClass.Single(c => c.Label == "PER");
        Assert.Equal((0.0, 1842), (personRow.Recall, personRow.Support));
    }

    private static (IReadOnlyList<TaggedSentence> Sentences, IReadOnlyList<TokenClassificationExample> Examples) ReadAndAlignDev()
    {
        var sentences = ConllReader.Read(Dataset("ner-conll2003/dev.txt"), new ConllReaderOptions { Labels = ConllLabels });
        var aligned = TokenClassificationEncoder.Encode(sentences.Items, Tokenizer, ConllLabels);
        Assert.Equal(3250, aligned.Count);
        Assert.Empty(aligned.SkippedRows);
        Assert.Equal(0, aligned.Items.Sum(e => e.WordsWithoutTokens));
        return (sentences.Items, aligned.Items);
    }

    /// <summary>
    /// "Gold logits": a one-hot row per token from its aligned label (O for ignored tokens, and for labels
    /// <paramref name="suppress"/> picks), then the arg-max per token, as a model's predictions would be decoded.
    /// </summary>
    private static int[] ArgmaxOfOneHot(TokenClassificationExample example, Func<int, bool> suppress)
    {
        var labels = example.Example.Targets["labels"].TokenLabelValues!;
        var predictions = new int[labels.Count];
        for (int t = 0; t < labels.Count; t++)
        {
            var logits = new float[ConllLabels.Length];
            int label = labels[t] == TokenClassificationEncoder.IgnoredLabel || suppress((int)labels[t]) ? 0 : (int)labels[t];
            logits[label] = 1f;
            predictions[t] = Array.IndexOf(logits, logits.Max());
        }
        return predictions;
    }
}
