using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Azure.Runs;

/// <summary>
/// Accepted runs in an Azure Storage table, one entity per run id (PartitionKey = run id), written by a
/// conditional insert so two deliveries racing in different hosts still register one run.
/// </summary>
/// <remarks>The entity keeps the request, which holds ids, the resource and times but no secret, so an
/// accepted run can be started again after the orchestration store lost it.</remarks>
public sealed class TableRunRegistry(TableClient table) : IRunRegistry
{
    private const string RowKey = "run";

    private readonly SemaphoreSlim _createLock = new(1, 1);
    private volatile bool _tableExists;

    public static TableRunRegistry FromConnectionString(string connectionString, string tableName = "NhiRuns") =>
        new(new TableServiceClient(connectionString).GetTableClient(tableName));

    public async Task<RunRegistration> RegisterAsync(RemediationRequest request, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        var entity = new TableEntity(request.RunId, RowKey)
        {
            ["FindingId"] = request.Finding.Id,
            ["Source"] = request.Source,
            ["Resource"] = request.Finding.Resource.Id,
            ["AcceptedAt"] = request.ReceivedAt,
            ["Request"] = JsonSerializer.Serialize(request),
        };

        try
        {
            await table.AddEntityAsync(entity, cancellationToken);
            return new RunRegistration(IsNew: true, Outcome: null);
        }
        catch (RequestFailedException conflict) when (conflict.Status == 409)
        {
            TableEntity existing = (await table.GetEntityAsync<TableEntity>(request.RunId, RowKey, cancellationToken: cancellationToken)).Value;
            return new RunRegistration(IsNew: false, Outcome: existing.GetString("Outcome"));
        }
    }

    public async Task MarkCompletedAsync(string runId, string outcome, DateTimeOffset completedAt, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        var update = new TableEntity(runId, RowKey)
        {
            ["Outcome"] = outcome,
            ["CompletedAt"] = completedAt,
        };

        // A run started by a host whose registry was elsewhere has no entity yet; upsert covers it.
        await table.UpsertEntityAsync(update, TableUpdateMode.Merge, cancellationToken);
    }

    private async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        if (_tableExists)
        {
            return;
        }

        await _createLock.WaitAsync(cancellationToken);
        try
        {
            await table.CreateIfNotExistsAsync(cancellationToken);
            _tableExists = true;
        }
        finally
        {
            _createLock.Release();
        }
    }
}
