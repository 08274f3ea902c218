using System.Runtime.InteropServices;

namespace BertFineTune.Checkpoints;

/// <summary>What a path names, as POSIX <c>stat(2)</c> tells it (<c>st_mode &amp; S_IFMT</c>), symbolic links followed.</summary>
internal enum FileKind
{
    /// <summary>Nothing exists at the path.</summary>
    Missing,

    /// <summary>A regular file (<c>S_IFREG</c>): the only kind a weights file may be.</summary>
    Regular,

    /// <summary>A directory (<c>S_IFDIR</c>).</summary>
    Directory,

    /// <summary>A named pipe (<c>S_IFIFO</c>): opening it for reading blocks until a writer comes, and it has no length.</summary>
    Fifo,

    /// <summary>A character device (<c>S_IFCHR</c>), such as <c>/dev/zero</c>.</summary>
    CharacterDevice,

    /// <summary>A block device (<c>S_IFBLK</c>).</summary>
    BlockDevice,

    /// <summary>A Unix domain socket (<c>S_IFSOCK</c>).</summary>
    Socket,

    /// <summary>Something else, or a non-directory whose kind this platform cannot tell (Windows, or no stat available).</summary>
    Unknown,
}

/// <summary>
/// Tells a regular file from the other kinds of file system entry before a reader opens it: opening a FIFO blocks until
/// some process writes to it, and a device or FIFO has no length, so neither can be a model file (weights, config.json,
/// tokenizer files).
/// </summary>
internal static partial class FileKinds
{
    // POSIX st_mode file-type bits; .NET's native shim (SystemNative_Stat, the call behind FileSystemInfo on Unix) reports
    // them with these values on every Unix it supports, whatever the C library's own numbering.
    private const int TypeMask = 0xF000;
    private const int Fifo = 0x1000;
    private const int CharacterDevice = 0x2000;
    private const int Directory = 0x4000;
    private const int BlockDevice = 0x6000;
    private const int Regular = 0x8000;
    private const int Socket = 0xC000;

    /// <summary>The kind of entry at <paramref name="path"/> (links followed).</summary>
    public static FileKind Of(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (System.IO.Directory.Exists(path))
        {
            return FileKind.Directory;
        }
        if (!File.Exists(path))
        {
            return FileKind.Missing;
        }
        if (OperatingSystem.IsWindows())
        {
            // Windows has no FIFOs or devices inside a folder a user names; File.Exists is true for files only.
            return FileKind.Regular;
        }
        try
        {
            // The native FileStatus struct starts with int32 Flags, int32 Mode; the buffer is larger than the whole struct.
            var status = new byte[512];
            if (Stat(path, status) != 0)
            {
                return FileKind.Unknown;
            }
            return (BitConverter.ToInt32(status, 4) & TypeMask) switch
            {
                Regular => FileKind.Regular,
                Directory => FileKind.Directory,
                Fifo => FileKind.Fifo,
                CharacterDevice => FileKind.CharacterDevice,
                BlockDevice => FileKind.BlockDevice,
                Socket => FileKind.Socket,
                _ => FileKind.Unknown,
            };
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return FileKind.Unknown;
        }
    }

    /// <summary>How a message names <paramref name="kind"/>.</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Missing => "missing",
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a directory",
        FileKind.Fifo => "a FIFO (named pipe)",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Socket => "a socket",
        _ => "not a regular file",
    };

    /// <summary>
    /// Throws unless <paramref name="path"/> is a regular file. An entry of unknown kind passes only when its length is
    /// not zero: FIFOs, sockets and devices report length 0, and an empty file cannot be a checkpoint anyway.
    /// </summary>
    /// <param name="path">The file about to be opened.</param>
    /// <param name="what">What the file should be, for the message, e.g. "a safetensors weights file".</param>
    /// <exception cref="FileNotFoundException">Nothing exists at <paramref name="path"/>.</exception>
    /// <exception cref="IOException">The entry is a directory, FIFO, device or socket; the message names the path and the kind.</exception>
    public static void RequireRegular(string path, string what)
    {
        var kind = Of(path);
        if (kind == FileKind.Missing)
        {
            throw new FileNotFoundException($"{path}: not found; {what} was expected there.", path);
        }
        if (kind == FileKind.Regular || (kind == FileKind.Unknown && new FileInfo(path).Length > 0))
        {
            return;
        }
        throw new IOException(
            $"{path} is {Describe(kind)}, not a regular file: {what} must be a regular file. Replace it with the file itself "
            + "(a symbolic link to a regular file is fine); a pipe or device cannot be read as a model file.");
    }

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, [Out] byte[] status);
}
