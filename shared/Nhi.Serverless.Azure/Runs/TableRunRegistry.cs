using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Azure.Intake;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Azure.Runs;

/// <summary>
/// Accepted runs in an Azure Storage table, one entity per run id, written by a conditional insert so two
/// deliveries racing in different hosts still register one run.
/// </summary>
/// <remarks>
/// <para>Keys: PartitionKey "runs-" and a bucket number taken from the run id's SHA-256, RowKey the run id. A few
/// shared partitions let registrations that arrive together go to the service in one transaction (group commit),
/// which is what keeps a burst of alerts from costing one storage round trip each.</para>
/// <para>The entity keeps the request, which contains ids, the resource and times but no secret, so an accepted run
/// can be started again after the orchestration store lost it.</para>
/// </remarks>
public sealed class TableRunRegistry : IRunRegistry
{
    /// <summary>The number of partitions registrations are spread over.</summary>
    public const int Buckets = 4;

    /// <summary>The table name the host uses when Runs:TableName is not set.</summary>
    public const string DefaultTableName = "NhiRunRegistry";

    /// <summary>The default table name of the previous layout, where each run id was a partition of its own.</summary>
    public const string PreviousTableName = "NhiRuns";

    private const string PreviousRowKey = "run";

    private readonly TableClient _table;
    private readonly LazyTable _createdTable;
    private readonly GroupCommitInserter _inserter;
    private readonly string _hostId;

    /// <param name="hostId">This host's name in the registry, so a host can tell the runs it accepted from those another
    /// host accepted; the machine name when null.</param>
    public TableRunRegistry(TableClient table, ILogger<TableRunRegistry>? logger = null, string? hostId = null)
    {
        _table = table;
        _hostId = string.IsNullOrEmpty(hostId) ? Environment.MachineName : hostId;
        _createdTable = new LazyTable(table);
        _inserter = new GroupCommitInserter(table, logger);
    }

    public static TableRunRegistry FromConnectionString(
        string connectionString, string tableName = DefaultTableName, ILogger<TableRunRegistry>? logger = null, string? hostId = null) =>
        new(new TableServiceClient(connectionString).GetTableClient(tableName), logger, hostId);

    /// <summary>Returns the partition key of a run id's entity.</summary>
    public static string PartitionOf(string runId) =>
        "runs-" + (SHA256.HashData(Encoding.UTF8.GetBytes(runId))[0] % Buckets);

    /// <summary>
    /// Converts an entity of the previous layout (PartitionKey the run id, RowKey "run") to this layout, with every
    /// property. Returns null when the entity's keys are not of the previous layout.
    /// </summary>
    internal static TableEntity? FromPreviousLayout(TableEntity previous)
    {
        if (previous.RowKey != PreviousRowKey || string.IsNullOrEmpty(previous.PartitionKey))
        {
            return null;
        }

        string runId = previous.PartitionKey;
        return PreviousLayoutMigration.WithKeys(previous, PartitionOf(runId), runId);
    }

    public async Task<RunRegistration> RegisterAsync(RemediationRequest request, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(PartitionOf(request.RunId), request.RunId)
        {
            ["FindingId"] = request.Finding.Id,
            ["Source"] = request.Source,
            ["Resource"] = request.Finding.Resource.Id,
            ["AcceptedAt"] = request.ReceivedAt,
            ["AcceptedBy"] = _hostId,
            ["Request"] = JsonSerializer.Serialize(request),
        };

        if (await _inserter.InsertAsync(entity, cancellationToken))
        {
            return new RunRegistration(IsNew: true, Outcome: null);
        }

        TableEntity existing = (await _table.GetEntityAsync<TableEntity>(entity.PartitionKey, entity.RowKey, cancellationToken: cancellationToken)).Value;
        string? acceptedBy = existing.GetString("AcceptedBy");
        return new RunRegistration(IsNew: false, Outcome: existing.GetString("Outcome"))
        {
            AcceptedElsewhere = acceptedBy is not null && !string.Equals(acceptedBy, _hostId, StringComparison.Ordinal),
            AcceptedAt = existing.GetDateTimeOffset("AcceptedAt"),
        };
    }

    public async Task MarkCompletedAsync(string runId, string outcome, DateTimeOffset completedAt, CancellationToken cancellationToken)
    {
        await _createdTable.GetAsync(cancellationToken);
        var update = new TableEntity(PartitionOf(runId), runId)
        {
            ["Outcome"] = outcome,
            ["CompletedAt"] = completedAt,
        };

        // A run started by a host whose registry was elsewhere has no entity yet; upsert covers it.
        await _table.UpsertEntityAsync(update, TableUpdateMode.Merge, cancellationToken);
    }
}
