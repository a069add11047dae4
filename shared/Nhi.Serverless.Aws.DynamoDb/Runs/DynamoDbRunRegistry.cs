using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Runs;
using static Nhi.Serverless.Aws.DynamoDb.DynamoDbItems;

namespace Nhi.Serverless.Aws.DynamoDb.Runs;

/// <summary>
/// Accepted runs in a DynamoDB table, one item per run id, with a lease so that one container at a time runs a
/// finding version. A conditional PutItem records a new run. A conditional UpdateItem takes the lease of a run
/// whose previous holder let it lapse, such as a container that crashed or timed out.
/// </summary>
/// <remarks>Every write is a single-item conditional write, because dynalite, the local stand-in, has no
/// TransactWriteItems. Items hold ids, the resource and times, never a secret.</remarks>
public sealed class DynamoDbRunRegistry : IRunRegistry
{
    /// <summary>The table's partition key.</summary>
    public const string KeyAttribute = "RunId";

    private const string InProgress = "in-progress";
    private const string Completed = "completed";

    private readonly IAmazonDynamoDB _client;
    private readonly string _tableName;
    private readonly TimeSpan _retention;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public DynamoDbRunRegistry(IAmazonDynamoDB client, DynamoDbOptions options, TimeProvider time, ILogger<DynamoDbRunRegistry>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _client = client;
        _tableName = options.RunsTableName;
        _retention = options.ItemRetention;
        _time = time;
        _logger = logger ?? NullLogger<DynamoDbRunRegistry>.Instance;
    }

