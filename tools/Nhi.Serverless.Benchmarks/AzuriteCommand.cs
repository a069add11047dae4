using System.CommandLine;

namespace Nhi.Serverless.Benchmarks;

/// <summary>
/// Starts an empty Azurite of the benchmark's own for a host that run.sh starts, prints its connection string as
/// NHI_AZURE_STORAGE_CONNECTION_STRING=... on one line, and stops it on SIGTERM or Ctrl+C.
/// </summary>
public static class AzuriteCommand
{
    public static Command Create()
    {
        var inMemory = new Option<bool>("--in-memory") { Description = "Keep Azurite's data in memory only (--inMemoryPersistence)." };
        var binary = new Option<string?>("--azurite") { Description = $"The Azurite binary; default: {LocalAzurite.RelativeBinaryPath} below the current folder or a parent." };
        var command = new Command("azurite", "Run an empty Azurite on free ports of 127.0.0.1 until stopped, printing its connection string.")
        {
            inMemory, binary,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string path = parse.GetValue(binary) ?? LocalAzurite.FindBinary()
                ?? throw new InvalidOperationException($"Azurite is not installed at {LocalAzurite.RelativeBinaryPath}; run infra/local/stack.sh install.");
            await using LocalAzurite azurite = await LocalAzurite.StartAsync(path, cancellationToken, parse.GetValue(inMemory));
            Console.WriteLine($"NHI_AZURE_STORAGE_CONNECTION_STRING={azurite.ConnectionString}");
            Console.Error.WriteLine($"azurite: {azurite.Version} running as process {azurite.ProcessId}{(parse.GetValue(inMemory) ? " with its data in memory" : "")}");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Stopped by SIGTERM or Ctrl+C; disposing stops Azurite.
            }

            return 0;
        });
        return command;
    }
}
