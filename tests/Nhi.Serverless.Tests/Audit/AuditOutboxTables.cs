using Azure.Data.Tables;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>
/// Fresh records, index, checkpoint and cursor tables on the local Azurite for one test, deleted after
/// it, and a signing key. Fails the test when Azurite is not running.
/// </summary>
public sealed class AuditOutboxTables : IAsyncDisposable
{
    private readonly TemporaryDirectory _keys = new();

    private AuditOutboxTables(TableServiceClient serviceClient)
    {
        ServiceClient = serviceClient;
        string suffix = Guid.NewGuid().ToString("N")[..10];
        StoreOptions = new TableAuditStoreOptions { RecordsTableName = "AuditRecO" + suffix, IndexTableName = "AuditIdxO" + suffix };
        CheckpointTableName = "AuditCkptO" + suffix;
        CursorTableName = "AuditCurO" + suffix;
        Signer = LocalKeyFileSigner.LoadOrCreate(_keys.File("signing.pem"));
        Jwks = Jwks.FromSigners(Signer);
        Store = new TableAuditStore(serviceClient, StoreOptions);
        Checkpoints = new AuditCheckpointTable(serviceClient, CheckpointTableName);
        Cursors = new AuditSinkCursorTable(serviceClient, CursorTableName);
    }

    public TableServiceClient ServiceClient { get; }

    public TableAuditStoreOptions StoreOptions { get; }

    public string CheckpointTableName { get; }

    public string CursorTableName { get; }

    public LocalKeyFileSigner Signer { get; }

    public Jwks Jwks { get; }

    public TableAuditStore Store { get; }

    public AuditCheckpointTable Checkpoints { get; }

    public AuditSinkCursorTable Cursors { get; }

    public static async Task<AuditOutboxTables> CreateAsync()
    {
        string connectionString = LocalStack.Get(AuditTablesFixture.ConnectionStringKey);
        await AuditTablesFixture.ProbeAzuriteAsync(connectionString);
        return new AuditOutboxTables(new TableServiceClient(connectionString));
    }

    /// <summary>A checkpoint writer over these tables with the given window settings.</summary>
    public CheckpointWriter CreateWriter(TimeSpan window, TimeSpan? closeDelay = null, LocalKeyFileSigner? signer = null) =>
        new(Store, Checkpoints, signer ?? Signer, Jwks, new AuditCheckpointOptions
        {
            TableName = CheckpointTableName,
            Window = window,
            CloseDelay = closeDelay ?? TimeSpan.Zero,
        });

    public async ValueTask DisposeAsync()
    {
        foreach (string table in new[] { StoreOptions.RecordsTableName, StoreOptions.IndexTableName, CheckpointTableName, CursorTableName })
        {
            await ServiceClient.DeleteTableAsync(table);
        }

        Signer.Dispose();
        _keys.Dispose();
    }
}