    /// <summary>Records the run as accepted without taking a lease, unless it was accepted before.</summary>
    public async Task<RunRegistration> RegisterAsync(RemediationRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            await _client.PutItemAsync(NewItemRequest(request, lease: null), cancellationToken);
            return new RunRegistration(IsNew: true, Outcome: null);
        }
        catch (ConditionalCheckFailedException)
        {
            RunEntry? existing = await GetAsync(request.RunId, cancellationToken);
            return new RunRegistration(IsNew: false, Outcome: existing?.Outcome);
        }
    }

    /// <summary>
    /// Takes the run's lease for <paramref name="owner"/> until now + <paramref name="duration"/>: records the run
    /// when it is new, takes over an expired lease, and extends a lease the owner already holds. Reports a
    /// finished run's outcome, or the other owner of a live lease, without changing anything.
    /// </summary>
    public async Task<RunLease> TryAcquireLeaseAsync(
        RemediationRequest request, string owner, TimeSpan duration, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(owner);
        if (duration <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(duration), duration, "The lease duration must be positive.");
        }

        // Three rounds cover an item that time to live deleted between the conditional writes and the read.
        for (int round = 0; round < 3; round++)
        {
            DateTimeOffset now = _time.GetUtcNow();
            DateTimeOffset expiresAt = now + duration;

            try
            {
                await _client.PutItemAsync(NewItemRequest(request, (owner, expiresAt)), cancellationToken);
                return new RunLease(RunLeaseState.Acquired, owner, expiresAt, null, 1);
            }
            catch (ConditionalCheckFailedException)
            {
                // Recorded before: try to take or extend its lease below.
            }

            RunLease? reacquired = await TryTakeLeaseAsync(request.RunId, owner, now, expiresAt, cancellationToken);
            if (reacquired is not null)
            {
                return reacquired;
            }

            RunEntry? entry = await GetAsync(request.RunId, cancellationToken);
            if (entry is null)
            {
                continue;
            }

            return entry.Completed
                ? new RunLease(RunLeaseState.Completed, null, null, entry.Outcome, entry.Acquisitions)
                : new RunLease(RunLeaseState.Held, entry.LeaseOwner, entry.LeaseExpiresAt, null, entry.Acquisitions);
        }

        throw new InvalidOperationException(
            $"The item of run {request.RunId} in table {_tableName} disappeared three times while its lease was being taken; check the table's time to live.");
    }

    /// <summary>Lets the lease lapse at once, so the next delivery may run the run; only the owner's lease is released.</summary>
    /// <returns>True when the owner held the lease of an unfinished run and released it.</returns>
    public async Task<bool> ReleaseLeaseAsync(string runId, string owner, CancellationToken cancellationToken)
    {
        var request = new UpdateItemRequest
        {
            TableName = _tableName,
            Key = Key(runId),
            UpdateExpression = "SET LeaseExpiresAt = :zero",
            ConditionExpression = "LeaseOwner = :owner AND RunStatus = :inProgress",
            ExpressionAttributeValues = new Dictionary<string, AttributeValue>
            {
                [":zero"] = Number(0),
                [":owner"] = String(owner),
                [":inProgress"] = String(InProgress),
            },
        };

        try
        {
            await _client.UpdateItemAsync(request, cancellationToken);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            return false;
        }
    }

    /// <summary>Marks the run finished with its outcome; creates the item when the run was registered elsewhere.</summary>
    public async Task MarkCompletedAsync(string runId, string outcome, DateTimeOffset completedAt, CancellationToken cancellationToken)
    {
        var request = new UpdateItemRequest
        {
            TableName = _tableName,
            Key = Key(runId),
            UpdateExpression = "SET RunStatus = :completed, Outcome = :outcome, CompletedAt = :completedAt, #ttl = :ttl REMOVE LeaseExpiresAt",
            ExpressionAttributeNames = new Dictionary<string, string> { ["#ttl"] = DynamoDbTables.TimeToLiveAttribute },
            ExpressionAttributeValues = new Dictionary<string, AttributeValue>
            {
                [":completed"] = String(Completed),
                [":outcome"] = String(outcome),
                [":completedAt"] = Time(completedAt),
                [":ttl"] = EpochSeconds(completedAt + _retention),
            },
        };

        await _client.UpdateItemAsync(request, cancellationToken);
    }

    /// <summary>Returns the run's item with a strongly consistent read, or null when the run is unknown.</summary>
    public async Task<RunEntry?> GetAsync(string runId, CancellationToken cancellationToken)
    {
        GetItemResponse response = await _client.GetItemAsync(
            new GetItemRequest { TableName = _tableName, Key = Key(runId), ConsistentRead = true }, cancellationToken);
        return response.Item is { Count: > 0 } item ? ToEntry(item) : null;
    }

    // Takes the lease when it lapsed or already belongs to the owner; null when the condition does not hold.
    private async Task<RunLease?> TryTakeLeaseAsync(
        string runId, string owner, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var request = new UpdateItemRequest
        {
            TableName = _tableName,
            Key = Key(runId),
            UpdateExpression = "SET LeaseOwner = :owner, LeaseExpiresAt = :expires ADD Acquisitions :one",
            ConditionExpression =
                "RunStatus = :inProgress AND (attribute_not_exists(LeaseExpiresAt) OR LeaseExpiresAt <= :now OR LeaseOwner = :owner)",
            ExpressionAttributeValues = new Dictionary<string, AttributeValue>
            {
                [":owner"] = String(owner),
                [":expires"] = Number(expiresAt.ToUnixTimeMilliseconds()),
                [":now"] = Number(now.ToUnixTimeMilliseconds()),
                [":one"] = Number(1),
                [":inProgress"] = String(InProgress),
            },
            ReturnValues = ReturnValue.ALL_OLD,
        };

        UpdateItemResponse response;
        try
        {
            response = await _client.UpdateItemAsync(request, cancellationToken);
        }
        catch (ConditionalCheckFailedException)
        {
            return null;
        }

        string? previousOwner = OptionalString(response.Attributes, "LeaseOwner");
        long acquisitions = (OptionalNumber(response.Attributes, "Acquisitions") ?? 0) + 1;
        if (previousOwner is not null && previousOwner != owner)
        {
            _logger.LogWarning(
                "Took over the lease of run {RunId} from {PreviousOwner}, whose lease had expired; acquisition {Acquisitions}",
                runId, previousOwner, acquisitions);
        }

        return new RunLease(RunLeaseState.Reacquired, owner, expiresAt, null, acquisitions);
    }

    private PutItemRequest NewItemRequest(RemediationRequest request, (string Owner, DateTimeOffset ExpiresAt)? lease)
    {
        var item = new Dictionary<string, AttributeValue>
        {
            [KeyAttribute] = String(request.RunId),
            ["FindingId"] = String(request.Finding.Id),
            ["Source"] = String(request.Source),
            ["Resource"] = String(request.Finding.Resource.Id),
            ["AcceptedAt"] = Time(request.ReceivedAt),
            ["RunStatus"] = String(InProgress),
            ["Acquisitions"] = Number(lease is null ? 0 : 1),
            // An accepted run that never finishes is kept as long as a finished one, counted from acceptance.
            [DynamoDbTables.TimeToLiveAttribute] = EpochSeconds(request.ReceivedAt + _retention),
        };

        if (lease is { } held)
        {
            item["LeaseOwner"] = String(held.Owner);
            item["LeaseExpiresAt"] = Number(held.ExpiresAt.ToUnixTimeMilliseconds());
        }

        return new PutItemRequest
        {
            TableName = _tableName,
            Item = item,
            ConditionExpression = "attribute_not_exists(RunId)",
        };
    }

    private static Dictionary<string, AttributeValue> Key(string runId) => new() { [KeyAttribute] = String(runId) };

    private static RunEntry ToEntry(Dictionary<string, AttributeValue> item) => new(
        RunId: RequiredString(item, KeyAttribute),
        FindingId: OptionalString(item, "FindingId"),
        Resource: OptionalString(item, "Resource"),
        Completed: OptionalString(item, "RunStatus") == Completed,
        Outcome: OptionalString(item, "Outcome"),
        LeaseOwner: OptionalString(item, "LeaseOwner"),
        LeaseExpiresAt: OptionalNumber(item, "LeaseExpiresAt") is { } millis ? DateTimeOffset.FromUnixTimeMilliseconds(millis) : null,
        Acquisitions: OptionalNumber(item, "Acquisitions") ?? 0,
        CompletedAt: OptionalTime(item, "CompletedAt"));
}

/// <summary>One run's item in the runs table.</summary>
/// <param name="Completed">True once the run's outcome was recorded.</param>
/// <param name="LeaseOwner">The last holder of the lease, kept after completion for investigation.</param>
/// <param name="LeaseExpiresAt">When the lease lapses; null after completion or when no lease was taken.</param>
/// <param name="Acquisitions">How many times a lease was taken: 1 for a run that one container ran, more after take-overs.</param>
public sealed record RunEntry(
    string RunId,
    string? FindingId,
    string? Resource,
    bool Completed,
    string? Outcome,
    string? LeaseOwner,
    DateTimeOffset? LeaseExpiresAt,
    long Acquisitions,
    DateTimeOffset? CompletedAt);
