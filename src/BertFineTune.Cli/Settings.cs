using System.ComponentModel;
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
    [CommandOption("-m|--model <PATH>")]
    [Description("Model folder (Hugging Face layout).")]
    public string? Model { get; init; }

    [CommandOption("--device <DEVICE>")]
    [Description("cpu (default), cuda or cuda:N.")]
    [DefaultValue("cpu")]
    public string Device { get; init; } = "cpu";

    [CommandOption("--max-length <TOKENS>")]
    [Description("Longest input in tokens (default: the model's).")]
    public int? MaxLength { get; init; }

    public override Spectre.Console.ValidationResult Validate() =>
        string.IsNullOrWhiteSpace(Model)
            ? Spectre.Console.ValidationResult.Error("--model is required: give a model folder.")
            : Spectre.Console.ValidationResult.Success();
}
