using System.Reflection;
using System.Text.RegularExpressions;
using BertFineTune.Builder;
using BertFineTune.Data.Readers;
using BertFineTune.Inference;
using BertFineTune.Training;

namespace BertFineTune.Tests.Cli;

/// <summary>
/// The command line as a new user meets it (issue 12, "the first hour"): help that explains every option, errors in the
/// command's own terms with a hint that fits, plain output in logs, the hyper-parameters a run uses, explicit saving, and
/// a Ctrl-C that says how to resume. Every test runs the built <c>bert-finetune</c> as a separate process; its standard
/// output is redirected, so it is the non-terminal output a CI log or <c>| tee</c> gets.
/// </summary>
public class CliFirstHourTests
{
    // Names of the library's API that a command's error must not show: the command's flags replace them.
    private static readonly string[] LibraryNames =
    [
        "TrainerOptions", "(Parameter '", "BadRowPolicy", "ReplacingExistingHead", "IgnoreMismatchedSizes", "WithMaxSequenceLength",
        "Nullable`1", "HubOptions",
    ];

    private static string Csv(TempFolder temp, string name, int rows)
    {
        File.WriteAllLines(temp.File(name), ["label,text", .. Enumerable.Range(0, rows).Select(i => i % 2 == 0 ? $"positive,a joy to watch {i}" : $"negative,dull and long {i}")]);
        return temp.File(name);
    }

    private static string[] Train(TempFolder temp, params string[] more) =>
        ["train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", Csv(temp, "train.csv", 12),
            "--labels", "negative,positive", "--output", temp.File("out"), .. more];

    private static string FirstErrorLine(CliRunner.Result result) => result.Error.Split('\n')[0];

    private static string HintLine(CliRunner.Result result) => result.Error.Split('\n').First(l => l.StartsWith("hint: ", StringComparison.Ordinal));

    // --- help -----------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData("train")]
    [InlineData("evaluate")]
    [InlineData("predict")]
    [InlineData("pretrain")]
    [InlineData("download")]
    [InlineData("info")]
    public void Every_option_of_every_command_has_a_description(string command)
    {
        var result = CliRunner.Run(null, command, "--help");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        // Spectre's help is a grid: the description column starts where "-h, --help"'s description does.
        var helpLine = lines.Single(l => l.Contains("--help", StringComparison.Ordinal));
        int column = helpLine.IndexOf("Prints help information", StringComparison.Ordinal);
        Assert.True(column > 0, helpLine);
        var optionLines = lines.SkipWhile(l => !l.StartsWith("OPTIONS:", StringComparison.Ordinal)).Skip(1)
            .Where(l => Regex.IsMatch(l, @"^\s+(-\w, )?--[a-z]")).ToList();
        Assert.True(optionLines.Count >= 4, result.Output);
        foreach (var line in optionLines)
        {
            Assert.True(line.Length > column && line[column - 1] == ' ' && line[column..].Trim().Length > 0, $"no description: '{line}'");
        }
    }

    [Theory]
    [InlineData("train")]
    [InlineData("evaluate")]
    [InlineData("predict")]
    [InlineData("pretrain")]
    [InlineData("info")]
    public void The_model_option_takes_a_folder_or_a_hub_id(string command)
    {
        var result = CliRunner.Run(null, command, "--help");

        var model = result.Output.Split('\n').Single(l => l.Contains("--model", StringComparison.Ordinal));
        Assert.Contains("<FOLDER|HUB_ID>", model, StringComparison.Ordinal);
        Assert.Contains("Hugging Face Hub id", model, StringComparison.Ordinal);
    }

    [Fact]
    public void Version_prints_the_tool_and_library_versions()
    {
        var result = CliRunner.Run(null, "--version");

        Assert.Equal(0, result.ExitCode);
        // The library's version as its assembly states it (the tool and the library are versioned together in the csproj files).
        var library = typeof(TaskModel).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        var line = Assert.Single(result.Output.Trim().Split('\n'));
        Assert.Matches(@"^bert-finetune \d+\.\d+\.\d+ \(BertFineTune " + Regex.Escape(library) + @", TorchSharp \d+\.\d+\.\d+, \.NET \d+\.\d+\.\d+\)$", line);
    }

