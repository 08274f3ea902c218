using System.Text.Json;
using BertFineTune.Builder;
using TorchSharp;

namespace BertFineTune.Tests.Cli;

/// <summary>
/// Issue 15, items 3 and 8 at the command line: TSV read without quotes (GLUE MRPC whole), and errors that say where
/// (file, line, field, tensor) and what to do: predict input fields, NaN weights, a data file without rows, a path given
/// to <c>download</c>, a token twice in vocab.txt.
/// </summary>
public class CliWhereErrorsTests
{
    private static string FirstErrorLine(CliRunner.Result result) => result.Error.Split('\n')[0];

    [Fact]
    public void The_issues_mrpc_command_reads_all_2576_rows_of_train_tsv()
    {
        using var temp = new TempFolder();
        var train = Path.Combine(Fixtures.RepositoryRoot, "..", "shared", "datasets", "glue-mrpc", "train.tsv");

        var result = CliRunner.Run(null, "train", "--task", "PairClassification", "--model", Fixtures.Model("bert_model"), "--train", train,
            "--format", "tsv", "--no-header", "--text-column", "3", "--pair-column", "4", "--label-column", "0", "--labels", "0,1",
            "--output", temp.File("out"), "--max-steps", "1");

        // `wc -l` prints 2576 and every line has 5 tab-separated fields (awk -F'\t' 'NF!=5' prints nothing).
        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Contains("2576 training and 0 validation examples", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void Quoted_tsv_keeps_a_tab_inside_quotes_only_when_asked()
    {
        using var temp = new TempFolder();
        // One row whose quoted text holds a tab: 3 fields with quoting, 4 without (and then "label" is the tab's other half).
        File.WriteAllText(temp.File("q.tsv"), "text\tlabel\n\"a\tb\"\tpositive\nplain\tnegative\n");
        // Each run has its own output folder: a second run into the first one's folder is refused as non-empty.
        string[] Arguments(string output, params string[] more) =>
            ["train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", temp.File("q.tsv"),
                "--labels", "negative,positive", "--output", temp.File(output), "--max-steps", "1", .. more];

        var quoted = CliRunner.Run(null, Arguments("quoted", "--quoted-tsv"));
        var plain = CliRunner.Run(null, Arguments("plain"));

        Assert.True(quoted.ExitCode == 0, quoted.Error + quoted.Output);
        Assert.Contains("2 training", quoted.Output, StringComparison.Ordinal);
        Assert.Equal(1, plain.ExitCode);
        Assert.StartsWith($"error: {temp.File("q.tsv")}:2: unknown label 'b\"'", FirstErrorLine(plain), StringComparison.Ordinal);
    }

    [Theory]
    // (what the file holds, the end of the first error line); every case names the file.
    [InlineData("label,text\n", ": the file has no data rows after its header; add one example per row.")]
    [InlineData("label,text\n\n\n", ": the file has no data rows after its header; add one example per row.")]
    // An empty file has no header to name the columns: the reader says so first.
    [InlineData("", ":1: the text column is named 'text', but the file has no header row (it is empty).")]
    public void A_data_file_without_rows_is_named_with_what_it_lacks(string content, string expected)
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("train.csv"), content);

        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", temp.File("train.csv"),
            "--labels", "negative,positive", "--output", temp.File("out"));

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"error: {temp.File("train.csv")}{expected}", FirstErrorLine(result));
        Assert.DoesNotContain("no batches", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_whose_every_row_was_skipped_says_so()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("train.csv"), "label,text\nmaybe,one\nunsure,two\n");

        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", temp.File("train.csv"),
            "--labels", "negative,positive", "--output", temp.File("out"), "--skip-bad-rows");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"error: {temp.File("train.csv")}: every row was bad (2 skipped); there are no examples left to use.", FirstErrorLine(result));
    }

    [Theory]
    // (input line 2, the error after "in.txt, line 2: "); the first line is valid, so the line number is checked too.
    [InlineData("""{"text": 5}""", "\"text\" is number 5, not a string; put the text in quotes, e.g. {\"text\": \"5\"}.")]
    [InlineData("""{"text": true}""", "\"text\" is true true, not a string; put the text in quotes, e.g. {\"text\": \"true\"}.")]
    [InlineData("""{"text": ["a"]}""", "\"text\" is array [\"a\"], not a string; put the text in quotes, e.g. {\"text\": \"...\"}.")]
    [InlineData("""{"text": "ok", "text_pair": 3}""", "\"text_pair\" is number 3, not a string; put the text in quotes, e.g. {\"text_pair\": \"3\"}.")]
    [InlineData("""{"text": "\ud800"}""", "\"text\" holds a lone surrogate escape")]
    [InlineData("""{"text": "a\udc00b"}""", "\"text\" holds a lone surrogate escape")]
    [InlineData("""{"text": "ok", "text_pair": "\udfff"}""", "\"text_pair\" holds a lone surrogate escape")]
    public void A_predict_field_that_is_not_text_names_the_line_and_field(string line, string expected)
    {
        using var temp = new TempFolder();
        File.WriteAllLines(temp.File("in.txt"), ["fine text", line]);

        var result = CliRunner.Run(null, "predict", "--model", Fixtures.Model("seq_cls"), "--input", temp.File("in.txt"));

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"error: {temp.File("in.txt")}, line 2: {expected}", FirstErrorLine(result), StringComparison.Ordinal);
        Assert.Empty(result.Output.Trim());
    }

    [Fact]
    public void A_surrogate_pair_escape_is_one_character_and_predicts()
    {
        using var temp = new TempFolder();
        File.WriteAllLines(temp.File("in.txt"), ["""{"text": "fun \ud83d\ude00"}"""]);

        var result = CliRunner.Run(null, "predict", "--model", Fixtures.Model("seq_cls"), "--input", temp.File("in.txt"));

        Assert.True(result.ExitCode == 0, result.Error);
        using var output = JsonDocument.Parse(result.Output.Trim());
        Assert.Equal("fun \U0001F600", output.RootElement.GetProperty("text").GetString());
    }

    [Theory]
    [InlineData("classifier.weight", float.NaN)]
    [InlineData("bert.encoder.layer.0.attention.self.query.weight", float.PositiveInfinity)]
    public void Non_finite_weights_in_predict_name_the_tensor_and_write_nothing(string tensor, float value)
    {
        using var temp = new TempFolder();
        using (var model = BertModelBuilder.FromPretrained(Fixtures.Model("seq_cls")).Build())
        {
            using (torch.no_grad())
            {
                var parameter = model.Model.named_parameters().Single(p => p.name == tensor).parameter;
                parameter[0, 0] = torch.tensor(value);
            }
            model.Save(temp.File("model"));
        }
        File.WriteAllLines(temp.File("in.txt"), ["a gripping film", "a dull film"]);

        var result = CliRunner.Run(null, "predict", "--model", temp.File("model"), "--input", temp.File("in.txt"), "--verbose");

        Assert.Equal(1, result.ExitCode);
        Assert.True(FirstErrorLine(result).Contains($"'{tensor}' (1 of ", StringComparison.Ordinal), result.Error);
        Assert.Contains("line 1 is NaN or infinite", FirstErrorLine(result), StringComparison.Ordinal);
        Assert.Empty(result.Output.Trim());
    }

    [Theory]
    [InlineData("../../etc")]
    [InlineData("/etc")]
    [InlineData("..")]
    [InlineData("org/name/")]
    [InlineData("org--x/name")]
    public void Download_refuses_what_is_not_a_hub_id_before_anything_is_read(string reference)
    {
        var result = CliRunner.Run(null, "download", reference);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"error: '{reference}' is not a Hugging Face Hub id", FirstErrorLine(result), StringComparison.Ordinal);
        Assert.Empty(result.Output.Trim());
    }

    [Fact]
    public void Info_warns_about_a_token_on_two_lines_of_vocab_txt_and_loads_as_transformers_does()
    {
        using var temp = new TempFolder();
        var model = temp.File("model");
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(Fixtures.Model("bert_model")).Where(f => Path.GetFileName(f) is "config.json" or "model.safetensors"))
        {
            File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        }
        // The fixture's vocabulary as vocab.txt (tokenizer.json's model.vocab in id order, one token per line).
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Model("bert_model"), "tokenizer.json")));
        var lines = json.RootElement.GetProperty("model").GetProperty("vocab").EnumerateObject()
            .OrderBy(p => p.Value.GetInt32()).Select(p => p.Name).ToArray();
        // Line 11 repeats line 10's token: the file keeps its length, so the ids still fit the checkpoint's vocab_size.
        lines[10] = lines[9];
        File.WriteAllLines(Path.Combine(model, "vocab.txt"), lines);

        var result = CliRunner.Run(null, "info", "--model", model);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.StartsWith($"warning: {Path.Combine(model, "vocab.txt")}: the token '{lines[9]}' is on lines 10 and 11;", result.Error, StringComparison.Ordinal);
    }
}
