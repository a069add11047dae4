using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Stores sealed audit records in Azure Table Storage: one entity per record in the records table
/// (PartitionKey = UTC date, RowKey = record id) and, in the index table, one entity per run, resource,
/// finding and grant of each append that lists the append's record ids (see <see cref="AuditIndexEntities"/>).
/// Appends never overwrite: a record stored before with the same hash counts as written, one with a
/// different hash fails with <see cref="AuditRecordConflictException"/>.
/// </summary>
/// <remarks>
/// Only appends create the tables. Reads never do, so an auditor's read-only credential is enough and a
/// mistyped table name is not created: a missing table reads as an empty trail, and
/// <see cref="FindMissingTablesAsync"/> distinguishes the two.
/// Each entity keeps the record's canonical JSON, split over the properties Record, Record1, Record2
/// and so on when it exceeds one string property, plus Hash, Kid, Alg and Signature and the fields
/// auditors filter on.
/// </remarks>
public sealed partial class TableAuditStore
{
    /// <summary>The most characters per string property: Azure allows 64 KiB of UTF-16, which is 32,768 characters.</summary>
    public const int MaxCharactersPerProperty = 32_000;

    /// <summary>The most Record properties per entity, which keeps an entity under Azure's 1 MiB limit.</summary>
    public const int MaxRecordParts = 15;

    /// <summary>The most entities per page that Table Storage returns.</summary>
    public const int MaxPageSize = 1000;

    private const string RecordProperty = "Record";
    private const string RecordPartsProperty = "RecordParts";
    private const string HashProperty = "Hash";

    // Azure limits a transaction to 100 entities and a 4 MiB request body.
    private const int MaxTransactionActions = 100;
    private const long MaxTransactionBytes = 3L * 1024 * 1024;
    private const int TransactionConcurrency = 8;

    private readonly TableClient _records;
    private readonly TableClient _index;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _createLock = new(1, 1);
    private volatile bool _tablesExist;

    /// <summary>Creates a store over the service's tables named in the options.</summary>
    /// <exception cref="AuditConfigurationException">The options are invalid.</exception>
    public TableAuditStore(TableServiceClient serviceClient, TableAuditStoreOptions options, ILogger<TableAuditStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(serviceClient);
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        _records = serviceClient.GetTableClient(options.RecordsTableName);
        _index = serviceClient.GetTableClient(options.IndexTableName);
        _logger = logger ?? NullLogger<TableAuditStore>.Instance;
    }

