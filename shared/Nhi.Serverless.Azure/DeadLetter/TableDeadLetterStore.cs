using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Nhi.Serverless.Azure.Intake;
using Nhi.Serverless.Intake;

namespace Nhi.Serverless.Azure.DeadLetter;

/// <summary>
/// Dead letters in an Azure Storage table, one entity per letter in a single partition so that a listing is one
/// ordered range query; a payload too large for a table property goes to a blob beside it.
/// </summary>
/// <remarks>Ids from <see cref="DeadLetterItem.NewId"/> start with the parking time, so the RowKey order is oldest first.</remarks>
public sealed class TableDeadLetterStore : IDeadLetterStore
{
    private const string Partition = "deadletter";

    // A table string property holds up to 64 KiB of UTF-16, which is 32,768 characters; the rest goes to a blob.
    private const int MaxInlinePayloadChars = 30_000;

    private readonly LazyTable _table;
    private readonly BlobContainerClient _blobs;
    private readonly SemaphoreSlim _containerLock = new(1, 1);
    private volatile bool _containerExists;

    public TableDeadLetterStore(TableClient table, BlobContainerClient blobs)
    {
        _table = new LazyTable(table);
        _blobs = blobs;
    }

    public static TableDeadLetterStore FromConnectionString(string connectionString, string tableName = "NhiDeadLetters", string containerName = "nhi-dead-letters") =>
        new(new TableServiceClient(connectionString).GetTableClient(tableName), new BlobContainerClient(connectionString, containerName));

    public async Task ParkAsync(DeadLetterItem letter, CancellationToken cancellationToken)
    {
        TableClient table = await _table.GetAsync(cancellationToken);
        var entity = new TableEntity(Partition, letter.Id)
        {
            ["Kind"] = letter.Kind,
            ["Source"] = letter.Source,
            ["RunId"] = letter.RunId,
            ["FindingId"] = letter.FindingId,
            ["Reason"] = letter.Reason,
            ["ParkedAt"] = letter.ParkedAt,
            ["Status"] = letter.Status,
            ["ReplayCount"] = letter.ReplayCount,
        };

        if (letter.Payload.Length <= MaxInlinePayloadChars)
        {
            entity["Payload"] = letter.Payload;
        }
        else
        {
            BlobClient blob = await BlobForAsync(letter.Id, cancellationToken);
            await blob.UploadAsync(BinaryData.FromString(letter.Payload), overwrite: true, cancellationToken);
            entity["PayloadBlob"] = blob.Name;
        }

        await table.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken);
    }

    public async Task<IReadOnlyList<DeadLetterItem>> ListAsync(string? status, int max, CancellationToken cancellationToken)
    {
        TableClient table = await _table.GetAsync(cancellationToken);
        string filter = status is null
            ? TableClient.CreateQueryFilter($"PartitionKey eq {Partition}")
            : TableClient.CreateQueryFilter($"PartitionKey eq {Partition} and Status eq {status}");

        List<DeadLetterItem> letters = [];
        await foreach (TableEntity entity in table.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(max, 1000), cancellationToken: cancellationToken))
        {
            letters.Add(await ReadAsync(entity, cancellationToken));
            if (letters.Count >= max)
            {
                break;
            }
        }

        return letters;
    }

    public async Task<DeadLetterItem?> GetAsync(string id, CancellationToken cancellationToken)
    {
        TableClient table = await _table.GetAsync(cancellationToken);
        NullableResponse<TableEntity> found = await table.GetEntityIfExistsAsync<TableEntity>(Partition, id, cancellationToken: cancellationToken);
        return found.HasValue ? await ReadAsync(found.Value!, cancellationToken) : null;
    }

    public async Task RecordReplayAsync(string id, DateTimeOffset at, string? error, CancellationToken cancellationToken)
    {
        TableClient table = await _table.GetAsync(cancellationToken);
        TableEntity current = (await table.GetEntityAsync<TableEntity>(Partition, id, cancellationToken: cancellationToken)).Value;
        var update = new TableEntity(Partition, id)
        {
            ["Status"] = error is null ? DeadLetterStatuses.Replayed : DeadLetterStatuses.Parked,
            ["ReplayCount"] = (current.GetInt32("ReplayCount") ?? 0) + 1,
            ["LastReplayAt"] = at,
            ["LastReplayError"] = error,
        };

        // The ETag makes two concurrent replays of one letter count as two, never overwrite each other's count.
        await table.UpdateEntityAsync(update, current.ETag, TableUpdateMode.Merge, cancellationToken);
    }

    private async Task<DeadLetterItem> ReadAsync(TableEntity entity, CancellationToken cancellationToken)
    {
        string payload = entity.GetString("Payload") ?? "";
        if (entity.GetString("PayloadBlob") is not null)
        {
            BlobClient blob = await BlobForAsync(entity.RowKey, cancellationToken);
            payload = (await blob.DownloadContentAsync(cancellationToken)).Value.Content.ToString();
        }

        return new DeadLetterItem(
            entity.RowKey,
            entity.GetString("Kind") ?? "",
            entity.GetString("Source") ?? "",
            entity.GetString("RunId") ?? "",
            entity.GetString("FindingId") ?? "",
            payload,
            entity.GetString("Reason") ?? "",
            entity.GetDateTimeOffset("ParkedAt") ?? DateTimeOffset.MinValue)
        {
            Status = entity.GetString("Status") ?? DeadLetterStatuses.Parked,
            ReplayCount = entity.GetInt32("ReplayCount") ?? 0,
            LastReplayAt = entity.GetDateTimeOffset("LastReplayAt"),
            LastReplayError = entity.GetString("LastReplayError"),
        };
    }

    private async Task<BlobClient> BlobForAsync(string id, CancellationToken cancellationToken)
    {
        if (!_containerExists)
        {
            await _containerLock.WaitAsync(cancellationToken);
            try
            {
                await _blobs.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
                _containerExists = true;
            }
            finally
            {
                _containerLock.Release();
            }
        }

        return _blobs.GetBlobClient(id + ".json");
    }
}
