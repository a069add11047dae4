using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Azure.Data.Tables.Models;

namespace Nhi.Serverless.Benchmarks;

/// <summary>
/// An Azurite process of the benchmark's own, on free ports of 127.0.0.1 with its data in a new temporary
/// folder, so a measurement does not depend on what the shared Azurite has stored. Disposing it kills the
/// process by its id and deletes the folder.
/// </summary>
public sealed class LocalAzurite : IAsyncDisposable
{
    /// <summary>Where Azurite is below the repository root, as infra/local/stack.sh installs it.</summary>
    public const string RelativeBinaryPath = "infra/local/node_modules/.bin/azurite";

    // devstoreaccount1 and this key are the fixed development credentials that Azurite and the Azure
    // Storage SDKs document. They grant access to a local emulator only.
    private const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly string _dataDirectory;

    private readonly int[] _ports;
    private readonly ConcurrentQueue<string> _output;

    private LocalAzurite(Process process, string dataDirectory, int[] ports, string version, ConcurrentQueue<string> output)
    {
        _output = output;
        _process = process;
        _dataDirectory = dataDirectory;
        _ports = ports;
        Version = version;
    }

    /// <summary>The port of Azurite's Table service.</summary>
    public int TablePort => _ports[2];

    /// <summary>The process id, for the log.</summary>
    public int ProcessId => _process.Id;

    /// <summary>The installed Azurite version, from its package.json, or "unknown".</summary>
    public string Version { get; }

    /// <summary>The connection string of the development account on this Azurite's Blob, Queue and Table services.</summary>
    public string ConnectionString => string.Create(CultureInfo.InvariantCulture,
        $"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DevelopmentAccountKey};BlobEndpoint=http://127.0.0.1:{_ports[0]}/devstoreaccount1;QueueEndpoint=http://127.0.0.1:{_ports[1]}/devstoreaccount1;TableEndpoint=http://127.0.0.1:{TablePort}/devstoreaccount1;");

    /// <summary>Returns the Azurite binary below the current folder or one of its parents, or null when none is installed.</summary>
    public static string? FindBinary()
    {
        for (DirectoryInfo? folder = new(Environment.CurrentDirectory); folder is not null; folder = folder.Parent)
        {
            string candidate = Path.Combine(folder.FullName, RelativeBinaryPath);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Starts Azurite with the flags of infra/local/azurite.sh and waits until its Table service responds.</summary>
    /// <param name="inMemory">Keep the data in memory only (--inMemoryPersistence). On disk, Azurite rewrites its whole
    /// table file every 5 seconds on its only thread, which pauses every request for as long as that takes.</param>
    /// <exception cref="InvalidOperationException">Azurite exited or did not respond within 30 s.</exception>
    public static async Task<LocalAzurite> StartAsync(string binary, CancellationToken cancellationToken, bool inMemory = false)
    {
        string dataDirectory = Directory.CreateTempSubdirectory("nhi-bench-azurite-").FullName;
        int[] ports = FreePorts(3);
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[]
        {
            "--blobHost", "127.0.0.1", "--blobPort", ports[0].ToString(CultureInfo.InvariantCulture),
            "--queueHost", "127.0.0.1", "--queuePort", ports[1].ToString(CultureInfo.InvariantCulture),
            "--tableHost", "127.0.0.1", "--tablePort", ports[2].ToString(CultureInfo.InvariantCulture),
            "--disableTelemetry", "--skipApiVersionCheck",
        })
        {
            start.ArgumentList.Add(argument);
        }

        // Azurite refuses a data folder together with in-memory persistence.
        foreach (string argument in inMemory ? ["--inMemoryPersistence"] : new[] { "--location", dataDirectory })
        {
            start.ArgumentList.Add(argument);
        }

        Process process = Process.Start(start) ?? throw new InvalidOperationException($"Failed to start Azurite at {binary}.");

        // Azurite's output is kept only to explain a failed start, but a full pipe would stall it.
        var output = new ConcurrentQueue<string>();
        void Keep(object sender, DataReceivedEventArgs line)
        {
            if (line.Data is { } text && output.Count < 50)
            {
                output.Enqueue(text);
            }
        }

        process.OutputDataReceived += Keep;
        process.ErrorDataReceived += Keep;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var azurite = new LocalAzurite(process, dataDirectory, ports, ReadVersion(binary), output);
        try
        {
            await azurite.WaitUntilReadyAsync(cancellationToken);
            return azurite;
        }
        catch
        {
            await azurite.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the Azurite process by its id and deletes its data folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Console.WriteLine($"azurite: stopping process {_process.Id}");
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        Directory.Delete(_dataDirectory, recursive: true);
    }

    private async Task WaitUntilReadyAsync(CancellationToken cancellationToken)
    {
        var options = new TableClientOptions();
        options.Retry.MaxRetries = 0;
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(2);
        var client = new TableServiceClient(ConnectionString, options);
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException(
                    $"Azurite exited with code {_process.ExitCode} before its Table service on 127.0.0.1:{TablePort} responded. Its output: {string.Join(" | ", _output)}");
            }

            try
            {
                await foreach (Page<TableItem> page in client.QueryAsync(maxPerPage: 1, cancellationToken: cancellationToken).AsPages())
                {
                    break;
                }

                return;
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or AggregateException && stopwatch.Elapsed < StartTimeout)
            {
                await Task.Delay(200, cancellationToken);
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or AggregateException)
            {
                throw new InvalidOperationException($"Azurite's Table service on 127.0.0.1:{TablePort} did not respond within {StartTimeout.TotalSeconds:F0} s: {ex.Message}", ex);
            }
        }
    }

    /// <summary>Returns distinct ports that were free on 127.0.0.1 a moment ago.</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            listeners.ForEach(listener => listener.Start());
            return listeners.Select(listener => ((IPEndPoint)listener.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            listeners.ForEach(listener => listener.Stop());
        }
    }

    /// <summary>Reads the version from node_modules/azurite/package.json next to node_modules/.bin/azurite.</summary>
    private static string ReadVersion(string binary)
    {
        string packageJson = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(binary))!, "..", "azurite", "package.json");
        if (!File.Exists(packageJson))
        {
            return "unknown";
        }

        using JsonDocument package = JsonDocument.Parse(File.ReadAllText(packageJson));
        return package.RootElement.TryGetProperty("version", out JsonElement version) ? version.GetString() ?? "unknown" : "unknown";
    }
}
