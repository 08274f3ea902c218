using System.Diagnostics;
using System.Net.Sockets;
using BertFineTune.Builder;
using BertFineTune.Checkpoints;
using BertFineTune.Heads;
using BertFineTune.Tests.Training;
using static TorchSharp.torch;

namespace BertFineTune.Tests.Checkpoints;

/// <summary>
/// Issue 15, item 7: the kind of file a weights path names, checked before opening (POSIX <c>stat</c> file types:
/// regular file required; directory, FIFO, character device, socket refused by name; POSIX systems only, as this suite), and a weights file that changes
/// size while it is loaded (read with positioned reads, not mapped: an error instead of SIGBUS).
/// </summary>
public sealed class WeightsFileKindTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>A copy of the seq_cls fixture (config, weights, tokenizer) to break one file of.</summary>
    private string CopyOfSeqCls()
    {
        var folder = _folder.File("model");
        Directory.CreateDirectory(folder);
        foreach (var file in Directory.GetFiles(Fixtures.Model("seq_cls")))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }
        return folder;
    }

    private static void MakeFifo(string path)
    {
        using var process = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    /// <summary>Writes a small valid safetensors file with three tensors.</summary>
    private string SmallWeights(string name = "w.safetensors")
    {
        var path = _folder.File(name);
        using var a = arange(0, 1024, dtype: ScalarType.Float32);
        using var b = ones(64, 16);
        using var c = zeros(256);
        SafeTensorsWriter.Write(path, [new("a", a), new("b", b), new("c", c)]);
        return path;
    }

    [Fact]
    public void Kinds_are_those_stat_reports()
    {
        var regular = SmallWeights();
        var link = _folder.File("link.safetensors");
        File.CreateSymbolicLink(link, regular);
        var fifo = _folder.File("fifo");
        MakeFifo(fifo);
        var socketPath = _folder.File("sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));

        Assert.Equal(FileKind.Regular, FileKinds.Of(regular));
        Assert.Equal(FileKind.Regular, FileKinds.Of(link)); // links are followed, as the Hub cache's snapshot links are
        Assert.Equal(FileKind.Directory, FileKinds.Of(_folder.Path));
        Assert.Equal(FileKind.Fifo, FileKinds.Of(fifo));
        Assert.Equal(FileKind.CharacterDevice, FileKinds.Of("/dev/null"));
        Assert.Equal(FileKind.Socket, FileKinds.Of(socketPath));
        Assert.Equal(FileKind.Missing, FileKinds.Of(_folder.File("absent")));
    }

    public static TheoryData<string, string> NonRegularKinds => new()
    {
        { "directory", "a directory" },
        { "fifo", "a FIFO (named pipe)" },
        { "character device", "a character device" },
        { "socket", "a socket" },
    };

    /// <summary>Puts an entry of <paramref name="kind"/> at <paramref name="path"/> (a device through a symbolic link to /dev/null).</summary>
    private static IDisposable? MakeEntry(string kind, string path)
    {
        switch (kind)
        {
            case "directory":
                Directory.CreateDirectory(path);
                return null;
            case "fifo":
                MakeFifo(path);
                return null;
            case "character device":
                File.CreateSymbolicLink(path, "/dev/null");
                return null;
            default:
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                socket.Bind(new UnixDomainSocketEndPoint(path));
                return socket;
        }
    }

    /// <summary>
    /// The examples (a FIFO named model.safetensors hung; a directory of that name said "no model.safetensors")
    /// and the other non-regular kinds: loading the folder refuses, naming the path and its kind, without opening it.
    /// </summary>
    [Theory]
    [MemberData(nameof(NonRegularKinds))]
    public void A_model_safetensors_that_is_not_a_regular_file_is_refused_by_kind(string kind, string description)
    {
        var folder = CopyOfSeqCls();
        var weights = Path.Combine(folder, "model.safetensors");
        File.Delete(weights);
        using var entry = MakeEntry(kind, weights);

        // Were the FIFO opened for reading, the open would block until a writer came; none comes, so a regression hangs
        // here rather than passing.
        var error = Assert.Throws<IOException>(() => BertForTask.LoadFolder(folder).Dispose());
        Assert.Contains(weights, error.Message, StringComparison.Ordinal);
        Assert.Contains($"is {description}, not a regular file", error.Message, StringComparison.Ordinal);

        var viaBuilder = Assert.ThrowsAny<IOException>(() => BertModelBuilder.FromPretrained(folder).Build().Dispose());
        Assert.Contains(description, viaBuilder.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The same kind for the model's other files, read before the weights: a config.json, vocab.txt or tokenizer.json that
    /// is a FIFO, device or socket is refused by kind (a FIFO opened for reading would block with no writer to come).
    /// </summary>
    [Theory]
    [InlineData("config.json", "fifo", "a FIFO (named pipe)")]
    [InlineData("config.json", "character device", "a character device")]
    [InlineData("config.json", "socket", "a socket")]
    [InlineData("vocab.txt", "fifo", "a FIFO (named pipe)")]
    [InlineData("vocab.txt", "socket", "a socket")]
    [InlineData("tokenizer.json", "fifo", "a FIFO (named pipe)")]
    [InlineData("tokenizer.json", "character device", "a character device")]
    public void A_config_or_tokenizer_file_that_is_not_a_regular_file_is_refused_by_kind(string file, string kind, string description)
    {
        var folder = CopyOfSeqCls();
        var path = Path.Combine(folder, file);
        File.Delete(path);
        if (file == "vocab.txt")
        {
            // The builder reads tokenizer.json when there is one; without it, vocab.txt.
            File.Delete(Path.Combine(folder, "tokenizer.json"));
        }
        using var entry = MakeEntry(kind, path);

        var error = Assert.ThrowsAny<Exception>(() => BertModelBuilder.FromPretrained(folder).Build().Dispose());
        var message = error.ToString();
        Assert.Contains(path, message, StringComparison.Ordinal);
        Assert.Contains($"is {description}, not a regular file", message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(NonRegularKinds))]
    public void A_shard_or_an_index_that_is_not_a_regular_file_is_refused_by_kind(string kind, string description)
    {
        var folder = _folder.File("sharded");
        Directory.CreateDirectory(folder);
        var index = Path.Combine(folder, "model.safetensors.index.json");
        File.WriteAllText(index, """{"weight_map": {"a": "model-00001-of-00001.safetensors"}}""");
        var shard = Path.Combine(folder, "model-00001-of-00001.safetensors");
        using (var shardEntry = MakeEntry(kind, shard))
        {
            var error = Assert.Throws<IOException>(() => SafeTensorsCheckpoint.OpenSharded(index).Dispose());
            Assert.Contains(shard, error.Message, StringComparison.Ordinal);
            Assert.Contains(description, error.Message, StringComparison.Ordinal);
        }

        var indexFolder = _folder.File("index-kind");
        Directory.CreateDirectory(indexFolder);
        var badIndex = Path.Combine(indexFolder, "model.safetensors.index.json");
        using var indexEntry = MakeEntry(kind, badIndex);
        var indexError = Assert.Throws<IOException>(() => SafeTensorsCheckpoint.OpenFolder(indexFolder).Dispose());
        Assert.Contains(badIndex, indexError.Message, StringComparison.Ordinal);
        Assert.Contains(description, indexError.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_weights_file_reached_through_a_symbolic_link_loads()
    {
        var folder = CopyOfSeqCls();
        var weights = Path.Combine(folder, "model.safetensors");
        var blob = _folder.File("blob");
        File.Move(weights, blob);
        File.CreateSymbolicLink(weights, blob);
        using var model = BertForTask.LoadFolder(folder);
        Assert.True(model.LoadReport!.IsExactMatch, model.LoadReport.ToString());
    }

    /// <summary>
    /// The example: a weights file truncated by another process while it is being loaded ended the process with
    /// SIGBUS (the file was memory-mapped). Run in a child process (tests/BertFineTune.TestHost read-truncated), so that a
    /// crash fails this test instead of killing the test runner: the host must exit 0 after the reader reported the change.
    /// </summary>
    [Fact]
    public async Task A_weights_file_truncated_while_loading_is_an_error_not_a_crash()
    {
        var path = SmallWeights();
        var start = new ProcessStartInfo(CheckpointCrashTests.DotnetExecutable(), [CheckpointCrashTests.HostAssembly(), "read-truncated", path])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var host = Process.Start(start)!;
        var errorTask = host.StandardError.ReadToEndAsync();
        var output = await host.StandardOutput.ReadToEndAsync();
        await host.WaitForExitAsync();
        var error = await errorTask;
        // 128 + 7 (SIGBUS) or 134 (SIGABRT) is what a crash reports; 3 means the truncation went unnoticed.
        Assert.True(host.ExitCode == 0, $"host exit code {host.ExitCode}; stdout: {output}; stderr: {error}");
        Assert.Contains(path, output, StringComparison.Ordinal);
        Assert.Contains("another process changed it while it was being loaded", output, StringComparison.Ordinal);
    }

    /// <summary>The other change of size, growth (an in-place rewrite that is longer), is refused as well: no tensor is read from a file whose header no longer describes it.</summary>
    [Fact]
    public void A_weights_file_that_grows_while_loading_is_an_error_naming_the_tensor()
    {
        var path = SmallWeights();
        using var file = SafeTensorsFile.Open(path);
        long before = new FileInfo(path).Length;
        file.ReadTensor("a").Dispose();
        using (var writer = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
        {
            writer.Write(new byte[100]);
        }
        var error = Assert.Throws<SafeTensorsFormatException>(() => file.ReadTensor("b").Dispose());
        Assert.Equal("b", error.TensorName);
        Assert.Contains($"was {before} bytes long when opened and is {before + 100} now", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A file replaced by rename (how this library and transformers save) does not disturb a reader that has it open: it keeps reading the old file.</summary>
    [Fact]
    public void A_weights_file_replaced_by_rename_while_loading_keeps_reading_the_opened_file()
    {
        var path = SmallWeights();
        using var file = SafeTensorsFile.Open(path);
        var other = _folder.File("other.safetensors");
        using (var x = full(5, 7f))
        {
            SafeTensorsWriter.Write(other, [new("x", x)]);
        }
        File.Move(other, path, overwrite: true);
        using var a = file.ReadTensor("a");
        Assert.Equal(1023f, a[1023].item<float>());
    }
}
