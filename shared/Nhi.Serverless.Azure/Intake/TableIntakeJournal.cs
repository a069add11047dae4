using System.Security.Cryptography;
using System.Text;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Intake;

namespace Nhi.Serverless.Azure.Intake;

/// <summary>
/// Intake records in an Azure Storage table. Keys: PartitionKey "journal-" and a bucket number taken from the
/// finding id's SHA-256; RowKey that hash's first 32 hex characters, the record time and a unique suffix. Finding ids
/// such as ARNs contain characters that table keys forbid, so they are hashed. The records of one finding are one
/// row key range. A few shared partitions let records that arrive together go in one transaction.
/// </summary>
public sealed class TableIntakeJournal(TableClient table, ILogger<TableIntakeJournal>? logger = null) : IIntakeJournal
{
    /// <summary>The number of partitions intake records are spread over.</summary>
    public const int Buckets = 4;

    /// <summary>The table name the host uses when Intake:JournalTableName is not set.</summary>
    public const string DefaultTableName = "NhiIntakeRecords";

    /// <summary>The default table name of the previous layout, where each finding was a partition of its own.</summary>
    public const string PreviousTableName = "NhiIntakeJournal";

    private const string PreviousPartitionPrefix = "f-";

    private readonly LazyTable _table = new(table);
    private readonly GroupCommitInserter _inserter = new(table, logger);

    public static TableIntakeJournal FromConnectionString(
        string connectionString, string tableName = DefaultTableName, ILogger<TableIntakeJournal>? logger = null) =>
        new(new TableServiceClient(connectionString).GetTableClient(tableName), logger);

    public async Task RecordAsync(IReadOnlyList<IntakeRecord> records, CancellationToken cancellationToken)
    {
        bool[] inserted = await Task.WhenAll(records.Select(record => _inserter.InsertAsync(ToEntity(record), cancellationToken)));
        if (inserted.Contains(false))
        {
            // Row keys end in a new GUID, so an existing one means the keys are not what this class writes.
            throw new InvalidOperationException($"An intake record's row key already exists in table '{_inserter.TableName}'.");
        }
    }

    public async Task<IReadOnlyList<IntakeRecord>> ListForFindingAsync(string findingId, CancellationToken cancellationToken)
    {
        TableClient client = await _table.GetAsync(cancellationToken);
        string hash = HashOf(findingId);

        // '.' sorts right after '-', so the range contains exactly the row keys that start with "{hash}-".
        string filter = TableClient.CreateQueryFilter(
            $"PartitionKey eq {PartitionOf(hash)} and RowKey gt {hash + "-"} and RowKey lt {hash + "."}");

        List<IntakeRecord> records = [];
        await foreach (TableEntity entity in client.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            records.Add(new IntakeRecord(
                entity.GetString("Source") ?? "",
                entity.GetString("DeliveryId") ?? "",
                entity.GetString("FindingId") ?? "",
                entity.GetString("RunId"),
                entity.GetString("Outcome") ?? "",
                entity.GetString("Reason") ?? "",
                entity.GetDateTimeOffset("At") ?? DateTimeOffset.MinValue));
        }

        return records;
    }

    private static TableEntity ToEntity(IntakeRecord record)
    {
        string hash = HashOf(record.FindingId);
        return new TableEntity(PartitionOf(hash), $"{hash}-{record.At.UtcDateTime:yyyyMMddHHmmssfffffff}-{Guid.NewGuid():N}")
        {
            ["Source"] = record.Source,
            ["DeliveryId"] = record.DeliveryId,
            ["FindingId"] = record.FindingId,
            ["RunId"] = record.RunId,
            ["Outcome"] = record.Outcome,
            ["Reason"] = record.Reason,
            ["At"] = record.At,
        };
    }

    /// <summary>
    /// Converts an entity of the previous layout to this layout, with every property. The previous keys were
    /// PartitionKey "f-" and the hash, RowKey the record time and a unique suffix, so the hash moves into the row key
    /// and the row key stays unique. Returns null when the entity's keys are not of the previous layout.
    /// </summary>
    internal static TableEntity? FromPreviousLayout(TableEntity previous)
    {
        string? hash = previous.PartitionKey?.StartsWith(PreviousPartitionPrefix, StringComparison.Ordinal) == true
            ? previous.PartitionKey[PreviousPartitionPrefix.Length..]
            : null;
        if (hash is not { Length: 32 } || !hash.All(char.IsAsciiHexDigitLower) || string.IsNullOrEmpty(previous.RowKey))
        {
            return null;
        }

        return PreviousLayoutMigration.WithKeys(previous, PartitionOf(hash), $"{hash}-{previous.RowKey}");
    }

    private static string HashOf(string findingId) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(findingId)).AsSpan(0, 16));

    private static string PartitionOf(string hash) =>
        "journal-" + (Convert.ToInt32(hash[..2], 16) % Buckets);
}