    public static TheoryData<string, string, string, string> BadChoices => new()
    {
        // TaskKind of the CLI (src/BertFineTune.Cli/DataSettings.cs), in declaration order.
        { "train", "--task", "Foo", "Classification, PairClassification, MultiLabel, Regression, Ner, Qa" },
        { "train", "--schedule", "Bar", string.Join(", ", Enum.GetNames<ScheduleKind>()) },
        { "train", "--tag-scheme", "IOX", string.Join(", ", Enum.GetNames<TagScheme>()) },
        // SaveStrategy of the CLI (src/BertFineTune.Cli/RunOptions.cs), transformers' save_strategy values.
        { "train", "--save-strategy", "sometimes", "No, Steps, Epoch" },
        { "predict", "--aggregation", "Best", string.Join(", ", Enum.GetNames<AggregationStrategy>()) },
        // PoolingMode of the library (src/BertFineTune/Checkpoints/PoolingMode.cs), in declaration order.
        { "train", "--pooling", "avg", "Pooler, Cls, Mean, Max" },
    };

    [Theory]
    [MemberData(nameof(BadChoices))]
    public void A_bad_choice_names_the_option_and_lists_its_valid_values(string command, string option, string value, string valid)
    {
        var result = CliRunner.Run(null, command, option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"error: {option}: '{value}' is not one of {valid} (any letter case).", FirstErrorLine(result));
        Assert.Equal($"hint: run `bert-finetune {command} --help` to see every option, its values and its default", HintLine(result));
    }

    [Theory]
    [InlineData("--batch-size", "abc", "is not a whole number.")]
    [InlineData("--learning-rate", "fast", "is not a number (write it like 0.01 or 5e-5).")]
    [InlineData("--max-steps=1.5", null, "is not a whole number.")]
    public void A_value_of_the_wrong_type_names_the_option_and_what_it_takes(string option, string? value, string takes)
    {
        var result = value is null ? CliRunner.Run(null, "train", option) : CliRunner.Run(null, "train", option, value);

        Assert.Equal(2, result.ExitCode);
        var (name, given) = value is null ? (option.Split('=')[0], option.Split('=')[1]) : (option, value);
        Assert.Equal($"error: {name}: '{given}' {takes}", FirstErrorLine(result));
    }

    [Fact]
    public void A_choice_is_read_in_any_letter_case()
    {
        using var temp = new TempFolder();

        var result = CliRunner.Run(null, Train(temp, "--task", "classification", "--schedule", "COSINE", "--save-strategy", "no", "--max-steps", "1"));

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
    }

    // --- errors in the command's terms, each kind with its hint ----------------------------------------------------

    private const string UsageHint = "hint: run `bert-finetune train --help` to see every option, its values and its default";

    /// <summary>
    /// Each case triggers a real error of the library (or of the command) and states the first error line (or a part of
    /// it), the hint of its kind and the exit code (2 for an option's value, 1 otherwise). Expected messages are the
    /// library's own (TrainerOptions.Validate, BertModelBuilder.Build, BadRowException, StateDictLoader, BertConfig,
    /// SafeTensorsFile) with its API names replaced by the flags that set them.
    /// </summary>
    public static TheoryData<string> ErrorCases => new()
    {
        "batch size 0", "epochs 0", "label smoothing 1", "warm-up ratio 1.5", "layer-wise decay 0", "save steps with epoch saving",
        "eval steps without validation", "max length beyond the model", "freeze layers beyond the model", "unknown extension",
        "head of another shape", "bad row", "missing training file", "malformed config", "damaged weights", "pooling for entities",
    };

