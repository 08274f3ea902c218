using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Options every command has.</summary>
internal class CommonSettings : CommandSettings
{
    [CommandOption("--verbose")]
    [Description("Show the full exception on errors.")]
    public bool Verbose { get; init; }
}

/// <summary>Options of commands that load a model.</summary>
internal class ModelSettings : CommonSettings
{
    [CommandOption("-m|--model <FOLDER|HUB_ID>")]
    [Description("Model folder (Hugging Face layout) or Hugging Face Hub id, e.g. google-bert/bert-base-uncased.")]
    public string? Model { get; init; }

    [CommandOption("--device <DEVICE>")]
    [Description("cpu, cuda or cuda:N.")]
    [DefaultValue("cpu")]
    public string Device { get; init; } = "cpu";

    [CommandOption("--max-length <TOKENS>")]
    [Description("Longest input in tokens, at least 3 (default: the model's).")]
    public int? MaxLength { get; init; }

    public override ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Model) ? ValidationResult.Error("--model is required: give a model folder or a Hugging Face Hub id.")
        : MaxLength is < 3 ? ValidationResult.Error($"--max-length must be at least 3 (room for [CLS], [SEP] and one token), got {MaxLength}.")
        : ValidationResult.Success();
}

/// <summary>Options of the commands that run a model (train, evaluate, predict, pretrain): its model options plus the speed options.</summary>
internal class RunSettings : ModelSettings
{
    [CommandOption("--mixed-precision")]
    [Description("Compute the encoder's matmuls and attention in bfloat16 on float32 weights: faster on CUDA and on CPUs with AVX512-BF16 or AMX; elsewhere the run stays float32 and says why.")]
    public bool MixedPrecision { get; init; }

    [CommandOption("--threads <N>")]
    [Description("libtorch's intra-op threads (default: libtorch's, one per physical core). Use fewer when other processes share the cores.")]
    public int? Threads { get; init; }

    public override ValidationResult Validate() =>
        base.Validate() is { Successful: false } failed ? failed
        : Threads is { } threads && Runtime.TorchThreads.Problem(threads) is { } problem ? ValidationResult.Error($"--threads {threads}: {problem}")
        : ValidationResult.Success();
}
