using System.ComponentModel;
using BertFineTune.Checkpoints.Hub;
using Spectre.Console;
using Spectre.Console.Cli;

namespace BertFineTune.Cli;

/// <summary>Options of <c>download</c>.</summary>
internal sealed class DownloadSettings : CommonSettings
{
    [CommandArgument(0, "<REPO_ID>")]
    [Description("Hub model id, e.g. google-bert/bert-base-uncased.")]
    public string RepoId { get; init; } = string.Empty;

    [CommandOption("--revision <REVISION>")]
    [Description("Branch, tag or commit.")]
    [DefaultValue("main")]
    public string Revision { get; init; } = "main";

    [CommandOption("--cache-dir <FOLDER>")]
    [Description("Cache root (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub).")]
    public string? CacheDirectory { get; init; }

    [CommandOption("--check-for-updates")]
    [Description("Ask the Hub for the branch's newest commit even when it is cached.")]
    public bool CheckForUpdates { get; init; }

    // huggingface_hub's validate_repo_id (utils/_validators.py), checked before anything is read: a path such as
    // ../../etc is not an id, and download never answers with a local folder.
    public override ValidationResult Validate() =>
        base.Validate() is { Successful: false } failed ? failed
        : HubModelResolver.IsHubId(RepoId) ? ValidationResult.Success()
        : ValidationResult.Error($"'{RepoId}' is not a Hugging Face Hub id: an id is 'name' or 'namespace/name' (one '/' at most) of "
            + "letters, digits, '-', '_' and '.', with no '--' or '..', not starting or ending with '-' or '.', not ending with '.git', "
            + "the name at most 96 characters (huggingface_hub's validate_repo_id). A local model folder needs no download: give it to --model.");
}

/// <summary><c>download</c>: fetch a model into the cache Python shares; the snapshot folder is the last line.</summary>
internal sealed class DownloadCommand : Command<DownloadSettings>
{
    public override int Execute(CommandContext context, DownloadSettings settings, CancellationToken cancellationToken)
    {
        using var resolver = new HubModelResolver(new HubOptions
        {
            Revision = settings.Revision,
            CacheDirectory = settings.CacheDirectory,
            CheckForUpdates = settings.CheckForUpdates,
        });
        string folder;
        if (Terminal.IsPlain)
        {
            // One line per file, when its download starts; no redrawn bars in a log.
            var started = new HashSet<string>(StringComparer.Ordinal);
            folder = resolver.Download(settings.RepoId, new Reporter(p =>
            {
                if (started.Add(p.FileName))
                {
                    Terminal.WriteLine(p.BytesTotal is { } total ? $"downloading {p.FileName} ({total:N0} bytes)" : $"downloading {p.FileName}");
                }
            }), cancellationToken);
        }
        else
        {
            folder = string.Empty;
            AnsiConsole.Progress().AutoClear(true)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new DownloadedColumn(), new TransferSpeedColumn())
                .Start(progressContext =>
                {
                    var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                    var progress = new Reporter(p =>
                    {
                        if (!tasks.TryGetValue(p.FileName, out var task))
                        {
                            task = progressContext.AddTask(Markup.Escape(p.FileName), maxValue: Math.Max(1, p.BytesTotal ?? 1));
                            tasks[p.FileName] = task;
                        }
                        task.MaxValue = Math.Max(1, p.BytesTotal ?? p.BytesDone);
                        task.Value = p.BytesDone;
                    });
                    folder = resolver.Download(settings.RepoId, progress, cancellationToken);
                });
        }
        Console.WriteLine(folder);
        return 0;
    }

    private sealed class Reporter(Action<DownloadProgress> report) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value) => report(value);
    }
}