    [Theory]
    [MemberData(nameof(ErrorCases))]
    public void Errors_name_the_flag_and_give_the_hint_of_their_kind(string name)
    {
        using var temp = new TempFolder();
        string CopyOf(string model)
        {
            Directory.CreateDirectory(temp.File("model"));
            foreach (var file in Directory.GetFiles(Fixtures.Model(model)))
            {
                File.Copy(file, temp.File(Path.Combine("model", Path.GetFileName(file))));
            }
            return temp.File("model");
        }
        string[] OnModel(string model, params string[] more) =>
            ["train", "--task", "Classification", "--model", model, "--train", Csv(temp, "train.csv", 12), "--labels", "negative,positive",
                "--output", temp.File("out"), .. more];

        var bertModel = Fixtures.Model("bert_model");
        (string[] Arguments, int ExitCode, string Error, string Hint) @case;
        switch (name)
        {
            case "batch size 0":
                @case = (Train(temp, "--batch-size", "0"), 2, "error: --batch-size must be at least 1, got 0.", UsageHint);
                break;
            case "epochs 0":
                @case = (Train(temp, "--epochs", "0"), 2, "error: --epochs must be at least 1 (or set --max-steps), got 0.", UsageHint);
                break;
            case "label smoothing 1":
                @case = (Train(temp, "--label-smoothing", "1"), 2, "error: --label-smoothing must be in [0, 1), got 1.", UsageHint);
                break;
            case "warm-up ratio 1.5":
                @case = (Train(temp, "--warmup-ratio", "1.5"), 2, "error: --warmup-ratio must be in [0, 1], got 1.5.", UsageHint);
                break;
            case "layer-wise decay 0":
                @case = (Train(temp, "--layerwise-lr-decay", "0"), 2, "error: --layerwise-lr-decay must be in (0, 1], got 0.", UsageHint);
                break;
            case "save steps with epoch saving":
                @case = (Train(temp, "--save-strategy", "Epoch", "--save-steps", "5"), 2,
                    "error: --save-steps needs --save-strategy Steps; with Epoch it would be ignored.", UsageHint);
                break;
            case "eval steps without validation":
                @case = (Train(temp, "--eval-steps", "5"), 2, "error: --eval-steps needs --validation: it acts on the validation metrics.", UsageHint);
                break;
            case "max length beyond the model":
                // bert_model's config.json has max_position_embeddings 128.
                @case = (Train(temp, "--max-length", "4096"), 2,
                    "error: --max-length 4096 exceeds the model's max_position_embeddings 128; use at most 128.", UsageHint);
                break;
            case "freeze layers beyond the model":
                // bert_model's config.json has num_hidden_layers 2.
                @case = (Train(temp, "--freeze-layers", "40"), 2, "error: --freeze-layers 40: the model has 2 layers; use at most 2.", UsageHint);
                break;
            case "unknown extension":
                var dev = Csv(temp, "dev.txt", 4);
                @case = (OnModel(bertModel, "--validation", dev), 2,
                    $"error: --validation {dev}: the format cannot be told from the extension '.txt'; give --format.", UsageHint);
                break;
            case "head of another shape":
                // seq_cls has a 3-label head; two labels need a [2, 32] classifier.
                @case = (OnModel(Fixtures.Model("seq_cls")), 1, "Add --replace-head to start a new head instead",
                    "hint: the checkpoint's head has another shape than your labels need: add --replace-head, or give the checkpoint's own labels");
                break;
            case "bad row":
                var arguments = Train(temp);
                // The header, 12 rows, then the bad one: line 14.
                File.AppendAllLines(temp.File("train.csv"), ["maybe,an unknown label"]);
                @case = (arguments, 1,
                    $"error: {temp.File("train.csv")}:14: unknown label 'maybe' (known: 'negative', 'positive') (add --skip-bad-rows to skip such rows",
                    "hint: check the file's format and the column options (--format, --text-column, --pair-column, --label-column, --no-header)");
                break;
            case "missing training file":
                @case = (["train", "--task", "Classification", "--model", bertModel, "--train", temp.File("none.csv"), "--labels", "negative,positive",
                    "--output", temp.File("out")], 1, $"error: --train {temp.File("none.csv")}: no such file.", "hint: check the path");
                break;
            case "malformed config":
                var malformed = CopyOf("bert_model");
                var config = Path.Combine(malformed, "config.json");
                File.WriteAllText(config, File.ReadAllText(config).Replace("\"hidden_size\": 32", "\"hidden_size\": 30", StringComparison.Ordinal));
                @case = (OnModel(malformed), 1, "hidden_size 30", "hint: the model's config.json is not one transformers writes");
                break;
            case "damaged weights":
                var damaged = CopyOf("bert_model");
                var weights = Path.Combine(damaged, "model.safetensors");
                File.WriteAllBytes(weights, File.ReadAllBytes(weights)[..100]);
                @case = (OnModel(damaged), 1, $"error: {weights}: ", "hint: the weights file is damaged or incomplete");
                break;
            case "pooling for entities":
                @case = (["train", "--task", "Ner", "--model", bertModel, "--train", temp.File("none.conll"), "--labels", "O,B-PER",
                    "--output", temp.File("out"), "--pooling", "Mean"], 2,
                    "error: --pooling applies to Classification, PairClassification, MultiLabel and Regression; Ner predicts per token, not per text.", UsageHint);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(name), name, null);
        }

