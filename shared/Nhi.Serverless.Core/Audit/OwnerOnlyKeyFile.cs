using System.Security.Cryptography;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Reads a key file, or creates it when missing, so that only its owner can read it: the directory
/// gets mode 0700 when this creates it, the file gets mode 0600, and an existing file is never
/// overwritten by <see cref="ReadOrCreate"/>.
/// </summary>
/// <remarks>On Windows the modes are not applied; the file inherits the directory's ACL.</remarks>
public static class OwnerOnlyKeyFile
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Returns the file's text, creating the file first with the text from <paramref name="createContents"/> when it does not exist.</summary>
    /// <param name="path">The key file path.</param>
    /// <param name="description">What the key is, for error messages, such as "audit signing key".</param>
    /// <param name="createContents">Makes the text of a new key.</param>
    /// <param name="created">True when this call created the file.</param>
    /// <exception cref="InvalidOperationException">The existing file can be read by group or others.</exception>
    public static string ReadOrCreate(string path, string description, Func<string> createContents, out bool created)
    {
        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath)
            ?? throw new ArgumentException($"The {description} path '{path}' has no directory.", nameof(path));

        if (File.Exists(fullPath))
        {
            created = false;
            return ReadExisting(fullPath, description);
        }

        EnsureDirectory(directory);

        // Write a temporary file and move it into place without overwriting, so a reader never sees a
        // half-written key. When another process created the file in the meantime, its key is used.
        string temporaryPath = TemporaryPathFor(fullPath);
        try
        {
            string contents = createContents();
            WriteOwnerOnly(temporaryPath, contents);
            try
            {
                File.Move(temporaryPath, fullPath, overwrite: false);
            }
            catch (IOException) when (File.Exists(fullPath))
            {
                created = false;
                return ReadExisting(fullPath, description);
            }

            created = true;
            return contents;
        }
        finally
        {
            File.Delete(temporaryPath);
        }
    }

    /// <summary>Writes <paramref name="contents"/> to the file owner-only, replacing a file that is there, so a
    /// reader sees the old or the new text and never a part of it.</summary>
    public static void Replace(string path, string contents)
    {
        string fullPath = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(fullPath)
            ?? throw new ArgumentException($"The path '{path}' has no directory.", nameof(path));
        EnsureDirectory(directory);

        string temporaryPath = TemporaryPathFor(fullPath);
        try
        {
            WriteOwnerOnly(temporaryPath, contents);
            File.Move(temporaryPath, fullPath, overwrite: true);
        }
        finally
        {
            File.Delete(temporaryPath);
        }
    }

    private static string TemporaryPathFor(string fullPath) =>
        Path.Combine(Path.GetDirectoryName(fullPath)!, $".{Path.GetFileName(fullPath)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.tmp");

    private static void EnsureDirectory(string directory)
    {
        if (Directory.Exists(directory))
        {
            return;
        }

        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }

        Directory.CreateDirectory(directory, OwnerOnlyDirectory);

        // The process umask can only remove bits, but set the mode explicitly in case it was created
        // by someone else between the check and the call.
        File.SetUnixFileMode(directory, OwnerOnlyDirectory);
    }

    private static void WriteOwnerOnly(string path, string contents)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerReadWrite;
        }

        using (var stream = new FileStream(path, options))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(contents);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, OwnerReadWrite);
        }
    }

    private static string ReadExisting(string path, string description)
    {
        if (!OperatingSystem.IsWindows())
        {
            UnixFileMode mode = File.GetUnixFileMode(path);
            if ((mode & GroupOrOther) != 0)
            {
                throw new InvalidOperationException(
                    $"The {description} file '{path}' has mode {FormatMode(mode)}, so users other than its owner can access it. " +
                    $"Restrict it with 'chmod 600 {path}' and start again.");
            }
        }

        return File.ReadAllText(path);
    }

    /// <summary>Formats the permission bits as the four octal digits chmod uses, such as "0644".</summary>
    internal static string FormatMode(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8).PadLeft(3, '0');
}
