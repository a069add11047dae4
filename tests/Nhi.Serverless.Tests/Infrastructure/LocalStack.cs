using System.Runtime.CompilerServices;

namespace Nhi.Serverless.Tests.Infrastructure;

/// <summary>
/// Settings of the local stack (Ceph RGW and Azurite) that infra/local/stack.sh started: environment
/// variables first, then the stack's environment file.
/// </summary>
public static class LocalStack
{
    private static readonly Lazy<IReadOnlyDictionary<string, string>> FileValues = new(ReadStackFile);

    private static readonly Lazy<string> Root = new(FindRepositoryRoot);

    /// <summary>The repository root: the folder that holds Nhi.Serverless.sln.</summary>
    public static string RepositoryRoot => Root.Value;

    /// <summary>The stack's work folder with stack.env and the service logs: NHI_STACK_DIR, else .stack in the repository.</summary>
    public static string WorkFolder => Environment.GetEnvironmentVariable("NHI_STACK_DIR") ?? Path.Combine(RepositoryRoot, ".stack");

    /// <summary>Returns the setting, or fails the test with the command that provides it.</summary>
    public static string Get(string key)
    {
        string? value = Environment.GetEnvironmentVariable(key);
        if (!string.IsNullOrEmpty(value))
        {
            return value;
        }

        if (FileValues.Value.TryGetValue(key, out string? fromFile) && !string.IsNullOrEmpty(fromFile))
        {
            return fromFile;
        }

        throw new InvalidOperationException(
            $"Local stack setting {key} is missing. Start the stack with `infra/local/stack.sh up` (./test.sh does this).");
    }

    private static IReadOnlyDictionary<string, string> ReadStackFile()
    {
        string path = Path.Combine(WorkFolder, "stack.env");
        if (!File.Exists(path))
        {
            return new Dictionary<string, string>();
        }

        Dictionary<string, string> values = [];
        foreach (string line in File.ReadAllLines(path))
        {
            int equals = line.IndexOf('=', StringComparison.Ordinal);
            if (line.StartsWith('#') || equals <= 0)
            {
                continue;
            }

            values[line[..equals].Trim()] = line[(equals + 1)..].Trim().Trim('"', '\'');
        }

        return values;
    }

    private static string FindRepositoryRoot()
    {
        // A build with --artifacts-path puts the test binaries outside the repository, so the folder
        // of this source file, as the compiler recorded it, is the second place to look.
        string[] starts = [AppContext.BaseDirectory, SourceDirectory()];
        foreach (string start in starts)
        {
            for (DirectoryInfo? directory = new(start); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "Nhi.Serverless.sln")))
                {
                    return directory.FullName;
                }
            }
        }

        throw new InvalidOperationException($"No Nhi.Serverless.sln above {string.Join(" or ", starts)}.");
    }

    private static string SourceDirectory([CallerFilePath] string sourceFile = "") =>
        Path.GetDirectoryName(sourceFile) ?? ".";
}