        var result = CliRunner.Run(null, @case.Arguments);

        Assert.True(@case.ExitCode == result.ExitCode, $"exit {result.ExitCode}: {result.Error}");
        Assert.Contains(@case.Error, FirstErrorLine(result), StringComparison.Ordinal);
        Assert.StartsWith(@case.Hint, HintLine(result), StringComparison.Ordinal);
        foreach (var library in LibraryNames)
        {
            Assert.DoesNotContain(library, result.Error, StringComparison.Ordinal);
        }
        Assert.False(Directory.Exists(temp.File("out")), "a failed run left an output folder");
    }

    [Fact]
    public void Option_values_are_checked_before_the_model_and_the_data_are_looked_at()
    {
        // Neither the model folder nor the training file exists: the option's value is still the error reported.
        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", "/no/such/folder", "--train", "/no/such.csv",
            "--labels", "a,b", "--output", "/no/such/out", "--batch-size", "0");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("error: --batch-size must be at least 1, got 0.", FirstErrorLine(result));
    }

    [Fact]
    public void Input_files_are_checked_before_the_model_loads()
    {
        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", "/no/such/folder", "--train", "/no/such.csv",
            "--labels", "a,b", "--output", "/no/such/out");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: --train /no/such.csv: no such file.", FirstErrorLine(result));
    }

    // --- output off a terminal --------------------------------------------------------------------------------------

    [Fact]
    public void Off_a_terminal_output_is_plain_unwrapped_and_one_line_per_logging_step()
    {
        using var temp = new TempFolder();
        var output = temp.File(Path.Combine("a folder name long enough", "that the output path", "is far past eighty columns", "model"));
        Assert.True(output.Length > 100);
        var train = Csv(temp, "train.csv", 12);

        // 12 examples in batches of 4: 3 steps an epoch, 6 in 2 epochs; logging every 2 steps reports steps 2, 4 and 6.
        var result = CliRunner.Run(null, "train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", train,
            "--validation", train, "--labels", "negative,positive", "--output", output, "--epochs", "2", "--batch-size", "4", "--logging-steps", "2");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        var lines = result.Output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.DoesNotContain(result.Output, c => c is >= '\u2500' and <= '\u259F' || c == '\u001b');
        Assert.Contains(lines, l => l.EndsWith($"model saved to {output}", StringComparison.Ordinal));
        Assert.Contains(lines, l => l == $"report: {Path.Combine(output, "training-report.png")}");
        Assert.Equal(["step 2/6", "step 4/6", "step 6/6"], lines.Where(l => l.StartsWith("step ", StringComparison.Ordinal)).Select(l => l.Split("  ")[0]));
        Assert.Equal(2, lines.Count(l => l.StartsWith("evaluation at step ", StringComparison.Ordinal)));
        Assert.DoesNotContain(lines, l => l.EndsWith(' '));

        var info = CliRunner.Run(null, "info", "--model", output);

        Assert.Equal(0, info.ExitCode);
        Assert.Contains(info.Output.Split('\n'), l => Regex.IsMatch(l, @"^\s+folder\s+" + Regex.Escape(output) + "$"));
        Assert.DoesNotContain(info.Output, c => c is >= '\u2500' and <= '\u259F');
    }

    [Fact]
    public void Help_off_a_terminal_keeps_each_option_on_one_line()
    {
        var result = CliRunner.Run(null, "train", "--help");

        var lines = result.Output.Split('\n');
        // The longest description: wrapped at 80 columns, its end would be on a line of its own.
        Assert.Contains(lines, l => l.Contains("--save-strategy <STRATEGY>", StringComparison.Ordinal)
            && l.EndsWith("Default: Steps when --save-steps is given, else No", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.EndsWith(' '));
    }

    // --- effective hyper-parameters ----------------------------------------------------------------------------------

    [Fact]
    public void Train_prints_its_effective_hyper_parameters_first_marking_where_transformers_differs()
    {
        using var temp = new TempFolder();

        var result = CliRunner.Run(null, Train(temp));

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        var lines = result.Output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        int block = lines.FindIndex(l => l.StartsWith("hyper-parameters", StringComparison.Ordinal));
        int firstStep = lines.FindIndex(l => l.StartsWith("step ", StringComparison.Ordinal));
        Assert.InRange(block, 0, firstStep - 1);
        // Defaults: batch 16, 3 epochs, ratio 0.1. 12 examples: 1 batch, so 1 step an epoch and 3 in all; warm-up
        // ceil(0.1 × 3) = 1 step (transformers' get_linear_schedule_with_warmup rounding). transformers' TrainingArguments
        // defaults (training_args.py): per_device_train_batch_size 8, weight_decay 0, warmup 0, learning_rate 5e-5,
        // save_strategy "steps" with save_steps 500 and no save_total_limit.
        string[] expected =
        [
            @"epochs\s+3",
            @"optimizer steps\s+3 \(1 per epoch\)",
            @"batch size\s+16 \[transformers: 8\]",
            @"learning rate\s+5e-05",
            @"warm-up steps\s+1 \(ratio 0\.1\) \[transformers: 0\]",
            @"weight decay\s+0\.01 \[transformers: 0\]",
            @"max grad norm\s+1",
            @"save strategy\s+No \(only the final model is saved\) \[transformers: Steps, every 500 steps, all kept\]",
        ];
        var blockLines = lines.Skip(block + 1).Take(firstStep - block - 1).ToList();
        foreach (var pattern in expected)
        {
            Assert.Contains(blockLines, l => Regex.IsMatch(l, @"^\s+" + pattern + "$"));
        }
    }

    [Fact]
    public void Pretrain_prints_its_effective_hyper_parameters()
    {
        using var temp = new TempFolder();
        File.WriteAllLines(temp.File("domain.txt"), Enumerable.Range(0, 40).Select(i => $"the model reads text number {i}"));

        var result = CliRunner.Run(null, "pretrain", "--model", Fixtures.Model("mlm"), "--text", temp.File("domain.txt"), "--output", temp.File("out"), "--batch-size", "8");

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        // 40 passages in batches of 8: 5 steps in the one default epoch; warm-up ceil(0.06 × 5) = 1.
        var lines = result.Output.Split('\n');
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\s+epochs\s+1 \[transformers: 3\]$"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\s+optimizer steps\s+5 \(5 per epoch\)$"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\s+warm-up steps\s+1 \(ratio 0\.06\) \[transformers: 0\]$"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"^\s+mask probability\s+0\.15$"));
    }

    // --- save strategy ----------------------------------------------------------------------------------------------

    [Fact]
    public void By_default_no_checkpoint_with_optimizer_state_is_written_only_the_model()
    {
        using var temp = new TempFolder();
        var train = Csv(temp, "train.csv", 12);

        // With a validation file the trainer would also save each new best, had it a checkpoint folder.
        var result = CliRunner.Run(null, Train(temp, "--validation", train, "--epochs", "2"));

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.True(File.Exists(temp.File("out/model.safetensors")));
        Assert.False(Directory.Exists(temp.File("out/checkpoints")));
        Assert.Empty(Directory.GetFiles(temp.Path, "optimizer.safetensors", SearchOption.AllDirectories));
        Assert.Empty(Directory.GetDirectories(temp.Path, "checkpoint-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Save_steps_alone_means_the_steps_strategy()
    {
        using var temp = new TempFolder();

        // 4 steps, a checkpoint every 2: checkpoint-2 and checkpoint-4 (the default limit keeps 2).
        var result = CliRunner.Run(null, Train(temp, "--max-steps", "4", "--batch-size", "4", "--save-steps", "2"));

        Assert.True(result.ExitCode == 0, result.Error + result.Output);
        Assert.Equal(["checkpoint-2", "checkpoint-4"], Directory.GetDirectories(temp.File("out/checkpoints")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.True(File.Exists(temp.File("out/checkpoints/checkpoint-4/optimizer.safetensors")));
        Assert.True(File.Exists(temp.File("out/trainer_state.json")));
        Assert.Contains(result.Output.Split('\n'), l => Regex.IsMatch(l, @"^\s+save strategy\s+Steps, every 2 steps, newest 2 kept "));
    }

    // --- Ctrl-C -------------------------------------------------------------------------------------------------------

    [Fact]
    public void Ctrl_C_names_the_checkpoint_left_and_the_command_that_resumes_from_it()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // RunInterrupted sends SIGINT with Linux's kill and coreutils' env.
        }
        using var temp = new TempFolder();
        // A space in the path: the printed command must quote it for the shell.
        var output = temp.File("run dir");
        string[] arguments = ["train", "--task", "Classification", "--model", Fixtures.Model("bert_model"), "--train", Csv(temp, "train.csv", 12),
            "--labels", "negative,positive", "--output", output, "--max-steps", "100000", "--batch-size", "2", "--logging-steps", "1",
            "--save-strategy", "Steps"];

        var result = CliRunner.RunInterrupted(line => line.StartsWith("step ", StringComparison.Ordinal), arguments);

        Assert.True(result.ExitCode == 130, $"exit {result.ExitCode}: {result.Error}");
        var error = result.Error.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var left = Assert.Single(error, l => l.StartsWith("checkpoint left: ", StringComparison.Ordinal))["checkpoint left: ".Length..];
        var step = int.Parse(Path.GetFileName(left)["checkpoint-".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(Path.Combine(output, "checkpoints", $"checkpoint-{step}"), left);
        Assert.True(File.Exists(Path.Combine(left, "optimizer.safetensors")));
        Assert.Contains($"interrupted after step {step} ", error.Single(l => l.StartsWith("interrupted", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(output, "model.safetensors")), "an interrupted run saved its half-trained model as the result");

        var command = Assert.Single(error, l => l.StartsWith("resume with: ", StringComparison.Ordinal))["resume with: ".Length..];
        Assert.Contains($"'{left}'", command, StringComparison.Ordinal);
        var words = ShellWords(command);
        Assert.Equal(["bert-finetune", .. arguments, "--resume-from-checkpoint", left], words);

        // The printed command continues the run: its first step is the one after the checkpoint's.
        var resumed = CliRunner.RunInterrupted(line => line.StartsWith("step ", StringComparison.Ordinal), words[1..]);

        Assert.Equal(130, resumed.ExitCode);
        Assert.StartsWith($"step {step + 1}/100000 ", resumed.Output.Split('\n').First(l => l.StartsWith("step ", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [Fact]
    public void Ctrl_C_without_checkpoints_says_the_run_cannot_be_resumed()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // RunInterrupted sends SIGINT with Linux's kill and coreutils' env.
        }
        using var temp = new TempFolder();

        var result = CliRunner.RunInterrupted(line => line.StartsWith("step ", StringComparison.Ordinal),
            Train(temp, "--max-steps", "100000", "--batch-size", "2", "--logging-steps", "1"));

        Assert.Equal(130, result.ExitCode);
        Assert.Contains("no checkpoint is left (--save-strategy No), so this run cannot be resumed.", result.Error, StringComparison.Ordinal);
        Assert.Contains("add --save-strategy Epoch, or --save-strategy Steps --save-steps N", result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(temp.File("out/checkpoints")));
    }

    /// <summary>Splits a POSIX shell command line: words separated by spaces, single quotes kept literally, '\'' an escaped quote.</summary>
    private static string[] ShellWords(string command)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        bool quoted = false, any = false;
        foreach (char c in command)
        {
            if (c == '\'')
            {
                quoted = !quoted;
                any = true;
            }
            else if (c == ' ' && !quoted)
            {
                if (any)
                {
                    words.Add(word.ToString());
                }
                word.Clear();
                any = false;
            }
            else
            {
                word.Append(c);
                any = true;
            }
        }
        if (any)
        {
            words.Add(word.ToString());
        }
        return [.. words];
    }
}
