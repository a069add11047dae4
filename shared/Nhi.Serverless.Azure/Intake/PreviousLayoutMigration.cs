using Azure.Data.Tables;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Azure.Runs;

namespace Nhi.Serverless.Azure.Intake;

/// <summary>The counts of one table's migration, so far or at the end.</summary>
/// <param name="Read">Entities read from the source table.</param>
/// <param name="Copied">Entities inserted into the destination table.</param>
/// <param name="Skipped">Entities whose keys the destination table already contained, where the destination's entity was kept.</param>
/// <param name="NotInPreviousLayout">Entities whose keys are not of the previous layout, which were not copied.</param>
public sealed record TableMigrationCounts(string Source, string Destination, long Read, long Copied, long Skipped, long NotInPreviousLayout);

/// <summary>A table whose key layout changed.</summary>
public enum MigratedTable
{
    /// <summary>The run registry, see <see cref="TableRunRegistry"/>.</summary>
    RunRegistry,

    /// <summary>The intake journal, see <see cref="TableIntakeJournal"/>.</summary>
    IntakeJournal,
}

/// <summary>
/// Copies the run registry and the intake journal from the tables of their previous key layout into the tables of
/// the current one, so that a host of the current version still finds the runs and intake records from before.
/// </summary>
/// <remarks>
/// Each entity is inserted only when its keys are not in the destination yet, so running a migration twice, or
/// after a host already registered some of the same run ids, changes nothing that is there. The source tables are
/// only read. The service sets the Timestamp of each copy anew, and every other property is kept with its type.
/// </remarks>
public static class PreviousLayoutMigration
{
    /// <summary>The maximum number of entities per page that Table Storage returns.</summary>
    private const int MaxPageSize = 1000;

    /// <summary>Copies the entities of <paramref name="kind"/> from <paramref name="source"/> (previous layout) into <paramref name="destination"/>.</summary>
    /// <param name="progressEvery">Calls <paramref name="progress"/> after about every this many entities read.</param>
    /// <exception cref="global::Azure.RequestFailedException">A read or write failed, for example because the source table does not exist.</exception>
    public static Task<TableMigrationCounts> MigrateAsync(
        TableServiceClient service,
        MigratedTable kind,
        string source,
        string destination,
        int progressEvery,
        Action<TableMigrationCounts>? progress,
        CancellationToken cancellationToken)
    {
        Func<TableEntity, TableEntity?> convert = kind switch
        {
            MigratedTable.RunRegistry => TableRunRegistry.FromPreviousLayout,
            MigratedTable.IntakeJournal => TableIntakeJournal.FromPreviousLayout,
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Expected RunRegistry or IntakeJournal."),
        };
        return CopyAsync(service, source, destination, convert, progressEvery, progress, cancellationToken);
    }

    /// <summary>Returns the names among <paramref name="tables"/> that do not exist in the account. Creates nothing.</summary>
    public static async Task<IReadOnlyList<string>> FindMissingTablesAsync(
        TableServiceClient service, IEnumerable<string> tables, CancellationToken cancellationToken)
    {
        var missing = new List<string>();
        foreach (string name in tables)
        {
            if (!await TableAuditStore.TableExistsAsync(service.GetTableClient(name), cancellationToken).ConfigureAwait(false))
            {
                missing.Add(name);
            }
        }

        return missing;
    }

    /// <summary>Returns a new entity with the given keys and every property of <paramref name="previous"/> but its keys, Timestamp and ETag.</summary>
    internal static TableEntity WithKeys(TableEntity previous, string partitionKey, string rowKey)
    {
        var entity = new TableEntity(partitionKey, rowKey);
        foreach ((string name, object value) in previous)
        {
            bool systemProperty = name is "PartitionKey" or "RowKey" or "Timestamp" || name.StartsWith("odata.", StringComparison.Ordinal);
            if (!systemProperty)
            {
                entity[name] = value;
            }
        }

        return entity;
    }

    private static async Task<TableMigrationCounts> CopyAsync(
        TableServiceClient service,
        string source,
        string destination,
        Func<TableEntity, TableEntity?> convert,
        int progressEvery,
        Action<TableMigrationCounts>? progress,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(progressEvery, 1);
        if (string.Equals(source, destination, StringComparison.OrdinalIgnoreCase))
        {
            // Table names are case-insensitive, and copying a table into itself would read what it writes.
            throw new ArgumentException($"The source and destination table are both '{source}'. Expected two different tables.", nameof(destination));
        }

        TableClient sourceTable = service.GetTableClient(source);
        var inserter = new GroupCommitInserter(service.GetTableClient(destination));
        var counts = new TableMigrationCounts(source, destination, 0, 0, 0, 0);

        // Pages no larger than the progress interval keep the progress lines close to their interval.
        int pageSize = Math.Min(MaxPageSize, progressEvery);
        await foreach (global::Azure.Page<TableEntity> page in sourceTable
            .QueryAsync<TableEntity>(filter: (string?)null, maxPerPage: pageSize, cancellationToken: cancellationToken)
            .AsPages(pageSizeHint: pageSize)
            .ConfigureAwait(false))
        {
            TableEntity[] converted = page.Values.Select(convert).OfType<TableEntity>().ToArray();

            // The inserter sends inserts into one partition that wait together as one transaction.
            bool[] inserted = await Task.WhenAll(converted.Select(entity => inserter.InsertAsync(entity, cancellationToken))).ConfigureAwait(false);

            long readBefore = counts.Read;
            counts = counts with
            {
                Read = counts.Read + page.Values.Count,
                Copied = counts.Copied + inserted.Count(insert => insert),
                Skipped = counts.Skipped + inserted.Count(insert => !insert),
                NotInPreviousLayout = counts.NotInPreviousLayout + (page.Values.Count - converted.Length),
            };
            if (counts.Read / progressEvery > readBefore / progressEvery)
            {
                progress?.Invoke(counts);
            }
        }

        return counts;
    }
}
