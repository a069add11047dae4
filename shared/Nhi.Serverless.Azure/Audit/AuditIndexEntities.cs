using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure.Data.Tables;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>One record as the index lists it: its id and its hash.</summary>
internal readonly record struct AuditIndexItem(string RecordId, string Hash);

/// <summary>
/// Builds and reads the entities of the audit index table. An append writes one entity per index partition
/// ("{kind}|{value}", see <see cref="AuditTableKeys.IndexPartition"/>) that lists the ids of the append's
/// records in that partition, in id order, with RowKey = the first id listed. Tables written before grouped
/// entities contain one entity per record instead, without a list, whose RowKey is the record id.
/// </summary>
/// <remarks>
/// A list longer than one string property (<see cref="TableAuditStore.MaxCharactersPerProperty"/> characters)
/// goes into several entities of the same partition, so an entity stays far below Azure's 1 MiB limit.
/// </remarks>
internal static class AuditIndexEntities
{
    /// <summary>The comma-separated ids of the listed records, in id order.</summary>
    public const string RecordIdsProperty = "RecordIds";

    /// <summary>How many ids <see cref="RecordIdsProperty"/> contains, to detect a cut or edited list.</summary>
    public const string RecordCountProperty = "RecordCount";

    /// <summary>The records-table partitions (UTC dates) of the listed records, comma-separated, for reading the index by hand.</summary>
    public const string RecordPartitionKeysProperty = "RecordPartitionKeys";

    /// <summary>
    /// The SHA-256 over the listed records' ids and hashes (see <see cref="HashOf"/>). In a single-record entity
    /// of the older layout it is the record's own hash.
    /// </summary>
    public const string HashProperty = "Hash";

    /// <summary>The properties a query needs to list the record ids of an entity.</summary>
    public static readonly IReadOnlyList<string> QueryProperties = ["RowKey", RecordIdsProperty, RecordCountProperty];

    private const char Separator = ',';

    /// <summary>Builds the index entities of one append: per index partition, one entity listing its records, or several when the list is too long for one property.</summary>
    public static List<TableEntity> Build(IReadOnlyList<SignedAuditRecord> records)
    {
        var partitions = new Dictionary<string, SortedDictionary<string, AuditIndexItem>>(StringComparer.Ordinal);
        foreach (SignedAuditRecord record in records)
        {
            foreach (string partitionKey in PartitionKeys(record))
            {
                if (!partitions.TryGetValue(partitionKey, out SortedDictionary<string, AuditIndexItem>? items))
                {
                    items = new SortedDictionary<string, AuditIndexItem>(StringComparer.Ordinal);
                    partitions[partitionKey] = items;
                }

                items[record.Id] = new AuditIndexItem(record.Id, record.Hash);
            }
        }

        return partitions
            .SelectMany(partition => SplitByListLength(partition.Value.Values).Select(items => Create(partition.Key, items)))
            .ToList();
    }

    /// <summary>Creates the entity that lists <paramref name="items"/>, which must be in id order, in one partition.</summary>
    public static TableEntity Create(string partitionKey, IReadOnlyList<AuditIndexItem> items)
    {
        List<string> ids = items.Select(item => item.RecordId).ToList();
        return new TableEntity(partitionKey, ids[0])
        {
            [RecordIdsProperty] = string.Join(Separator, ids),
            [RecordCountProperty] = ids.Count,
            [RecordPartitionKeysProperty] = string.Join(Separator, ids.Select(AuditTableKeys.RecordPartition).Distinct(StringComparer.Ordinal)),
            [HashProperty] = HashOf(items),
        };
    }

    /// <summary>Returns the hex SHA-256 over "{id} {hash}\n" of each item, in the order given.</summary>
    public static string HashOf(IEnumerable<AuditIndexItem> items)
    {
        var text = new StringBuilder();
        foreach (AuditIndexItem item in items)
        {
            text.Append(item.RecordId).Append(' ').Append(item.Hash).Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>
    /// Returns the hash an entity stored with <paramref name="items"/> would have: <see cref="HashOf"/>, or for a
    /// single-record entity of the older layout, the record's hash.
    /// </summary>
    public static string ExpectedHash(TableEntity entity, IReadOnlyList<AuditIndexItem> items) =>
        IsSingleRecord(entity) ? items[0].Hash : HashOf(items);

    /// <summary>Returns whether the entity has the older layout: one record, named by its RowKey, and no list.</summary>
    public static bool IsSingleRecord(TableEntity entity) => entity.GetString(RecordIdsProperty) is null;

    /// <summary>Reads the record ids an entity lists, in id order.</summary>
    /// <exception cref="InvalidOperationException">The list is empty, out of order, does not start at the RowKey or does not match the RecordCount property.</exception>
    public static string[] ReadRecordIds(TableEntity entity, string tableName)
    {
        if (entity.GetString(RecordIdsProperty) is not { } list)
        {
            return [entity.RowKey];
        }

        string[] ids = list.Split(Separator);
        string? problem = null;
        if (entity.GetInt32(RecordCountProperty) is not { } count || count != ids.Length)
        {
            problem = $"it lists {ids.Length.ToString(CultureInfo.InvariantCulture)} ids but its {RecordCountProperty} is {entity.GetInt32(RecordCountProperty)?.ToString(CultureInfo.InvariantCulture) ?? "missing"}";
        }
        else if (!string.Equals(ids[0], entity.RowKey, StringComparison.Ordinal))
        {
            problem = $"its first id {ids[0]} is not its RowKey";
        }
        else if (!IsAscending(ids))
        {
            problem = "its ids are not in ascending order";
        }

        return problem is null
            ? ids
            : throw new InvalidOperationException($"Index entity {entity.RowKey} in partition '{entity.PartitionKey}' of table '{tableName}' is invalid: {problem}.");
    }

    /// <summary>Returns the index partition keys of a record: its run, and its resource, finding and grant when present.</summary>
    private static IEnumerable<string> PartitionKeys(SignedAuditRecord record)
    {
        yield return AuditTableKeys.IndexPartition(AuditTableKeys.RunKind, record.RunId);
        if (record.Resource is { Length: > 0 } resource)
        {
            yield return AuditTableKeys.IndexPartition(AuditTableKeys.ResourceKind, resource);
        }

        if (record.FindingId is { Length: > 0 } findingId)
        {
            yield return AuditTableKeys.IndexPartition(AuditTableKeys.FindingKind, findingId);
        }

        if (record.GrantId is { Length: > 0 } grantId)
        {
            yield return AuditTableKeys.IndexPartition(AuditTableKeys.GrantKind, grantId);
        }
    }

    /// <summary>Splits items into groups whose comma-separated ids fit one string property.</summary>
    private static IEnumerable<List<AuditIndexItem>> SplitByListLength(IEnumerable<AuditIndexItem> items)
    {
        var group = new List<AuditIndexItem>();
        int length = 0;
        foreach (AuditIndexItem item in items)
        {
            int added = (group.Count == 0 ? 0 : 1) + item.RecordId.Length;
            if (group.Count > 0 && length + added > TableAuditStore.MaxCharactersPerProperty)
            {
                yield return group;
                group = [];
                length = 0;
                added = item.RecordId.Length;
            }

            group.Add(item);
            length += added;
        }

        if (group.Count > 0)
        {
            yield return group;
        }
    }

    private static bool IsAscending(string[] ids)
    {
        for (int i = 1; i < ids.Length; i++)
        {
            if (string.CompareOrdinal(ids[i - 1], ids[i]) >= 0)
            {
                return false;
            }
        }

        return true;
    }
}
