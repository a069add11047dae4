using Azure;
using Azure.Data.Tables;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>Range reads of the records table in record id order, for the checkpoint writer, the outbox forwarder and exports.</summary>
public sealed partial class TableAuditStore
{
    /// <summary>Reads every record of a checkpoint window, in id order.</summary>
    public async Task<IReadOnlyList<SignedAuditRecord>> ReadWindowAsync(AuditCheckpointWindow window, CancellationToken cancellationToken)
    {
        var records = new List<SignedAuditRecord>();
        string? continuationToken = null;
        do
        {
            AuditRecordPage page = await QueryByTimeAsync(window.Start, window.End, continuationToken, MaxPageSize, cancellationToken).ConfigureAwait(false);
            records.AddRange(page.Records);
            continuationToken = page.ContinuationToken;
        }
        while (continuationToken is not null);

        return records;
    }

    /// <summary>Returns the smallest record id in the table, or null when the table is empty or does not exist.</summary>
    public async Task<string?> GetFirstRecordIdAsync(CancellationToken cancellationToken)
    {
        // Table Storage returns entities in PartitionKey and then RowKey order, and record partitions are
        // dates, so the first entity of an unfiltered query has the smallest id.
        try
        {
            await foreach (TableEntity entity in _records
                .QueryAsync<TableEntity>(filter: (string?)null, maxPerPage: 1, select: ["RowKey"], cancellationToken: cancellationToken)
                .ConfigureAwait(false))
            {
                return entity.RowKey;
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No table means nothing was ever appended.
        }

        return null;
    }

    /// <summary>
    /// Reads up to <paramref name="maxRecords"/> records whose id sorts after <paramref name="afterKey"/>
    /// and whose id time is before <paramref name="before"/>, in id order.
    /// </summary>
    /// <param name="afterKey">A record id, or a time prefix such as "20250301T101502123Z"; null to start at the first record.</param>
    /// <param name="before">Records at or after this id time are left for a later read.</param>
    /// <param name="maxRecords">The most records returned (1 to 1000).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public async Task<IReadOnlyList<SignedAuditRecord>> ReadAfterAsync(string? afterKey, DateTimeOffset before, int maxRecords, CancellationToken cancellationToken)
    {
        CheckPageSize(maxRecords);

        string beforeKey = AuditRecordIds.FormatTime(before);
        string filter = afterKey is null
            ? TableClient.CreateQueryFilter($"PartitionKey le {AuditTableKeys.DatePartition(before)} and RowKey lt {beforeKey}")
            : TableClient.CreateQueryFilter(
                $"PartitionKey ge {AuditTableKeys.DatePartition(AuditRecordIds.GetTime(afterKey))} and PartitionKey le {AuditTableKeys.DatePartition(before)} and RowKey gt {afterKey} and RowKey lt {beforeKey}");

        var records = new List<SignedAuditRecord>(maxRecords);
        try
        {
            await foreach (TableEntity entity in _records
                .QueryAsync<TableEntity>(filter, Math.Min(maxRecords, MaxPageSize), cancellationToken: cancellationToken)
                .ConfigureAwait(false))
            {
                records.Add(ToRecord(entity));
                if (records.Count == maxRecords)
                {
                    break;
                }
            }
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // No table means nothing was ever appended.
        }

        return records;
    }
}
