using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Ledger;

/// <summary>
/// The real local host (tools/Nhi.Serverless.LocalHost) as a child process on 127.0.0.1, with the local stack's
/// settings, so a test can kill it with SIGKILL and start it again.
/// </summary>
public sealed class LocalHostProcess : IAsyncDisposable
{
    private static readonly SemaphoreSlim BuildLock = new(1, 1);
    private static string? _builtDll;

    private readonly Process _process;
    private readonly StringBuilder _output;
    private bool _disposed;

    private LocalHostProcess(Process process, StringBuilder output, Uri baseAddress)
    {
        _process = process;
        ProcessId = process.Id;
        _output = output;
        BaseAddress = baseAddress;
        Http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    public Uri BaseAddress { get; }

    public HttpClient Http { get; }

    public int ProcessId { get; }

    /// <summary>Everything the host wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Builds the local host once per test run, into a folder of its own.</summary>
    public static async Task<string> BuildAsync()
    {
        await BuildLock.WaitAsync();
        try
        {
            if (_builtDll is not null)
            {
                return _builtDll;
            }

            string artifacts = Path.Combine(Path.GetTempPath(), "nhi-fault-host-build");
            string project = Path.Combine(LocalStack.RepositoryRoot, "tools", "Nhi.Serverless.LocalHost");
            (int exitCode, string output) = await RunAsync("dotnet", ["build", project, "-nologo", "-v", "quiet", "--artifacts-path", artifacts]);
            Assert.True(exitCode == 0, $"Building the local host failed with exit code {exitCode}:\n{output}");

            _builtDll = Path.Combine(artifacts, "bin", "Nhi.Serverless.LocalHost", "debug", "Nhi.Serverless.LocalHost.dll");
            Assert.True(File.Exists(_builtDll), $"The local host build did not produce {_builtDll}.");
            return _builtDll;
        }
        finally
        {
            BuildLock.Release();
        }
    }

    /// <summary>Starts the host with the stack's environment plus <paramref name="settings"/> and waits for /healthz.</summary>
    /// <param name="settings">Configuration keys such as "Durable:TaskHubName", passed as environment variables.</param>
    public static async Task<LocalHostProcess> StartAsync(IReadOnlyDictionary<string, string> settings)
    {
        string dll = await BuildAsync();
        int port = FreePort();
        var baseAddress = new Uri($"http://127.0.0.1:{port}");

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(baseAddress.ToString().TrimEnd('/'));
        foreach ((string key, string value) in StackEnvironment())
        {
            start.Environment[key] = value;
        }

        start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";

        // A free HTTPS port, and a certificate folder apart from the stack's, which belongs to the stack's own host.
        start.Environment["Https__Port"] = "0";
        start.Environment["Https__CertificateDirectory"] = Path.Combine(Path.GetTempPath(), "nhi-fault-host-tls");
        start.Environment["NHI_SCOPE_PROBE_BUCKET"] = LocalStack.Get("NHI_BYSTANDER_BUCKET");
        foreach ((string key, string value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        var output = new StringBuilder();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, line) => Append(output, line.Data);
        process.ErrorDataReceived += (_, line) => Append(output, line.Data);
        Assert.True(process.Start(), "The local host process did not start.");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var host = new LocalHostProcess(process, output, baseAddress);
        await host.WaitUntilHealthyAsync(TimeSpan.FromSeconds(60));
        return host;
    }

    /// <summary>Kills the host with SIGKILL, so nothing of it runs a cleanup path, and waits until it is gone.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Http.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private async Task WaitUntilHealthyAsync(TimeSpan timeout)
    {
        var deadline = DateTimeOffset.UtcNow + timeout;
        while (DateTimeOffset.UtcNow < deadline)
        {
            Assert.False(_process.HasExited, $"The local host exited during start with code {(_process.HasExited ? _process.ExitCode : 0)}:\n{Tail(Output)}");
            try
            {
                using HttpResponseMessage response = await Http.GetAsync("/healthz");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        Assert.Fail($"The local host did not respond on /healthz within {timeout.TotalSeconds} s:\n{Tail(Output)}");
    }

    /// <summary>Returns the last 60 lines of the host's output, for failure messages.</summary>
    public static string Tail(string output) =>
        string.Join('\n', output.Split('\n').TakeLast(60));

    // The stack's environment file, as infra/local/host.sh loads it for the demo and the benchmarks.
    private static Dictionary<string, string> StackEnvironment()
    {
        string directory = Environment.GetEnvironmentVariable("NHI_STACK_DIR") ?? Path.Combine(LocalStack.RepositoryRoot, ".stack");
        string path = Path.Combine(directory, "stack.env");
        Assert.True(File.Exists(path), $"{path} is missing. Start the local stack with `infra/local/stack.sh up`.");

        Dictionary<string, string> values = [];
        foreach (string line in File.ReadAllLines(path))
        {
            int equals = line.IndexOf('=', StringComparison.Ordinal);
            if (!line.StartsWith('#') && equals > 0)
            {
                values[line[..equals].Trim()] = line[(equals + 1)..].Trim().Trim('"', '\'');
            }
        }

        return values;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
