using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>Writes and queries the index table: grouped index entities by run, resource, finding and grant.</summary>
public sealed partial class TableAuditStore
{
    private const int PointReadConcurrency = 8;

    /// <summary>Reads a page of one index partition's records in id order, resuming after the page the token came from.</summary>
    /// <exception cref="FormatException">The continuation token is not one that a query of the same partition returned.</exception>
    private async Task<AuditRecordPage> QueryIndexAsync(string kind, string value, string? continuationToken, int pageSize, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        CheckPageSize(pageSize);

        string partitionKey = AuditTableKeys.IndexPartition(kind, value);
        AuditIndexContinuation? resume = continuationToken is null ? null : AuditIndexContinuation.Decode(continuationToken, partitionKey);
        string filter = resume is null
            ? TableClient.CreateQueryFilter($"PartitionKey eq {partitionKey}")
            : TableClient.CreateQueryFilter($"PartitionKey eq {partitionKey} and RowKey ge {resume.ResumeRowKey}");

        // Entities of the older layout list one id each, so pageSize + 1 of them fill a page. The SDK reads further pages when needed.
        IAsyncEnumerable<TableEntity> entities = _index.QueryAsync<TableEntity>(
            filter, Math.Min(pageSize + 1, MaxPageSize), AuditIndexEntities.QueryProperties, cancellationToken);
        List<string> recordIds;
        AuditIndexContinuation? next;
        try
        {
            (recordIds, next) = await AuditIndexMerge.ReadPageAsync(entities, resume?.LastRecordId, pageSize, _index.Name, cancellationToken).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No table means nothing was ever appended.
            return new AuditRecordPage([], null);
        }

        IReadOnlyList<SignedAuditRecord> records = await ReadIndexedRecordsAsync(partitionKey, recordIds, cancellationToken).ConfigureAwait(false);
        return new AuditRecordPage(records, next?.Encode(partitionKey));
    }

    /// <summary>Reads the records an index partition lists, with a few point reads in flight, keeping the order.</summary>
    /// <exception cref="InvalidOperationException">A listed record is not in the records table.</exception>
    private async Task<IReadOnlyList<SignedAuditRecord>> ReadIndexedRecordsAsync(string partitionKey, List<string> recordIds, CancellationToken cancellationToken)
    {
        var records = new SignedAuditRecord[recordIds.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, recordIds.Count),
            new ParallelOptions { MaxDegreeOfParallelism = PointReadConcurrency, CancellationToken = cancellationToken },
            async (i, token) =>
            {
                records[i] = await GetAsync(recordIds[i], token).ConfigureAwait(false)
                    ?? throw new InvalidOperationException($"Index partition '{partitionKey}' in table '{_index.Name}' lists audit record {recordIds[i]}, which is not in table '{_records.Name}'.");
            }).ConfigureAwait(false);

        return records;
    }

    /// <summary>Inserts the grouped index entities of an append.</summary>
    /// <exception cref="AuditRecordConflictException">An index entity stored under the same keys does not match the records table.</exception>
    private async Task InsertIndexAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (SignedAuditRecord record in records)
        {
            hashes[record.Id] = record.Hash;
        }

        await InsertAllAsync(
            _index,
            AuditIndexEntities.Build(records),
            (entity, token) => InsertIndexEntityAsync(entity, hashes, token),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Inserts one index entity. An entity stored before under the same keys comes from an earlier attempt of the
    /// append, which may have grouped other records. That entity is checked against the records table, and the ids
    /// it does not list go into a new entity, until every id is listed.
    /// </summary>
    /// <param name="entity">The entity to insert.</param>
    /// <param name="hashes">The hashes of the append's records, by record id.</param>
    /// <param name="cancellationToken">Cancels the insert.</param>
    private async Task InsertIndexEntityAsync(TableEntity entity, IReadOnlyDictionary<string, string> hashes, CancellationToken cancellationToken)
    {
        TableEntity? candidate = entity;
        while (candidate is not null)
        {
            if (await AddOrGetExistingAsync(_index, candidate, cancellationToken).ConfigureAwait(false) is not { } existing
                || string.Equals(existing.GetString(AuditIndexEntities.HashProperty), candidate.GetString(AuditIndexEntities.HashProperty), StringComparison.Ordinal))
            {
                return;
            }

            string[] storedIds = AuditIndexEntities.ReadRecordIds(existing, _index.Name);
            await CheckStoredIndexEntityAsync(existing, storedIds, hashes, cancellationToken).ConfigureAwait(false);

            var listed = new HashSet<string>(storedIds, StringComparer.Ordinal);
            List<AuditIndexItem> unlisted = AuditIndexEntities.ReadRecordIds(candidate, _index.Name)
                .Where(id => !listed.Contains(id))
                .Select(id => new AuditIndexItem(id, hashes[id]))
                .ToList();
            LogIndexRegrouped(_logger, candidate.PartitionKey, candidate.RowKey, storedIds.Length, unlisted.Count, _index.Name);
            candidate = unlisted.Count == 0 ? null : AuditIndexEntities.Create(candidate.PartitionKey, unlisted);
        }
    }

    /// <summary>Checks that a stored index entity's hash matches the records it lists, taking their hashes from the append or the records table.</summary>
    /// <exception cref="AuditRecordConflictException">The hashes differ, or a listed record is missing.</exception>
    private async Task CheckStoredIndexEntityAsync(TableEntity stored, string[] storedIds, IReadOnlyDictionary<string, string> hashes, CancellationToken cancellationToken)
    {
        var items = new List<AuditIndexItem>(storedIds.Length);
        foreach (string id in storedIds)
        {
            string hash = hashes.TryGetValue(id, out string? known)
                ? known
                : (await GetAsync(id, cancellationToken).ConfigureAwait(false))?.Hash ?? "(missing record)";
            items.Add(new AuditIndexItem(id, hash));
        }

        string storedHash = stored.GetString(AuditIndexEntities.HashProperty) ?? "(none)";
        string expectedHash = AuditIndexEntities.ExpectedHash(stored, items);
        if (!string.Equals(storedHash, expectedHash, StringComparison.Ordinal))
        {
            throw new AuditRecordConflictException(stored.RowKey, _index.Name, storedHash, expectedHash);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Index entity {RowKey} in partition {PartitionKey} of table {Table} was stored before with {StoredCount} records; writing the {UnlistedCount} it does not list")]
    private static partial void LogIndexRegrouped(ILogger logger, string partitionKey, string rowKey, int storedCount, int unlistedCount, string table);
}
