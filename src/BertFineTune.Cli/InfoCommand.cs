using BertFineTune.Builder;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary><c>info</c>: what a checkpoint is.</summary>
internal sealed class InfoCommand : Command<ModelSettings>
{
    public override int Execute(CommandContext context, ModelSettings settings, CancellationToken cancellationToken)
    {
        using var model = CliException.During(ErrorKind.Model, () => BertModelBuilder.FromPretrained(settings.Model!).UseLoggerFactory(WarningLog.ToStandardError).Build(cancellationToken: cancellationToken));
        var config = model.Model.Config;
        var rows = new List<(string Name, string Value)>();
        void Row(string name, object? value) => rows.Add((name, value?.ToString() ?? "-"));
        if (Directory.Exists(settings.Model))
        {
            Row("folder", Path.GetFullPath(settings.Model));
        }
        else
        {
            Row("hub id", settings.Model);
        }
        Row("architecture", model.Model.Head.ArchitectureName);
        Row("head", model.Model.Head.GetType().Name);
        Row("labels", model.Labels.Count == 0 ? "-" : string.Join(", ", model.Labels));
        Row("problem type", config.ProblemType);
        if (model.Model.Head is Heads.SequenceClassificationHead or Heads.MultipleChoiceHead)
        {
            Row("classifier pooling", config.ClassifierPooling.ToString().ToLowerInvariant());
        }
        Row("layers", config.NumHiddenLayers);
        Row("hidden size", config.HiddenSize);
        Row("attention heads", config.NumAttentionHeads);
        Row("intermediate size", config.IntermediateSize);
        Row("activation", config.HiddenAct);
        Row("max positions", config.MaxPositionEmbeddings);
        Row("vocabulary (model)", config.VocabSize);
        Row("parameters", model.Model.parameters().Sum(p => p.numel()).ToString("N0", System.Globalization.CultureInfo.InvariantCulture));
        Row("tokenizer vocabulary", model.Tokenizer.VocabularySize);
        Row("lower-case", model.Tokenizer.Options.DoLowerCase);
        Row("strip accents", model.Tokenizer.Options.EffectiveStripAccents);
        Row("max sequence length", model.MaxSequenceLength);
        Row("load report", model.Model.LoadReport);
        Terminal.WriteRows("model", rows, "property", "value");
        return 0;
    }
}
