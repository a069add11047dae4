using Azure;
using Azure.Data.Tables;
using Nhi.Serverless.Intake;

namespace Nhi.Serverless.Azure.Intake;

/// <summary>Logic Apps callback subscriptions in an Azure Storage table, one entity per subscription.</summary>
/// <remarks>The entity holds the callback URL, which carries the Logic App's signature, so the table must be as
/// private as the rest of the service's storage account.</remarks>
public sealed class TableCallbackSubscriptionStore(TableClient table) : ICallbackSubscriptionStore
{
    private const string Partition = "callback";

    private readonly LazyTable _table = new(table);

    public static TableCallbackSubscriptionStore FromConnectionString(string connectionString, string tableName = "NhiCallbacks") =>
        new(new TableServiceClient(connectionString).GetTableClient(tableName));

    public async Task AddAsync(CallbackSubscription subscription, CancellationToken cancellationToken)
    {
        TableClient client = await _table.GetAsync(cancellationToken);
        await client.AddEntityAsync(ToEntity(subscription), cancellationToken);
    }

    public async Task<CallbackSubscription?> GetAsync(string id, CancellationToken cancellationToken)
    {
        TableClient client = await _table.GetAsync(cancellationToken);
        NullableResponse<TableEntity> found = await client.GetEntityIfExistsAsync<TableEntity>(Partition, id, cancellationToken: cancellationToken);
        return found.HasValue ? FromEntity(found.Value!) : null;
    }

    public async Task<IReadOnlyList<CallbackSubscription>> ListDueAsync(DateTimeOffset now, int max, CancellationToken cancellationToken)
    {
        TableClient client = await _table.GetAsync(cancellationToken);
        string filter = TableClient.CreateQueryFilter(
            $"PartitionKey eq {Partition} and Status eq {CallbackStatuses.Pending} and NextAttemptAt le {now}");

        List<CallbackSubscription> due = [];
        await foreach (TableEntity entity in client.QueryAsync<TableEntity>(filter, maxPerPage: Math.Min(max, 1000), cancellationToken: cancellationToken))
        {
            due.Add(FromEntity(entity));
            if (due.Count >= max)
            {
                break;
            }
        }

        return due;
    }

    public async Task UpdateAsync(CallbackSubscription subscription, CancellationToken cancellationToken)
    {
        TableClient client = await _table.GetAsync(cancellationToken);
        await client.UpsertEntityAsync(ToEntity(subscription), TableUpdateMode.Replace, cancellationToken);
    }

    private static TableEntity ToEntity(CallbackSubscription subscription) =>
        new(Partition, subscription.Id)
        {
            ["RunId"] = subscription.RunId,
            ["CallbackUrl"] = subscription.CallbackUrl.AbsoluteUri,
            ["CreatedAt"] = subscription.CreatedAt,
            ["Status"] = subscription.Status,
            ["Attempts"] = subscription.Attempts,
            ["NextAttemptAt"] = subscription.NextAttemptAt,
            ["LastError"] = subscription.LastError,
        };

    private static CallbackSubscription FromEntity(TableEntity entity) =>
        new()
        {
            Id = entity.RowKey,
            RunId = entity.GetString("RunId") ?? "",
            CallbackUrl = new Uri(entity.GetString("CallbackUrl") ?? throw new InvalidOperationException($"Callback subscription {entity.RowKey} has no CallbackUrl.")),
            CreatedAt = entity.GetDateTimeOffset("CreatedAt") ?? DateTimeOffset.MinValue,
            Status = entity.GetString("Status") ?? CallbackStatuses.Pending,
            Attempts = entity.GetInt32("Attempts") ?? 0,
            NextAttemptAt = entity.GetDateTimeOffset("NextAttemptAt") ?? DateTimeOffset.MinValue,
            LastError = entity.GetString("LastError"),
        };
}
