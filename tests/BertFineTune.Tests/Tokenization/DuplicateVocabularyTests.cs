using BertFineTune.Tokenization;

namespace BertFineTune.Tests.Tokenization;

/// <summary>
/// A token on more than one line of vocab.txt. transformers' <c>load_vocab</c> (models/bert/tokenization_bert.py:
/// <c>vocab[token] = index</c> over the lines) and the tokenizers crate's <c>WordPiece::read_file</c>
/// (<c>vocab.insert(line, index)</c>) both accept it and keep the last line's id; the expected ids below follow that
/// rule by hand (id = 0-based line index of the last occurrence).
/// </summary>
public sealed class DuplicateVocabularyTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static readonly string[] Base = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "##ing", "the", "game"];

    public static TheoryData<string[], string, int, string> Duplicates => new()
    {
        // "play" on lines 6 and 10: id 9 wins, id 5 is never produced.
        { [.. Base, "play"], "play", 9, "the token 'play' is on lines 6 and 10; as transformers' load_vocab and the tokenizers crate's WordPiece do, it gets the last line's id 9, and id 5 (line 6) will never be produced." },
        // "##ing" on lines 7, 10 and 11.
        { [.. Base, "##ing", "##ing"], "##ing", 10, "the token '##ing' is on lines 7 and 10 and 11; as transformers' load_vocab and the tokenizers crate's WordPiece do, it gets the last line's id 10, and ids 6, 9 (lines 7, 10) will never be produced." },
        // The unknown token itself, on lines 2 and 10.
        { [.. Base, "[UNK]"], "[UNK]", 9, "the token '[UNK]' is on lines 2 and 10; as transformers' load_vocab and the tokenizers crate's WordPiece do, it gets the last line's id 9, and id 1 (line 2) will never be produced." },
    };

    [Theory]
    [MemberData(nameof(Duplicates))]
    public void A_repeated_token_loads_with_its_last_lines_id_and_a_warning_naming_both_lines(string[] lines, string token, int id, string warning)
    {
        var path = _folder.File("vocab.txt");
        File.WriteAllLines(path, lines);

        var tokenizer = BertTokenizer.Load(path);

        Assert.Equal(id, tokenizer.TokenToId(token));
        Assert.Equal($"{path}: {warning} Remove a repeated line only if the model was trained without it: removing a line shifts every later id.",
            Assert.Single(tokenizer.LoadWarnings));
        // Ids stay line indexes for every other token, and the vocabulary keeps one id per line.
        Assert.Equal(lines.Length, tokenizer.VocabularySize);
        Assert.Equal(Array.IndexOf(lines, "game"), tokenizer.TokenToId("game"));
    }

    [Fact]
    public void Encoding_produces_the_last_id_of_a_repeated_word_piece()
    {
        var path = _folder.File("vocab.txt");
        File.WriteAllLines(path, [.. Base, "play", "##ing"]);

        var tokenizer = BertTokenizer.Load(path);

        // "playing" = play (last at line 10, id 9) + ##ing (last at line 11, id 10), between [CLS] 2 and [SEP] 3.
        Assert.Equal([2, 9, 10, 3], tokenizer.Encode("playing").Ids);
        Assert.Equal(2, tokenizer.LoadWarnings.Count);
    }

    [Fact]
    public void A_vocabulary_without_repeats_has_no_warnings()
    {
        var path = _folder.File("vocab.txt");
        File.WriteAllLines(path, Base);

        Assert.Empty(BertTokenizer.Load(path).LoadWarnings);
    }
}
