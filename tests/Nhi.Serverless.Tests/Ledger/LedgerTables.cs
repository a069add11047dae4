using Azure.Data.Tables;
using Nhi.Serverless.Azure.Grants;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Ledger;

/// <summary>Fresh grant ledger and run slot tables on Azurite for one test class, deleted afterwards.</summary>
public sealed class LedgerTables : IAsyncDisposable
{
    public LedgerTables()
    {
        ConnectionString = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING");
        string suffix = Guid.NewGuid().ToString("N")[..10];
        LedgerTableName = "NhiGrantsT" + suffix;
        SlotsTableName = "NhiSlotsT" + suffix;
        Ledger = TableGrantLedger.FromConnectionString(ConnectionString, LedgerTableName, "NhiLedgerTest");
        Slots = TableRunSlots.FromConnectionString(ConnectionString, SlotsTableName, "NhiLedgerTest");
    }

    public string ConnectionString { get; }

    public string LedgerTableName { get; }

    public string SlotsTableName { get; }

    public TableGrantLedger Ledger { get; }

    public TableRunSlots Slots { get; }

    /// <summary>Host settings that point a test host at these tables and turn its sweeper loop off.</summary>
    public Dictionary<string, string?> HostSettings(bool sweeperLoop = false) => new()
    {
        ["Grants:LedgerTableName"] = LedgerTableName,
        ["Grants:RunSlotsTableName"] = SlotsTableName,
        ["Sweeper:Loop"] = sweeperLoop ? "true" : "false",
    };

    /// <summary>Returns a "requested" entry for a fresh grant of a fresh run on the bucket.</summary>
    public static GrantRecord NewGrant(string resource = "arn:aws:s3:::nhi-ledger-test", TimeSpan? maxStep = null, string? runId = null)
    {
        runId ??= "run-" + Guid.NewGuid().ToString("N");
        var request = new GrantRequest(
            Nhi.Serverless.Runs.RunIds.GrantIdFor(runId, Guid.NewGuid()),
            runId,
            Scope.Create("aws", resource, ["s3:GetBucketAcl", "s3:PutBucketAcl"]),
            TimeSpan.FromMinutes(15),
            DateTimeOffset.UtcNow);
        return GrantRecord.Requested("aws-sts", request, maxStep ?? TimeSpan.FromMinutes(5));
    }

    public async ValueTask DisposeAsync()
    {
        var service = new TableServiceClient(ConnectionString);
        await service.DeleteTableAsync(LedgerTableName);
        await service.DeleteTableAsync(SlotsTableName);
    }
}
