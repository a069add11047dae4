using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>One page of checkpoints from a query.</summary>
/// <param name="Checkpoints">The checkpoints, in window order.</param>
/// <param name="ContinuationToken">Pass it to the same query for the next page; null on the last page.</param>
public sealed record AuditCheckpointPage(IReadOnlyList<SignedAuditCheckpoint> Checkpoints, string? ContinuationToken);

/// <summary>
/// The checkpoint table. Checkpoints: PartitionKey is the UTC date of the window start, RowKey is the
/// checkpoint id. The "head" partition has one entity naming the latest checkpoint, a hint that spares
/// a scan on start. The "key" partition has the public JWK of every key that signed checkpoints, so an
/// export can carry them.
/// </summary>
/// <remarks>
/// Checkpoints are written with conditional inserts and never updated. The head entity is overwritten,
/// so readers treat it as a starting point and scan forward from it. Every key published here is only
/// as trustworthy as write access to this table: auditors compare the key ids with a copy they trust,
/// such as the host's /.well-known/jwks.json.
/// </remarks>
public sealed partial class AuditCheckpointTable
{
    public const string DefaultTableName = "AuditCheckpoints";

    private const string HeadPartition = "head";
    private const string HeadRow = "latest";
    private const string KeyPartition = "key";
    private const string CheckpointProperty = "Checkpoint";
    private const string LastDatePartition = "9999-12-31";

    private readonly TableClient _table;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _createLock = new(1, 1);
    private volatile bool _tableExists;

    /// <summary>Creates the store over the named table of the service.</summary>
    public AuditCheckpointTable(TableServiceClient serviceClient, string tableName = DefaultTableName, ILogger<AuditCheckpointTable>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(serviceClient);
        ArgumentException.ThrowIfNullOrWhiteSpace(tableName);
        _table = serviceClient.GetTableClient(tableName);
        _logger = logger ?? NullLogger<AuditCheckpointTable>.Instance;
    }

    public string TableName => _table.Name;

    /// <summary>Creates the table when it does not exist; the methods that write call it once on first use, and reads never do.</summary>
    public async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        if (_tableExists)
        {
            return;
        }

