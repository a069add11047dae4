using Azure.Data.Tables;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Merges the id lists of one index partition's entities into one page of record ids in id order, each id once.
/// </summary>
/// <remarks>
/// Entities arrive in RowKey order, and each lists ids at or after its RowKey, so an id can be returned as soon as
/// no unread entity has a smaller RowKey. Lists of different appends can interleave, as when two runs on one
/// resource overlap in time, and can repeat ids, as when a retried append grouped its records differently.
/// </remarks>
internal static class AuditIndexMerge
{
    /// <summary>Reads up to <paramref name="pageSize"/> ids after <paramref name="lastRecordId"/> from entities in RowKey order.</summary>
    /// <returns>The ids, and where the next page resumes, or null when no id follows.</returns>
    /// <exception cref="InvalidOperationException">An entity's list is invalid.</exception>
    public static async Task<(List<string> RecordIds, AuditIndexContinuation? Next)> ReadPageAsync(
        IAsyncEnumerable<TableEntity> entities,
        string? lastRecordId,
        int pageSize,
        string tableName,
        CancellationToken cancellationToken)
    {
        var ids = new List<string>(pageSize);
        var pending = new PriorityQueue<ListCursor, string>(StringComparer.Ordinal);
        await using IAsyncEnumerator<TableEntity> unread = entities.GetAsyncEnumerator(cancellationToken);
        TableEntity? next = await ReadNextAsync(unread).ConfigureAwait(false);
        while (true)
        {
            // Load every entity that could list an id at or before the smallest pending one.
            while (next is not null && (pending.Count == 0 || string.CompareOrdinal(next.RowKey, pending.Peek().Current) <= 0))
            {
                var cursor = new ListCursor(next.RowKey, AuditIndexEntities.ReadRecordIds(next, tableName));
                pending.Enqueue(cursor, cursor.Current);
                next = await ReadNextAsync(unread).ConfigureAwait(false);
            }

            if (!pending.TryDequeue(out ListCursor? smallest, out _))
            {
                return (ids, null);
            }

            string id = smallest.Current;
            bool returnedBefore = lastRecordId is not null && string.CompareOrdinal(id, lastRecordId) <= 0;
            if (!returnedBefore && ids.Count == pageSize)
            {
                pending.Enqueue(smallest, id);
                return (ids, new AuditIndexContinuation(ResumeRowKey(pending, next), lastRecordId!));
            }

            if (!returnedBefore)
            {
                ids.Add(id);
                lastRecordId = id;
            }

            if (smallest.MoveNext())
            {
                pending.Enqueue(smallest, smallest.Current);
            }
        }
    }

    /// <summary>Returns the smallest RowKey among the entities with ids still to return and the next unread entity.</summary>
    /// <remarks>
    /// NOTE: an entity whose list spans many later entities, such as a long run's on a busy resource, keeps the
    /// resume point early, so each following page reads those later entities again and skips their returned ids.
    /// </remarks>
    private static string ResumeRowKey(PriorityQueue<ListCursor, string> pending, TableEntity? next)
    {
        string resume = next?.RowKey ?? pending.Peek().RowKey;
        foreach ((ListCursor cursor, _) in pending.UnorderedItems)
        {
            if (string.CompareOrdinal(cursor.RowKey, resume) < 0)
            {
                resume = cursor.RowKey;
            }
        }

        return resume;
    }

    private static async Task<TableEntity?> ReadNextAsync(IAsyncEnumerator<TableEntity> entities) =>
        await entities.MoveNextAsync().ConfigureAwait(false) ? entities.Current : null;

    /// <summary>A position in one entity's id list.</summary>
    private sealed class ListCursor(string rowKey, string[] ids)
    {
        private int _index;

        public string RowKey { get; } = rowKey;

        public string Current => ids[_index];

        public bool MoveNext() => ++_index < ids.Length;
    }
}
