using System.Security.Cryptography;
using System.Text;
using Azure.Data.Tables;
using Nhi.Serverless.Intake;

namespace Nhi.Serverless.Azure.Intake;

/// <summary>
/// Intake records in an Azure Storage table, partitioned by a hash of the finding id, because finding ids such as
/// ARNs contain characters that table keys forbid, and so the records of one finding are one partition query.
/// </summary>
public sealed class TableIntakeJournal(TableClient table) : IIntakeJournal
{
    private readonly LazyTable _table = new(table);

    public static TableIntakeJournal FromConnectionString(string connectionString, string tableName = "NhiIntakeJournal") =>
        new(new TableServiceClient(connectionString).GetTableClient(tableName));

    public async Task RecordAsync(IReadOnlyList<IntakeRecord> records, CancellationToken cancellationToken)
    {
        if (records.Count == 0)
        {
            return;
        }

        TableClient client = await _table.GetAsync(cancellationToken);
        await Task.WhenAll(records.Select(record => client.AddEntityAsync(ToEntity(record), cancellationToken)));
    }

    public async Task<IReadOnlyList<IntakeRecord>> ListForFindingAsync(string findingId, CancellationToken cancellationToken)
    {
        TableClient client = await _table.GetAsync(cancellationToken);
        string filter = TableClient.CreateQueryFilter($"PartitionKey eq {PartitionOf(findingId)}");

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

    private static TableEntity ToEntity(IntakeRecord record) =>
        new(PartitionOf(record.FindingId), $"{record.At.UtcDateTime:yyyyMMddHHmmssfffffff}-{Guid.NewGuid():N}")
        {
            ["Source"] = record.Source,
            ["DeliveryId"] = record.DeliveryId,
            ["FindingId"] = record.FindingId,
            ["RunId"] = record.RunId,
            ["Outcome"] = record.Outcome,
            ["Reason"] = record.Reason,
            ["At"] = record.At,
        };

    private static string PartitionOf(string findingId) =>
        "f-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(findingId)).AsSpan(0, 16));
}
