using Azure;
using Azure.Data.Tables;
using Azure.Data.Tables.Models;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>
/// A pair of fresh audit tables on the local Azurite, deleted after the test class, and a signing key.
/// Fails every test of the class when Azurite is not running.
/// </summary>
public sealed class AuditTablesFixture : IAsyncLifetime
{
    public const string ConnectionStringKey = "NHI_AZURE_STORAGE_CONNECTION_STRING";

    /// <summary>The start of the large run, on a date no other test writes to, crossing midnight UTC.</summary>
    public static readonly DateTimeOffset LargeRunStart = new(2031, 7, 14, 23, 59, 59, 500, TimeSpan.Zero);

    /// <summary>Extra calls that make the large run 1,100 records: more than one 1000-entity page.</summary>
    public const int LargeRunExtraCalls = 1089;

    private readonly string _keyDirectory = Path.Combine(Path.GetTempPath(), "nhi-audit-tables-" + Guid.NewGuid().ToString("N")[..12]);
    private Lazy<Task<IReadOnlyList<SignedAuditRecord>>>? _largeRun;

    public TableServiceClient ServiceClient { get; private set; } = null!;

    public TableAuditStoreOptions Options { get; } = new()
    {
        RecordsTableName = "AuditRecordsT" + Guid.NewGuid().ToString("N")[..10],
        IndexTableName = "AuditIndexT" + Guid.NewGuid().ToString("N")[..10],
    };

    public LocalKeyFileSigner Signer { get; private set; } = null!;

    public Jwks Jwks { get; private set; } = null!;

    public TableAuditStore Store { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        string connectionString = LocalStack.Get(ConnectionStringKey);
        await ProbeAzuriteAsync(connectionString);

        ServiceClient = new TableServiceClient(connectionString);
        Store = new TableAuditStore(ServiceClient, Options);
        Signer = LocalKeyFileSigner.LoadOrCreate(Path.Combine(_keyDirectory, "signing.pem"));
        Jwks = Jwks.FromSigners(Signer);
        _largeRun = new Lazy<Task<IReadOnlyList<SignedAuditRecord>>>(WriteLargeRunAsync);
    }

    public async Task DisposeAsync()
    {
        if (ServiceClient is not null)
        {
            await ServiceClient.DeleteTableAsync(Options.RecordsTableName);
            await ServiceClient.DeleteTableAsync(Options.IndexTableName);
        }

        Signer?.Dispose();
        if (Directory.Exists(_keyDirectory))
        {
            Directory.Delete(_keyDirectory, recursive: true);
        }
    }

    /// <summary>Returns the 1,100 records of one run, appended once for the whole class.</summary>
    public Task<IReadOnlyList<SignedAuditRecord>> GetLargeRunAsync() => _largeRun!.Value;

    private async Task<IReadOnlyList<SignedAuditRecord>> WriteLargeRunAsync()
    {
        IReadOnlyList<SignedAuditRecord> records = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), Signer, LargeRunStart, LargeRunExtraCalls);
        await Store.AppendAsync(records, CancellationToken.None);
        return records;
    }

    /// <summary>Fails fast, with the command that starts the stack, when Azurite's Table service does not respond.</summary>
    internal static async Task ProbeAzuriteAsync(string connectionString)
    {
        var options = new TableClientOptions();
        options.Retry.MaxRetries = 0;
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(5);
        var probe = new TableServiceClient(connectionString, options);
        try
        {
            await foreach (Page<TableItem> page in probe.QueryAsync(maxPerPage: 1).AsPages())
            {
                break;
            }
        }
        catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or OperationCanceledException or AggregateException)
        {
            throw new InvalidOperationException(
                $"Azurite's Table service did not respond ({ex.GetType().Name}: {ex.Message}). Start the local stack with `infra/local/stack.sh up`.", ex);
        }
    }
}
