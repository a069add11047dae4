using System.Security.Cryptography.X509Certificates;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Azure.Data.Tables;
using Azure.Data.Tables.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Hosting;
using Nhi.Serverless.Hosting.Https;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;

namespace Nhi.Serverless.Tests.Infrastructure;

/// <summary>
/// The local host built in process exactly as tools/Nhi.Serverless.LocalHost builds it, on 127.0.0.1 with a
/// free HTTP port and a free HTTPS port, against the local stack; it records every STS credential issued and every
/// log line. Its HTTPS certificate lives in a temporary folder of its own.
/// </summary>
public sealed class NhiTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _keyDirectory;
    private HttpClient? _https;

    // Tables this host made for itself alone, dropped on dispose so that test runs do not grow Azurite's
    // data file, which Azurite rewrites whole every few seconds.
    private IReadOnlyList<string> _ownTables = [];
    private string? _ownTaskHub;

    private NhiTestHost(WebApplication app, string keyDirectory, CapturingLoggerProvider logs, List<Credentials> issued)
    {
        _app = app;
        _keyDirectory = keyDirectory;
        Logs = logs;
        IssuedCredentials = issued;
        Http = new HttpClient
        {
            BaseAddress = new Uri(app.Urls.First(url => url.StartsWith("http://", StringComparison.Ordinal))),
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    /// <summary>A client of the HTTPS listener that trusts only the certificate the listener presents.</summary>
    public HttpClient Https => _https ??= new HttpClient(PinnedHandler(CertificatePath)) { BaseAddress = HttpsBaseAddress, Timeout = TimeSpan.FromSeconds(30) };

    public HttpClient Http { get; }

    public CapturingLoggerProvider Logs { get; }

    /// <summary>Every credential STS issued to the host, so tests can search its outputs for the values.</summary>
    public List<Credentials> IssuedCredentials { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>The HTTPS base address, such as https://127.0.0.1:41234/.</summary>
    public Uri HttpsBaseAddress => _app.Services.GetRequiredService<HttpsEndpoint>().BaseAddress
        ?? throw new InvalidOperationException("The host has no HTTPS listener.");

    /// <summary>The PEM file of the certificate the HTTPS listener presents, for clients to pin.</summary>
    public string CertificatePath => _app.Services.GetRequiredService<HttpsEndpoint>().CertificatePath;

    public DurableTaskClient Client => _app.Services.GetRequiredService<DurableTaskClient>();

    /// <param name="backend">"InMemory" or "AzureStorage".</param>
    /// <param name="taskHub">The task hub; a fresh one per test keeps Azure Storage runs apart.</param>
    /// <param name="settings">Extra configuration keys, applied last.</param>
    /// <param name="configureServices">Service replacements, applied after the shared registrations.</param>
    /// <param name="mapEndpoints">Maps extra endpoints before the host starts.</param>
    public static async Task<NhiTestHost> StartAsync(
        string backend = "InMemory",
        string? taskHub = null,
        IReadOnlyDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configureServices = null,
        Action<WebApplication>? mapEndpoints = null)
    {
        var logs = new CapturingLoggerProvider();
        List<Credentials> issued = [];
        string keyDirectory = Directory.CreateTempSubdirectory("nhi-test-keys-").FullName;
        AwsOptions aws = AwsTestStack.ReadOptions();

        string ownSlotsTable = "NhiSlots" + Guid.NewGuid().ToString("N")[..12];
        string ownTaskHub = "NhiTest" + Guid.NewGuid().ToString("N")[..12];
        Dictionary<string, string?> configuration = new()
        {
            ["Logging:LogLevel:Default"] = "Information",
            ["Durable:Backend"] = backend,
            ["Durable:TaskHubName"] = taskHub ?? ownTaskHub,
            ["Durable:AzureStorageConnectionString"] = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING"),
            ["Aws:Region"] = aws.Region,
            ["Aws:Partition"] = aws.Partition,
            ["Aws:S3Endpoint"] = aws.S3Endpoint,
            ["Aws:StsEndpoint"] = aws.StsEndpoint,
            ["Aws:IamEndpoint"] = aws.IamEndpoint,
            ["Aws:ForcePathStyle"] = "true",
            ["Aws:RoleName"] = aws.RoleName,
            ["Aws:RoleArn"] = aws.RoleArn,
            ["Aws:RoleId"] = aws.RoleId,
            ["Aws:AccessKeyId"] = aws.AccessKeyId,
            ["Aws:SecretAccessKey"] = aws.SecretAccessKey,
            ["Audit:Signing:KeyFilePath"] = Path.Combine(keyDirectory, "signing-key.pem"),
            ["Audit:Table:ConnectionString"] = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING"),
            ["Planner:OutOfScopeProbe"] = LocalStack.Get("NHI_BYSTANDER_BUCKET"),

            // Concurrency slots are shared by every host on a table; each test host gets its own table so
            // that one test's runs never wait for another test's slots.
            ["Grants:RunSlotsTableName"] = ownSlotsTable,

            // Never the stack folder's tls/, which belongs to the stack's own host.
            ["Https:Port"] = "0",
            ["Https:CertificateDirectory"] = Path.Combine(keyDirectory, "tls"),
        };
        foreach ((string key, string? value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        WebApplication app = await NhiLocalHost.BuildAsync(
            ["--urls", "http://127.0.0.1:0"],
            builder => builder.AddInMemoryCollection(configuration),
            services =>
            {
                services.AddSingleton<ILoggerProvider>(logs);
                services.AddSingleton<IAmazonSecurityTokenService>(_ => new RecordingStsClient(aws, issued));
                configureServices?.Invoke(services);
            });
        mapEndpoints?.Invoke(app);
        try
        {
            await app.StartAsync();
        }
        catch
        {
            // A host that fails to start, as tests of start-up errors expect, still stops its sidecar.
            await app.DisposeAsync();
            Directory.Delete(keyDirectory, recursive: true);
            throw;
        }

        return new NhiTestHost(app, keyDirectory, logs, issued)
        {
            // A table or task hub named by the test may be shared with its other hosts, so the test drops it itself.
            _ownTables = configuration["Grants:RunSlotsTableName"] == ownSlotsTable ? [ownSlotsTable] : [],
            _ownTaskHub = backend == "AzureStorage" && configuration["Durable:TaskHubName"] == ownTaskHub ? ownTaskHub : null,
        };
    }

    /// <summary>Waits until the run reaches a terminal state and returns its result; fails the test on timeout.</summary>
    public async Task<RunResult> WaitForRunAsync(string runId, TimeSpan? timeout = null)
    {
        using var cancellation = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            OrchestrationMetadata? metadata = await Client.GetInstanceAsync(runId, getInputsAndOutputs: true, cancellation.Token);
            if (metadata is { IsCompleted: true })
            {
                Assert.True(
                    metadata.RuntimeStatus == OrchestrationRuntimeStatus.Completed,
                    $"Run {runId} ended {metadata.RuntimeStatus}: {metadata.FailureDetails?.ErrorMessage}");
                return metadata.ReadOutputAs<RunResult>()!;
            }

            await Task.Delay(100, cancellation.Token);
        }
    }

    private static HttpClientHandler PinnedHandler(string certificatePath)
    {
        using X509Certificate2 pinned = X509Certificate2.CreateFromPem(File.ReadAllText(certificatePath));
        string thumbprint = pinned.Thumbprint;
        return new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, _) =>
                certificate is not null && string.Equals(certificate.Thumbprint, thumbprint, StringComparison.OrdinalIgnoreCase),
        };
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        _https?.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_keyDirectory, recursive: true);
        await DropOwnTablesAsync();
    }

    private async Task DropOwnTablesAsync()
    {
        var tables = new TableServiceClient(LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING"));
        List<string> names = [.. _ownTables];
        if (_ownTaskHub is { } hub)
        {
            await foreach (TableItem table in tables.QueryAsync(TableServiceClient.CreateQueryFilter($"TableName ge {hub} and TableName lt {hub + "~"}")))
            {
                names.Add(table.Name);
            }
        }

        foreach (string name in names)
        {
            await tables.DeleteTableAsync(name);
        }
    }
}
