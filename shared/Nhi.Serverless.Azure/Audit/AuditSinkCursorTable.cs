using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>How far one sink has acknowledged the audit table.</summary>
/// <param name="SinkName">The sink's name, the entity's RowKey.</param>
/// <param name="LastAcknowledgedKey">
/// The id of the last record the sink acknowledged. After a rewind it is a time prefix that sorts before
/// the records to send again. Null before the first delivery.
/// </param>
/// <param name="AcknowledgedCount">How many records the sink has acknowledged in total, resent ones included.</param>
/// <param name="ETag">The entity's ETag, for conditional updates.</param>
public sealed record AuditSinkCursor(string SinkName, string? LastAcknowledgedKey, long AcknowledgedCount, ETag ETag);

/// <summary>
/// The outbox cursors: one entity per sink (PartitionKey "sink", RowKey the sink name) holding the last
/// acknowledged record id. Updates are conditional on the ETag, so a forwarder never moves a cursor
/// past a rewind that the audit trail made in the meantime.
/// </summary>
public sealed partial class AuditSinkCursorTable
{
    public const string DefaultTableName = "AuditSinkCursors";

    private const string Partition = "sink";
    private const string KeyProperty = "LastAcknowledgedKey";
    private const string CountProperty = "AcknowledgedCount";

    private readonly TableClient _table;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _createLock = new(1, 1);
    private volatile bool _tableExists;

    public AuditSinkCursorTable(TableServiceClient serviceClient, string tableName = DefaultTableName, ILogger<AuditSinkCursorTable>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(serviceClient);
        ArgumentException.ThrowIfNullOrWhiteSpace(tableName);
        _table = serviceClient.GetTableClient(tableName);
        _logger = logger ?? NullLogger<AuditSinkCursorTable>.Instance;
    }

    public string TableName => _table.Name;

    /// <summary>Creates the table when it does not exist; the other methods call it once on first use.</summary>
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

    /// <summary>Returns the sink's cursor, creating one at the start of the table when it has none.</summary>
    public async Task<AuditSinkCursor> GetAsync(string sinkName, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(sinkName);
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        NullableResponse<TableEntity> existing = await _table.GetEntityIfExistsAsync<TableEntity>(Partition, sinkName, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (existing.HasValue)
        {
            return ToCursor(existing.Value!);
        }

        try
        {
            Response response = await _table.AddEntityAsync(
                new TableEntity(Partition, sinkName) { [KeyProperty] = "", [CountProperty] = 0L },
                cancellationToken).ConfigureAwait(false);
            return new AuditSinkCursor(sinkName, null, 0, response.Headers.ETag ?? ETag.All);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            Response<TableEntity> stored = await _table.GetEntityAsync<TableEntity>(Partition, sinkName, cancellationToken: cancellationToken).ConfigureAwait(false);
            return ToCursor(stored.Value);
        }
    }

    /// <summary>Returns every sink's cursor.</summary>
    public async Task<IReadOnlyList<AuditSinkCursor>> ListAsync(CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        var cursors = new List<AuditSinkCursor>();
        await foreach (TableEntity entity in _table
            .QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {Partition}"), cancellationToken: cancellationToken)
            .ConfigureAwait(false))
        {
            cursors.Add(ToCursor(entity));
        }

        return cursors;
    }

    /// <summary>Moves the cursor to <paramref name="lastAcknowledgedId"/> unless it changed since it was read.</summary>
    /// <returns>The updated cursor, or null when the cursor changed, such as by a rewind; read it again then.</returns>
    public async Task<AuditSinkCursor?> TryAdvanceAsync(AuditSinkCursor cursor, string lastAcknowledgedId, int acknowledged, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cursor);
        ArgumentException.ThrowIfNullOrEmpty(lastAcknowledgedId);
        return await TryReplaceAsync(cursor, lastAcknowledgedId, cursor.AcknowledgedCount + acknowledged, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Makes every sink deliver records that were written after the sinks may have moved past them.
    /// Cursors at or past <paramref name="recordId"/> move back to just before the id time of that
    /// record; the others are written again unchanged, so a forwarder that read records before the late
    /// ones were stored fails its conditional update and reads again. Records after the new position
    /// are sent again; receivers drop them by record id.
    /// </summary>
    /// <returns>The names of the sinks whose cursors moved back.</returns>
    public async Task<IReadOnlyList<string>> RewindBeforeAsync(string recordId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(recordId);

        // Every record id at this time sorts after its bare time prefix, so the prefix is a position
        // just before the record.
        string position = AuditRecordIds.FormatTime(AuditRecordIds.GetTime(recordId));
        var rewound = new List<string>();
        foreach (AuditSinkCursor listed in await ListAsync(cancellationToken).ConfigureAwait(false))
        {
            AuditSinkCursor cursor = listed;
            while (true)
            {
                bool past = cursor.LastAcknowledgedKey is { } key && string.CompareOrdinal(key, position) > 0;
                string? target = past ? position : cursor.LastAcknowledgedKey;
                if (await TryReplaceAsync(cursor, target ?? "", cursor.AcknowledgedCount, cancellationToken).ConfigureAwait(false) is not null)
                {
                    if (past)
                    {
                        LogRewound(_logger, cursor.SinkName, cursor.LastAcknowledgedKey!, position, recordId);
                        rewound.Add(cursor.SinkName);
                    }

                    break;
                }

                cursor = await GetAsync(cursor.SinkName, cancellationToken).ConfigureAwait(false);
            }
        }

        return rewound;
    }

    private async Task<AuditSinkCursor?> TryReplaceAsync(AuditSinkCursor cursor, string key, long count, CancellationToken cancellationToken)
    {
        var entity = new TableEntity(Partition, cursor.SinkName)
        {
            [KeyProperty] = key,
            [CountProperty] = count,
        };
        try
        {
            Response response = await _table.UpdateEntityAsync(entity, cursor.ETag, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
            return new AuditSinkCursor(cursor.SinkName, key.Length == 0 ? null : key, count, response.Headers.ETag ?? ETag.All);
        }
        catch (RequestFailedException ex) when (ex.Status is 412 or 404)
        {
            return null;
        }
    }

    private static AuditSinkCursor ToCursor(TableEntity entity)
    {
        string? key = entity.GetString(KeyProperty);
        return new AuditSinkCursor(entity.RowKey, string.IsNullOrEmpty(key) ? null : key, entity.GetInt64(CountProperty) ?? 0, entity.ETag);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rewound the outbox cursor of sink {Sink} from {From} to {To}, because record {RecordId} was written after the sink had moved past it; records after {To} are sent again")]
    private static partial void LogRewound(ILogger logger, string sink, string from, string to, string recordId);
}
