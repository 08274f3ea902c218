using System.Text.Json;
using System.Text.Json.Nodes;
using BertFineTune.Tokenization;
using static BertFineTune.Tests.Tokenization.TokenizerTestData;

namespace BertFineTune.Tests.Tokenization;

/// <summary>Loading from vocab.txt, tokenizer.json and model folders, with tokenizer_config.json's settings.</summary>
public sealed class LoadingTests : IDisposable
{
    private static readonly string FixtureFolder = Fixtures.Model("seq_cls");

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private static int Vocab8kId(string token) => Array.IndexOf(File.ReadAllLines(Vocab8kPath), token);

    /// <summary>A model folder in temp: the fixture's tokenizer.json, and the fixture's tokenizer_config.json changed by <paramref name="edit"/>.</summary>
    private string FolderWithConfig(Action<JsonObject> edit, bool withModelConfig = false)
    {
        File.Copy(Path.Combine(FixtureFolder, "tokenizer.json"), _folder.File("tokenizer.json"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureFolder, "tokenizer_config.json")))!.AsObject();
        edit(config);
        File.WriteAllText(_folder.File("tokenizer_config.json"), config.ToJsonString());
        if (withModelConfig)
        {
            File.Copy(Path.Combine(FixtureFolder, "config.json"), _folder.File("config.json"));
        }
        return _folder.Path;
    }

    private string WriteTokenizerJson(Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(FixtureFolder, "tokenizer.json")))!.AsObject();
        edit(json);
        var path = _folder.File("tokenizer.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    [Fact]
    public void Vocab_file_ids_are_line_indexes()
    {
        // README: the=1996, hello=7592, [UNK]=100, [CLS]=101; 30,522 lines.
        var tokenizer = BertTokenizer.Load(FullVocabPath);

        Assert.Equal(30522, tokenizer.VocabularySize);
        Assert.Equal(1996, tokenizer.TokenToId("the"));
        Assert.Equal(7592, tokenizer.TokenToId("hello"));
        Assert.Equal(100, tokenizer.UnknownTokenId);
        Assert.Equal(101, tokenizer.ClsTokenId);
    }

    [Fact]
    public void Vocab_file_with_windows_line_endings_loads_the_same_tokens()
    {
        var path = _folder.File("crlf.txt");
        File.WriteAllText(path, string.Join("\r\n", File.ReadAllLines(Vocab8kPath)) + "\r\n");

        var tokenizer = BertTokenizer.Load(path);

        Assert.Equal(8000, tokenizer.VocabularySize);
        Assert.Equal(Vocab8kId("hello"), tokenizer.TokenToId("hello"));
        Assert.Equal(Vocab8kId("[SEP]"), tokenizer.SepTokenId);
    }

    [Fact]
    public void Missing_vocab_file_raises_FileNotFoundException()
    {
        Assert.Throws<FileNotFoundException>(() => BertTokenizer.Load(_folder.File("none.txt")));
    }

    [Fact]
    public void Vocab_file_without_a_special_token_raises_naming_it()
    {
        var path = _folder.File("vocab.txt");
        File.WriteAllLines(path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]);

        var e = Assert.Throws<ArgumentException>(() => BertTokenizer.Load(path));

        Assert.Contains("[MASK]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tokenizer_json_loads_its_vocabulary_and_normalizer()
    {
        var tokenizer = BertTokenizer.Load(Path.Combine(FixtureFolder, "tokenizer.json"));

        Assert.Equal(8000, tokenizer.VocabularySize);
        Assert.True(tokenizer.Options.DoLowerCase);
        Assert.Null(tokenizer.Options.StripAccents);
        Assert.Equal([Vocab8kId("[CLS]"), Vocab8kId("hello"), Vocab8kId("[SEP]")], tokenizer.Encode("HELLO").Ids);
    }

    [Fact]
    public void Tokenizer_json_with_lowercase_false_is_cased()
    {
        // The vocabulary is uncased: "Hello" kept as is has no pieces ("H" is not in it) -> [UNK].
        var path = WriteTokenizerJson(j => j["normalizer"]!["lowercase"] = false);

        var tokenizer = BertTokenizer.Load(path);

        Assert.Equal(Vocab8kId("[UNK]"), tokenizer.Encode("Hello").Ids[1]);
        Assert.Equal(Vocab8kId("hello"), tokenizer.Encode("hello").Ids[1]);
    }

    [Fact]
    public void Tokenizer_json_with_a_gap_in_the_ids_raises_InvalidDataException()
    {
        var path = WriteTokenizerJson(j => j["model"]!["vocab"] = new JsonObject
        {
            ["[PAD]"] = 0, ["[UNK]"] = 1, ["[CLS]"] = 2, ["[SEP]"] = 3, ["[MASK]"] = 5,
        });

        var e = Assert.Throws<InvalidDataException>(() => BertTokenizer.Load(path));

        Assert.Contains("4", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tokenizer_json_with_a_repeated_id_raises_InvalidDataException()
    {
        var path = WriteTokenizerJson(j => j["model"]!["vocab"] = new JsonObject
        {
            ["[PAD]"] = 0, ["[UNK]"] = 1, ["[CLS]"] = 2, ["[SEP]"] = 3, ["[MASK]"] = 4, ["hello"] = 4,
        });

        Assert.Throws<InvalidDataException>(() => BertTokenizer.Load(path));
    }

    [Fact]
    public void Tokenizer_json_of_another_model_type_raises_InvalidDataException()
    {
        var path = WriteTokenizerJson(j => j["model"]!["type"] = "BPE");

        Assert.Throws<InvalidDataException>(() => BertTokenizer.Load(path));
    }

    [Fact]
    public void Folder_loads_tokenizer_json_with_its_config()
    {
        var tokenizer = BertTokenizer.Load(FixtureFolder);

        Assert.Equal(8000, tokenizer.VocabularySize);
        Assert.True(tokenizer.Options.DoLowerCase);
        Assert.Equal(128, tokenizer.Options.ModelMaxLength);
    }

    [Fact]
    public void Folder_with_do_lower_case_false_is_cased()
    {
        // tokenizer_config.json wins over tokenizer.json's normalizer, as transformers rebuilds the normalizer from it.
        var tokenizer = BertTokenizer.Load(FolderWithConfig(c => c["do_lower_case"] = false));

        Assert.False(tokenizer.Options.DoLowerCase);
        Assert.Equal(Vocab8kId("[UNK]"), tokenizer.Encode("Hello").Ids[1]);
        Assert.Equal(Vocab8kId("hello"), tokenizer.Encode("hello").Ids[1]);
    }

    [Theory]
    [InlineData(null, true, "cafe")]
    [InlineData(true, true, "cafe")]
    [InlineData(false, true, "[UNK]")]
    [InlineData(true, false, "cafe")]
    [InlineData(null, false, "[UNK]")]
    public void Folder_strip_accents_null_true_or_false_is_honoured(bool? stripAccents, bool lowerCase, string expected)
    {
        // null follows do_lower_case. Kept accents make "café" [UNK]: "##é" is not in the uncased vocabulary.
        var tokenizer = BertTokenizer.Load(FolderWithConfig(c =>
        {
            c["strip_accents"] = stripAccents;
            c["do_lower_case"] = lowerCase;
        }));

        Assert.Equal(stripAccents, tokenizer.Options.StripAccents);
        Assert.Equal(Vocab8kId(expected), tokenizer.Encode("café").Ids[1]);
    }

    [Fact]
    public void Folder_special_token_given_as_an_object_uses_its_content()
    {
        // Older tokenizer_config.json files write {"content": ..., "lstrip": ...} objects for special tokens.
        var tokenizer = BertTokenizer.Load(FolderWithConfig(c => c["mask_token"] = new JsonObject
        {
            ["content"] = "[HEADSTART]", ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false,
        }));

        Assert.Equal("[HEADSTART]", tokenizer.Options.MaskToken);
        Assert.Equal(Vocab8kId("[HEADSTART]"), tokenizer.MaskTokenId);
    }

    [Fact]
    public void Folder_special_token_missing_from_the_vocabulary_raises_naming_it()
    {
        var folder = FolderWithConfig(c => c["mask_token"] = "<mask>");

        var e = Assert.Throws<ArgumentException>(() => BertTokenizer.Load(folder));

        Assert.Contains("<mask>", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Folder_model_max_length_below_max_position_embeddings_is_kept()
    {
        var tokenizer = BertTokenizer.Load(FolderWithConfig(c => c["model_max_length"] = 64, withModelConfig: true));

        Assert.Equal(64, tokenizer.Options.ModelMaxLength);
    }

    [Fact]
    public void Folder_model_max_length_above_max_position_embeddings_is_capped()
    {
        var tokenizer = BertTokenizer.Load(FolderWithConfig(c => c["model_max_length"] = 512, withModelConfig: true));

        Assert.Equal(128, tokenizer.Options.ModelMaxLength);
    }

    [Fact]
    public void Folder_without_config_json_and_unset_model_max_length_has_none()
    {
        // 1e30 is transformers' VERY_LARGE_INTEGER: no limit known.
        var tokenizer = BertTokenizer.Load(FolderWithConfig(_ => { }));

        Assert.Null(tokenizer.Options.ModelMaxLength);
    }

    [Fact]
    public void Folder_with_only_vocab_txt_loads_it()
    {
        File.Copy(Vocab8kPath, _folder.File("vocab.txt"));

        var tokenizer = BertTokenizer.Load(_folder.Path);

        Assert.Equal(8000, tokenizer.VocabularySize);
        Assert.Equal(Vocab8kId("hello"), tokenizer.Encode("Hello").Ids[1]);
    }

    [Fact]
    public void Folder_with_neither_tokenizer_json_nor_vocab_txt_raises_naming_both()
    {
        var e = Assert.Throws<FileNotFoundException>(() => BertTokenizer.Load(_folder.Path));

        Assert.Contains("tokenizer.json", e.Message, StringComparison.Ordinal);
        Assert.Contains("vocab.txt", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Folder_configure_callback_overrides_the_files()
    {
        var tokenizer = BertTokenizer.Load(FixtureFolder, o => o with { DoLowerCase = false, ModelMaxLength = 16 });

        Assert.False(tokenizer.Options.DoLowerCase);
        Assert.Equal(16, tokenizer.Options.ModelMaxLength);
    }

    [Fact]
    public void Folder_tokenizer_encodes_every_fixture_text_as_the_vocab8k_tokenizer()
    {
        var fromFolder = BertTokenizer.Load(FixtureFolder);
        var fromVocab = BertTokenizer.Load(Vocab8kPath);
        var texts = SingleTexts();

        foreach (var text in texts)
        {
            var expected = fromVocab.Encode(text);
            var actual = fromFolder.Encode(text);
            Assert.Equal(expected.Ids, actual.Ids);
            Assert.Equal(expected.Offsets, actual.Offsets);
            Assert.Equal(expected.WordIds, actual.WordIds);
        }
    }

    [Fact]
    public void Folder_tokenizer_encodes_every_fixture_pair_as_the_vocab8k_tokenizer()
    {
        var fromFolder = BertTokenizer.Load(FixtureFolder);
        var fromVocab = BertTokenizer.Load(Vocab8kPath);
        int compared = 0;

        foreach (var row in Rows("tokenizer_pairs.json"))
        {
            var a = row.GetProperty("a").GetString()!;
            var b = row.GetProperty("b").GetString()!;
            var options = new EncodingOptions
            {
                Truncation = row.GetProperty("truncation").GetString() switch
                {
                    "longest_first" => TruncationStrategy.LongestFirst,
                    "only_first" => TruncationStrategy.OnlyFirst,
                    "only_second" => TruncationStrategy.OnlySecond,
                    _ => TruncationStrategy.None,
                },
                MaxLength = row.GetProperty("max_length").ValueKind == JsonValueKind.Number ? row.GetProperty("max_length").GetInt32() : null,
            };
            BertFineTune.Tokenization.EncodedText expected;
            try
            {
                expected = fromVocab.Encode(a, b, options);
            }
            catch (ArgumentException)
            {
                Assert.Throws<ArgumentException>(() => fromFolder.Encode(a, b, options));
                continue;
            }
            var actual = fromFolder.Encode(a, b, options);
            Assert.Equal(expected.Ids, actual.Ids);
            Assert.Equal(expected.TypeIds, actual.TypeIds);
            Assert.Equal(expected.Offsets, actual.Offsets);
            Assert.Equal(expected.WordIds, actual.WordIds);
            Assert.Equal(expected.SequenceIds, actual.SequenceIds);
            compared++;
        }
        Assert.True(compared > 200, $"only {compared} pairs were compared");
    }
}