        await _createLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_tableExists)
            {
                await _table.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
                _tableExists = true;
            }
        }
        finally
        {
            _createLock.Release();
        }
    }

    /// <summary>Returns whether the table exists, without creating it.</summary>
    public Task<bool> ExistsAsync(CancellationToken cancellationToken) => TableAuditStore.TableExistsAsync(_table, cancellationToken);

    /// <summary>Returns the checkpoint of the latest window, or null when none is stored or the table does not exist.</summary>
    public async Task<SignedAuditCheckpoint?> GetLatestAsync(CancellationToken cancellationToken)
    {
        NullableResponse<TableEntity> head;
        try
        {
            head = await _table.GetEntityIfExistsAsync<TableEntity>(HeadPartition, HeadRow, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // Reads never create the table, so an auditor's read-only credential is enough.
            return null;
        }

        string? headId = head.HasValue ? head.Value!.GetString("CheckpointId") : null;

        // A writer that stopped between inserting a checkpoint and moving the head leaves newer
        // checkpoints after the head, so scan forward from it.
        string filter = headId is null
            ? TableClient.CreateQueryFilter($"PartitionKey le {LastDatePartition}")
            : TableClient.CreateQueryFilter($"PartitionKey ge {AuditTableKeys.DatePartition(AuditRecordIds.GetTime(headId))} and PartitionKey le {LastDatePartition} and RowKey ge {headId}");
        TableEntity? latest = null;
        try
        {
            await foreach (TableEntity entity in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                latest = entity;
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null;
        }

        return latest is null ? null : ToCheckpoint(latest);
    }

    /// <summary>Inserts a checkpoint unless its window has one already.</summary>
    /// <returns>The stored checkpoint, and whether it is the one given; when another writer sealed the window first, the stored one is returned.</returns>
    public async Task<(SignedAuditCheckpoint Stored, bool Inserted)> InsertAsync(SignedAuditCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        var entity = new TableEntity(AuditTableKeys.DatePartition(checkpoint.Window.Start), checkpoint.Id)
        {
            [CheckpointProperty] = checkpoint.Json,
            ["Hash"] = checkpoint.Hash,
            ["WindowEnd"] = checkpoint.Window.EndKey,
            ["RecordCount"] = checkpoint.RecordCount,
            ["Kid"] = checkpoint.KeyId,
        };

        try
        {
            await _table.AddEntityAsync(entity, cancellationToken).ConfigureAwait(false);
            return (checkpoint, true);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            Response<TableEntity> stored = await _table.GetEntityAsync<TableEntity>(entity.PartitionKey, entity.RowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
            return (ToCheckpoint(stored.Value), false);
        }
    }

    /// <summary>Points the head entity at a checkpoint, so the next <see cref="GetLatestAsync"/> starts there.</summary>
    public async Task SetLatestAsync(SignedAuditCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        await _table.UpsertEntityAsync(
            new TableEntity(HeadPartition, HeadRow) { ["CheckpointId"] = checkpoint.Id },
            TableUpdateMode.Replace,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads a page of the checkpoints whose windows overlap [<paramref name="from"/>, <paramref name="to"/>), in window order.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is empty or the page size is outside 1 to 1000.</exception>
    public async Task<AuditCheckpointPage> QueryAsync(DateTimeOffset from, DateTimeOffset to, string? continuationToken = null, int pageSize = TableAuditStore.MaxPageSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(to, from);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, TableAuditStore.MaxPageSize);

        // A window is at most one day long, so one that overlaps the range starts at most a day before it.
        string filter = TableClient.CreateQueryFilter(
            $"PartitionKey ge {AuditTableKeys.DatePartition(from - AuditCheckpointWindow.MaxLength)} and PartitionKey le {AuditTableKeys.DatePartition(to)} and RowKey lt {AuditRecordIds.FormatTime(to)} and WindowEnd gt {AuditRecordIds.FormatTime(from)}");
        try
        {
            await foreach (Page<TableEntity> page in _table
                .QueryAsync<TableEntity>(filter, pageSize, cancellationToken: cancellationToken)
                .AsPages(continuationToken, pageSize)
                .ConfigureAwait(false))
            {
                return new AuditCheckpointPage(page.Values.Select(ToCheckpoint).ToList(), page.ContinuationToken);
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No table means no checkpoint was ever written.
        }

        return new AuditCheckpointPage([], null);
    }

    /// <summary>Reads every checkpoint whose window overlaps the range, following continuation tokens.</summary>
    public async Task<IReadOnlyList<SignedAuditCheckpoint>> ReadRangeAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var checkpoints = new List<SignedAuditCheckpoint>();
        string? continuationToken = null;
        do
        {
            AuditCheckpointPage page = await QueryAsync(from, to, continuationToken, TableAuditStore.MaxPageSize, cancellationToken).ConfigureAwait(false);
            checkpoints.AddRange(page.Checkpoints);
            continuationToken = page.ContinuationToken;
        }
        while (continuationToken is not null);

        return checkpoints;
    }

    /// <summary>Stores a public signing key so exports can include it; a key stored before is left as it is.</summary>
    public async Task PublishKeyAsync(JsonWebKey key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _table.AddEntityAsync(new TableEntity(KeyPartition, key.Kid) { ["Jwk"] = key.ToJsonObject().ToJsonString() }, cancellationToken).ConfigureAwait(false);
            LogKeyPublished(_logger, key.Kid, _table.Name);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            // The key id is the key's thumbprint, so a stored entry with this id contains this key.
        }
    }

    /// <summary>Returns every published key; none when the table does not exist.</summary>
    public async Task<IReadOnlyList<JsonWebKey>> ReadKeysAsync(CancellationToken cancellationToken)
    {
        var keys = new List<JsonWebKey>();
        try
        {
            await foreach (TableEntity entity in _table
                .QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {KeyPartition}"), cancellationToken: cancellationToken)
                .ConfigureAwait(false))
            {
                if (entity.GetString("Jwk") is { } json && JsonNode.Parse(json) is JsonObject jwk && JsonWebKey.FromJsonObject(jwk) is { } key)
                {
                    keys.Add(key);
                }
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No table means no key was ever published.
        }

        return keys;
    }

    private static SignedAuditCheckpoint ToCheckpoint(TableEntity entity)
    {
        string json = entity.GetString(CheckpointProperty)
            ?? throw new FormatException($"Checkpoint entity {entity.RowKey} has no {CheckpointProperty} property.");
        try
        {
            return SignedAuditCheckpoint.Parse(json);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"Checkpoint entity {entity.RowKey} does not contain a checkpoint: {ex.Message}", ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Published audit signing key {KeyId} to table {Table}")]
    private static partial void LogKeyPublished(ILogger logger, string keyId, string table);
}
