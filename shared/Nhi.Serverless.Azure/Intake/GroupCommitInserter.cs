using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Nhi.Serverless.Azure.Intake;

/// <summary>
/// Conditional inserts into one table with group commit: inserts into the same partition that wait at the same
/// time travel in one entity group transaction, so a burst of deliveries costs a few storage round trips instead of
/// one each. A lone insert is sent at once, so an idle host adds no delay.
/// </summary>
/// <remarks>
/// <para>Each caller learns whether its own entity was inserted or existed already, or why it failed, as with a single
/// insert. A transaction fails whole when one entity exists or is rejected, so the writer completes the insert of the
/// entity the service names with that result and sends the rest again.</para>
/// <para>A caller that stops waiting does not take its entity out of a batch already being written. As with a single
/// insert whose response was lost, the entity may then be stored.</para>
/// </remarks>
internal sealed partial class GroupCommitInserter(TableClient table, ILogger? logger = null)
{
    // Azure limits a transaction to 100 entities and a 4 MiB body.
    private const int MaxTransactionActions = 100;
    private const long MaxTransactionBytes = 3L * 1024 * 1024;

    private readonly LazyTable _table = new(table);
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PartitionQueue> _partitions = new(StringComparer.Ordinal);

    public string TableName => table.Name;

    /// <summary>Inserts the entity unless one with its keys exists.</summary>
    /// <returns>True when this call stored it; false when an entity with the same keys was there.</returns>
    /// <exception cref="RequestFailedException">The service refused the write for another reason.</exception>
    public async Task<bool> InsertAsync(TableEntity entity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entity);
        await _table.GetAsync(cancellationToken).ConfigureAwait(false);

        var pending = new PendingInsert(entity);
        bool startWriter;
        PartitionQueue queue;
        lock (_lock)
        {
            if (!_partitions.TryGetValue(entity.PartitionKey, out queue!))
            {
                queue = new PartitionQueue(entity.PartitionKey);
                _partitions[entity.PartitionKey] = queue;
            }

            queue.Waiting.Add(pending);
            startWriter = !queue.Writing;
            queue.Writing = true;
        }

        if (startWriter)
        {
            _ = Task.Run(() => WriteUntilEmptyAsync(queue), CancellationToken.None);
        }

        return await pending.Done.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task WriteUntilEmptyAsync(PartitionQueue queue)
    {
        while (true)
        {
            List<PendingInsert> batch;
            lock (_lock)
            {
                batch = TakeBatch(queue.Waiting);
                if (batch.Count == 0)
                {
                    queue.Writing = false;
                    if (queue.Waiting.Count == 0)
                    {
                        _partitions.Remove(queue.PartitionKey);
                    }

                    return;
                }
            }

            await WriteBatchAsync(batch).ConfigureAwait(false);
        }
    }

    /// <summary>Takes up to 100 waiting inserts with distinct row keys within the size limit, oldest first.</summary>
    private static List<PendingInsert> TakeBatch(List<PendingInsert> waiting)
    {
        var batch = new List<PendingInsert>();
        var rowKeys = new HashSet<string>(StringComparer.Ordinal);
        long bytes = 0;
        for (int i = 0; i < waiting.Count && batch.Count < MaxTransactionActions; i++)
        {
            PendingInsert candidate = waiting[i];
            long size = EstimateBytes(candidate.Entity);
            if (batch.Count > 0 && bytes + size > MaxTransactionBytes)
            {
                break;
            }

            // The service refuses a transaction that inserts one key twice. The second insert waits for the next
            // batch, where it meets the first as an existing entity.
            if (rowKeys.Add(candidate.Entity.RowKey))
            {
                batch.Add(candidate);
                bytes += size;
            }
        }

        foreach (PendingInsert taken in batch)
        {
            waiting.Remove(taken);
        }

        return batch;
    }

    private async Task WriteBatchAsync(List<PendingInsert> batch)
    {
        while (batch.Count > 0)
        {
            try
            {
                if (batch.Count == 1)
                {
                    await table.AddEntityAsync(batch[0].Entity, CancellationToken.None).ConfigureAwait(false);
                }
                else
                {
                    await table.SubmitTransactionAsync(
                        batch.Select(pending => new TableTransactionAction(TableTransactionActionType.Add, pending.Entity)),
                        CancellationToken.None).ConfigureAwait(false);
                }

                batch.ForEach(pending => pending.Done.TrySetResult(true));
                return;
            }
            catch (TableTransactionFailedException failure) when (failure.FailedTransactionActionIndex is int index && index < batch.Count)
            {
                // The service named the entity that failed the transaction, so only its caller learns of it, and the
                // rest are sent again.
                if (failure.Status == 409)
                {
                    batch[index].Done.TrySetResult(false);
                }
                else
                {
                    batch[index].Done.TrySetException(failure);
                }

                batch.RemoveAt(index);
            }
            catch (RequestFailedException conflict) when (conflict.Status == 409 && batch.Count == 1)
            {
                batch[0].Done.TrySetResult(false);
                return;
            }
            catch (Exception failure) when (batch.Count > 1)
            {
                // The service did not name an entity, so each is written alone: one bad entity must not fail the others.
                LogBatchFailedWithoutIndex(_logger, batch.Count, batch[0].Entity.PartitionKey, table.Name, failure.GetType().Name);
                await Task.WhenAll(batch.Select(pending => WriteBatchAsync([pending]))).ConfigureAwait(false);
                return;
            }
            catch (Exception failure)
            {
                // Only a batch of one gets here.
                batch[0].Done.TrySetException(failure);
                return;
            }
        }
    }

    /// <summary>Estimates an entity's share of a transaction body: its strings twice over for JSON escaping, plus 1 KiB of framing.</summary>
    private static long EstimateBytes(TableEntity entity) =>
        1024 + ((IDictionary<string, object>)entity).Values.Sum(value => value is string text ? 2L * text.Length : 16L);

    private sealed class PartitionQueue(string partitionKey)
    {
        public string PartitionKey { get; } = partitionKey;

        public List<PendingInsert> Waiting { get; } = [];

        public bool Writing { get; set; }
    }

    private sealed class PendingInsert(TableEntity entity)
    {
        public TableEntity Entity { get; } = entity;

        public TaskCompletionSource<bool> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A transaction of {Count} inserts into partition {PartitionKey} of table {Table} failed with {ErrorType} and named no entity, so each insert is sent alone")]
    private static partial void LogBatchFailedWithoutIndex(ILogger logger, int count, string partitionKey, string table, string errorType);
}