    /// <summary>Creates a store from a storage connection string, such as the value of NHI_AZURE_STORAGE_CONNECTION_STRING.</summary>
    /// <exception cref="AuditConfigurationException">The connection string is empty or the options are invalid.</exception>
    public static TableAuditStore FromConnectionString(string connectionString, TableAuditStoreOptions options, ILogger<TableAuditStore>? logger = null)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new AuditConfigurationException(
                [$"The storage connection string ({TableAuditStoreOptions.ConnectionStringVariable}) is missing; expected an Azure Storage connection string with a TableEndpoint."]);
        }

        return new TableAuditStore(new TableServiceClient(connectionString), options, logger);
    }

    /// <summary>The records table's name.</summary>
    public string RecordsTableName => _records.Name;

    /// <summary>The index table's name.</summary>
    public string IndexTableName => _index.Name;

    /// <summary>Creates both tables when they do not exist; <see cref="AppendAsync"/> calls it once on first use.</summary>
    public async Task EnsureTablesAsync(CancellationToken cancellationToken)
    {
        if (_tablesExist)
        {
            return;
        }

        await _createLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_tablesExist)
            {
                await _records.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
                await _index.CreateIfNotExistsAsync(cancellationToken).ConfigureAwait(false);
                _tablesExist = true;
            }
        }
        finally
        {
            _createLock.Release();
        }
    }

    /// <summary>Returns the names of the records and index tables that do not exist, without creating them.</summary>
    public async Task<IReadOnlyList<string>> FindMissingTablesAsync(CancellationToken cancellationToken)
    {
        var missing = new List<string>();
        foreach (TableClient table in new[] { _records, _index })
        {
            if (!await TableExistsAsync(table, cancellationToken).ConfigureAwait(false))
            {
                missing.Add(table.Name);
            }
        }

        return missing;
    }

    /// <summary>Returns whether the table exists, by reading at most one entity key from it.</summary>
    internal static async Task<bool> TableExistsAsync(TableClient table, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (Page<TableEntity> page in table
                .QueryAsync<TableEntity>(filter: (string?)null, maxPerPage: 1, select: ["PartitionKey"], cancellationToken: cancellationToken)
                .AsPages(pageSizeHint: 1)
                .ConfigureAwait(false))
            {
                break;
            }

            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return false;
        }
    }

    /// <summary>Appends records with conditional inserts, then their index entities.</summary>
    /// <exception cref="AuditRecordConflictException">A record or index entity is stored with a different hash.</exception>
    /// <exception cref="InvalidOperationException">A record's JSON is larger than one entity can hold.</exception>
    public async Task<AuditAppendResult> AppendAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return new AuditAppendResult(0, 0, []);
        }

        await EnsureTablesAsync(cancellationToken).ConfigureAwait(false);

        Dictionary<string, TableEntity> storedBefore = await InsertRecordsAsync(records, cancellationToken).ConfigureAwait(false);

        // Index entities go in after the records, so an index entity never points at a missing record.
        await InsertIndexAsync(records, cancellationToken).ConfigureAwait(false);

        var stored = records
            .Select(record => storedBefore.TryGetValue(record.Id, out TableEntity? existing) ? ToRecord(existing) : record)
            .ToList();
        LogAppended(_logger, records.Count - storedBefore.Count, storedBefore.Count, records[0].Stream, _records.Name);
        return new AuditAppendResult(records.Count - storedBefore.Count, storedBefore.Count, stored);
    }

    /// <summary>Reads one record by id, or returns null when it is not stored or the table does not exist.</summary>
    /// <exception cref="FormatException">The id is not an audit record id, or the stored entity does not contain a sealed record.</exception>
    public async Task<SignedAuditRecord?> GetAsync(string recordId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(recordId);
        NullableResponse<TableEntity> response;
        try
        {
            response = await _records
                .GetEntityIfExistsAsync<TableEntity>(AuditTableKeys.RecordPartition(recordId), recordId, cancellationToken: cancellationToken)
                .ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null;
        }

        return response.HasValue ? ToRecord(response.Value!) : null;
    }

    /// <summary>Reads a page of a run's records in id order, which is sequence order.</summary>
    public Task<AuditRecordPage> QueryByRunAsync(string runId, string? continuationToken = null, int pageSize = MaxPageSize, CancellationToken cancellationToken = default) =>
        QueryIndexAsync(AuditTableKeys.RunKind, runId, continuationToken, pageSize, cancellationToken);

    /// <summary>Reads a page of the records about one resource, oldest first.</summary>
    public Task<AuditRecordPage> QueryByResourceAsync(string resource, string? continuationToken = null, int pageSize = MaxPageSize, CancellationToken cancellationToken = default) =>
        QueryIndexAsync(AuditTableKeys.ResourceKind, resource, continuationToken, pageSize, cancellationToken);

    /// <summary>Reads a page of the records about one finding, oldest first.</summary>
    public Task<AuditRecordPage> QueryByFindingAsync(string findingId, string? continuationToken = null, int pageSize = MaxPageSize, CancellationToken cancellationToken = default) =>
        QueryIndexAsync(AuditTableKeys.FindingKind, findingId, continuationToken, pageSize, cancellationToken);

    /// <summary>Reads a page of the records of one grant, oldest first.</summary>
    public Task<AuditRecordPage> QueryByGrantAsync(string grantId, string? continuationToken = null, int pageSize = MaxPageSize, CancellationToken cancellationToken = default) =>
        QueryIndexAsync(AuditTableKeys.GrantKind, grantId, continuationToken, pageSize, cancellationToken);

    /// <summary>Reads every record of a run, following continuation tokens, in sequence order.</summary>
    public async Task<IReadOnlyList<SignedAuditRecord>> ReadRunAsync(string runId, CancellationToken cancellationToken)
    {
        var records = new List<SignedAuditRecord>();
        string? continuationToken = null;
        do
        {
            AuditRecordPage page = await QueryByRunAsync(runId, continuationToken, MaxPageSize, cancellationToken).ConfigureAwait(false);
            records.AddRange(page.Records);
            continuationToken = page.ContinuationToken;
        }
        while (continuationToken is not null);

        return records;
    }

    /// <summary>Reads a page of the records whose id time is at or after <paramref name="from"/> and before <paramref name="to"/>, oldest first.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is empty or the page size is outside 1 to 1000.</exception>
    /// <exception cref="FormatException">The continuation token is not one of this range, or does not resume inside it.</exception>
    public async Task<AuditRecordPage> QueryByTimeAsync(
        DateTimeOffset from,
        DateTimeOffset to,
        string? continuationToken = null,
        int pageSize = MaxPageSize,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(to, from);
        CheckPageSize(pageSize);
        string? after = continuationToken is null ? null : AuditTimeContinuation.Decode(continuationToken, from, to);

        // Record ids start with their time and the partition is their date, so the records after a record id, in id
        // order, are a row key range. The partition range only spares the service from scanning other days.
        string filter = after is null
            ? TableClient.CreateQueryFilter(
                $"PartitionKey ge {AuditTableKeys.DatePartition(from)} and PartitionKey le {AuditTableKeys.DatePartition(to)} and RowKey ge {AuditRecordIds.FormatTime(from)} and RowKey lt {AuditRecordIds.FormatTime(to)}")
            : TableClient.CreateQueryFilter(
                $"PartitionKey ge {AuditTableKeys.RecordPartition(after)} and PartitionKey le {AuditTableKeys.DatePartition(to)} and RowKey gt {after} and RowKey lt {AuditRecordIds.FormatTime(to)}");

        var entities = new List<TableEntity>(pageSize);
        bool more = false;
        try
        {
            // The service may return short pages, such as at a partition boundary, so pages are read until this one is full.
            await foreach (Page<TableEntity> page in _records
                .QueryAsync<TableEntity>(filter, pageSize, cancellationToken: cancellationToken)
                .AsPages(pageSizeHint: pageSize)
                .ConfigureAwait(false))
            {
                int wanted = pageSize - entities.Count;
                entities.AddRange(page.Values.Take(wanted));
                more = page.Values.Count > wanted || page.ContinuationToken is not null;
                if (entities.Count == pageSize)
                {
                    break;
                }
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No table means nothing was ever appended.
        }

        string? next = more && entities.Count > 0 ? AuditTimeContinuation.Encode(from, to, entities[^1].RowKey) : null;
        return new AuditRecordPage(entities.Select(ToRecord).ToList(), next);
    }

    private static async Task<(IReadOnlyList<TableEntity> Values, string? ContinuationToken)> FirstPageAsync(
        TableClient table,
        string filter,
        string? continuationToken,
        int pageSize,
        CancellationToken cancellationToken)
    {
        try
        {
            await foreach (Page<TableEntity> page in table
                .QueryAsync<TableEntity>(filter, pageSize, cancellationToken: cancellationToken)
                .AsPages(continuationToken, pageSize)
                .ConfigureAwait(false))
            {
                return (page.Values, page.ContinuationToken);
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No table means nothing was ever appended.
        }

        return ([], null);
    }

    /// <summary>Inserts the records' entities and returns those already stored with the same hash, by record id.</summary>
    /// <exception cref="AuditRecordConflictException">A record is stored with a different hash.</exception>
    private async Task<Dictionary<string, TableEntity>> InsertRecordsAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken)
    {
        var storedBefore = new ConcurrentDictionary<string, TableEntity>(StringComparer.Ordinal);
        await InsertAllAsync(
            _records,
            records.Select(ToRecordEntity).ToList(),
            async (entity, token) =>
            {
                if (await InsertRecordAsync(entity, token).ConfigureAwait(false) is { } existing)
                {
                    storedBefore[entity.RowKey] = existing;
                }
            },
            cancellationToken).ConfigureAwait(false);

        return new Dictionary<string, TableEntity>(storedBefore, StringComparer.Ordinal);
    }

    /// <summary>
    /// Inserts entities in transactions per partition where possible. An entity that is alone in its transaction,
    /// or in a transaction that hit an existing entity, goes through <paramref name="insertOne"/> instead.
    /// </summary>
    private async Task InsertAllAsync(
        TableClient table,
        List<TableEntity> entities,
        Func<TableEntity, CancellationToken, Task> insertOne,
        CancellationToken cancellationToken)
    {
        // The transactions contain different entities, so they can run in any order, and several are
        // sent at once to overlap their round trips.
        await Parallel.ForEachAsync(
            PlanTransactions(entities),
            new ParallelOptions { MaxDegreeOfParallelism = TransactionConcurrency, CancellationToken = cancellationToken },
            async (transaction, token) =>
            {
                if (transaction.Count > 1 && await TrySubmitTransactionAsync(table, transaction, token).ConfigureAwait(false))
                {
                    return;
                }

                foreach (TableEntity entity in transaction)
                {
                    await insertOne(entity, token).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
    }

    /// <summary>Submits one transaction of inserts; returns false when it failed whole because one of its entities exists.</summary>
    private async Task<bool> TrySubmitTransactionAsync(TableClient table, List<TableEntity> transaction, CancellationToken cancellationToken)
    {
        try
        {
            await table.SubmitTransactionAsync(
                transaction.Select(entity => new TableTransactionAction(TableTransactionActionType.Add, entity)),
                cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            // As on a retried run. Inserting one by one shows which entities are new and which were stored before.
            LogTransactionConflict(_logger, transaction.Count, transaction[0].PartitionKey, table.Name);
            return false;
        }
    }

    /// <summary>Inserts one record entity; returns null when it was new, or the stored entity when one with the same hash was there.</summary>
    /// <exception cref="AuditRecordConflictException">The record is stored with a different hash.</exception>
    private async Task<TableEntity?> InsertRecordAsync(TableEntity entity, CancellationToken cancellationToken)
    {
        if (await AddOrGetExistingAsync(_records, entity, cancellationToken).ConfigureAwait(false) is not { } existing)
        {
            return null;
        }

        string storedHash = existing.GetString(HashProperty) ?? "(none)";
        string newHash = entity.GetString(HashProperty)!;
        return string.Equals(storedHash, newHash, StringComparison.Ordinal)
            ? existing
            : throw new AuditRecordConflictException(entity.RowKey, _records.Name, storedHash, newHash);
    }

    /// <summary>Inserts one entity; returns null when it was new, or the entity stored before under the same keys.</summary>
    private static async Task<TableEntity?> AddOrGetExistingAsync(TableClient table, TableEntity entity, CancellationToken cancellationToken)
    {
        try
        {
            await table.AddEntityAsync(entity, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            Response<TableEntity> existing = await table.GetEntityAsync<TableEntity>(entity.PartitionKey, entity.RowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
            return existing.Value;
        }
    }

    /// <summary>Groups entities into transactions of one partition, at most 100 entities and about 3 MiB each.</summary>
    private static IEnumerable<List<TableEntity>> PlanTransactions(List<TableEntity> entities)
    {
        foreach (IGrouping<string, TableEntity> partition in entities.GroupBy(entity => entity.PartitionKey, StringComparer.Ordinal))
        {
            var transaction = new List<TableEntity>();
            long bytes = 0;
            foreach (TableEntity entity in partition)
            {
                long size = EstimateBytes(entity);
                if (transaction.Count == MaxTransactionActions || (transaction.Count > 0 && bytes + size > MaxTransactionBytes))
                {
                    yield return transaction;
                    transaction = [];
                    bytes = 0;
                }

                transaction.Add(entity);
                bytes += size;
            }

            if (transaction.Count > 0)
            {
                yield return transaction;
            }
        }
    }

    /// <summary>Estimates an entity's share of a transaction body: its strings twice over for JSON escaping, plus 1 KiB of framing.</summary>
    private static long EstimateBytes(TableEntity entity) =>
        1024 + ((IDictionary<string, object>)entity).Values.Sum(value => value is string text ? 2L * text.Length : 16L);

    private static TableEntity ToRecordEntity(SignedAuditRecord record)
    {
        var entity = new TableEntity(AuditTableKeys.RecordPartition(record.Id), record.Id)
        {
            [HashProperty] = record.Hash,
            ["PrevHash"] = record.PrevHash,
            ["Kid"] = record.KeyId,
            ["Alg"] = record.Algorithm,
            ["Signature"] = record.Signature,
            ["Stream"] = record.Stream,
            ["Seq"] = record.Seq,
            ["Event"] = record.Event,
            ["RunId"] = record.RunId,
            ["EventTime"] = record.EventTime,
        };
        AddIfPresent(entity, "FindingId", record.FindingId);
        AddIfPresent(entity, "GrantId", record.GrantId);
        AddIfPresent(entity, "Resource", record.Resource);

        List<string> parts = SplitJson(record);
        entity[RecordPartsProperty] = parts.Count;
        for (int i = 0; i < parts.Count; i++)
        {
            entity[RecordPartName(i)] = parts[i];
        }

        return entity;
    }

    private static void AddIfPresent(TableEntity entity, string property, string? value)
    {
        if (value is not null)
        {
            entity[property] = value;
        }
    }

    private static List<string> SplitJson(SignedAuditRecord record)
    {
        string json = record.Json;
        if (json.Length > MaxCharactersPerProperty * MaxRecordParts)
        {
            throw new InvalidOperationException(
                $"Audit record {record.Id} has {json.Length.ToString(CultureInfo.InvariantCulture)} characters of JSON; a table entity can store at most " +
                $"{(MaxCharactersPerProperty * MaxRecordParts).ToString(CultureInfo.InvariantCulture)} ({MaxRecordParts.ToString(CultureInfo.InvariantCulture)} properties of " +
                $"{MaxCharactersPerProperty.ToString(CultureInfo.InvariantCulture)} characters within Azure's 1 MiB entity limit). Shorten the evidence, error or check texts the run reports.");
        }

        var parts = new List<string>();
        int start = 0;
        while (start < json.Length)
        {
            int length = Math.Min(MaxCharactersPerProperty, json.Length - start);

            // Never split a surrogate pair between two properties.
            if (start + length < json.Length && char.IsHighSurrogate(json[start + length - 1]))
            {
                length--;
            }

            parts.Add(json.Substring(start, length));
            start += length;
        }

        return parts;
    }

    private static SignedAuditRecord ToRecord(TableEntity entity)
    {
        int parts = entity.GetInt32(RecordPartsProperty) ?? 1;
        var json = new StringBuilder();
        for (int i = 0; i < parts; i++)
        {
            json.Append(entity.GetString(RecordPartName(i))
                ?? throw new FormatException($"Audit entity {entity.RowKey} lacks property {RecordPartName(i)} of its {parts.ToString(CultureInfo.InvariantCulture)} record parts."));
        }

        try
        {
            return SignedAuditRecord.Parse(json.ToString());
        }
        catch (FormatException ex)
        {
            throw new FormatException($"Audit entity {entity.RowKey} does not contain a sealed audit record: {ex.Message}", ex);
        }
    }

    private static string RecordPartName(int index) =>
        index == 0 ? RecordProperty : RecordProperty + index.ToString(CultureInfo.InvariantCulture);

    private static void CheckPageSize(int pageSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, MaxPageSize);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Appended {Written} audit records of run {RunId} to table {Table} ({AlreadyStored} were stored before)")]
    private static partial void LogAppended(ILogger logger, int written, int alreadyStored, string runId, string table);

    [LoggerMessage(Level = LogLevel.Information, Message = "A transaction of {Count} entities in partition {PartitionKey} of table {Table} hit an existing entity; inserting them one by one")]
    private static partial void LogTransactionConflict(ILogger logger, int count, string partitionKey, string table);
}
