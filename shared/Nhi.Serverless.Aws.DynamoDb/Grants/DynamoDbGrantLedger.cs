using System.Security.Cryptography;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Grants;
using static Nhi.Serverless.Aws.DynamoDb.DynamoDbItems;

namespace Nhi.Serverless.Aws.DynamoDb.Grants;

/// <summary>
/// The grant ledger in a DynamoDB table keyed by grant id. Each update reads the item, applies the
/// <see cref="GrantRecord"/> transition, and writes it back on the condition that its version did not
/// change, so concurrent updates never move a grant backwards; no transaction is needed.
/// </summary>
/// <remarks>
/// Two global secondary indexes: "by-run" (RunId, RequestedAt) lists a run's grants, and "open"
/// (OpenShard, StepDeadline) lists grants not yet revoked. OpenShard is set only while a grant is open,
/// so the index stays small, and spreads open grants over 16 partition values so no partition gets hot.
/// Index reads are eventually consistent, so a grant requested a moment before the read may be missing
/// from both lists. The sweeper then finds it on its next pass.
/// </remarks>
public sealed class DynamoDbGrantLedger : IGrantLedger
{
    /// <summary>The table's partition key.</summary>
    public const string KeyAttribute = "GrantId";

    /// <summary>The index of a run's grants.</summary>
    public const string ByRunIndex = "by-run";

    /// <summary>The index of grants not yet revoked.</summary>
    public const string OpenIndex = "open";

    private const string OpenShardAttribute = "OpenShard";
    private const int MaxWriteConflicts = 8;
    private static readonly string[] OpenShards = Enumerable.Range(0, 16).Select(shard => $"open-{shard:x}").ToArray();

    private readonly IAmazonDynamoDB _client;
    private readonly string _tableName;
    private readonly TimeSpan _retention;
    private readonly ILogger _logger;

    public DynamoDbGrantLedger(IAmazonDynamoDB client, DynamoDbOptions options, ILogger<DynamoDbGrantLedger>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        _client = client;
        _tableName = options.GrantsTableName;
        _retention = options.ItemRetention;
        _logger = logger ?? NullLogger<DynamoDbGrantLedger>.Instance;
    }

    /// <summary>Returns the CreateTable request of the ledger table and its two indexes.</summary>
    public static CreateTableRequest TableDefinition(string tableName) => new()
    {
        TableName = tableName,
        BillingMode = BillingMode.PAY_PER_REQUEST,
        AttributeDefinitions =
        [
            new AttributeDefinition(KeyAttribute, ScalarAttributeType.S),
            new AttributeDefinition("RunId", ScalarAttributeType.S),
            new AttributeDefinition("RequestedAt", ScalarAttributeType.S),
            new AttributeDefinition(OpenShardAttribute, ScalarAttributeType.S),
            new AttributeDefinition("StepDeadline", ScalarAttributeType.S),
        ],
        KeySchema = [new KeySchemaElement(KeyAttribute, KeyType.HASH)],
        GlobalSecondaryIndexes =
        [
            Index(ByRunIndex, "RunId", "RequestedAt"),
            Index(OpenIndex, OpenShardAttribute, "StepDeadline"),
        ],
    };

    public async Task<bool> RecordRequestedAsync(GrantRecord grant, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(grant);
        try
        {
            await _client.PutItemAsync(
                new PutItemRequest
                {
                    TableName = _tableName,
                    Item = ToItem(grant, version: 1),
                    ConditionExpression = "attribute_not_exists(GrantId)",
                },
                cancellationToken);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            return false;
        }
    }

    public Task RecordIssuedAsync(IssuedGrant issued, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(issued);
        return UpdateAsync(issued.GrantId, record => record.WithIssued(issued), cancellationToken);
    }

    public Task RecordUsedAsync(string grantId, DateTimeOffset usedAt, CancellationToken cancellationToken) =>
        UpdateAsync(grantId, record => record.WithUsed(usedAt), cancellationToken);

    public Task RecordRevokedAsync(RevocationOutcome revocation, string revokedBy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(revocation);
        return UpdateAsync(revocation.GrantId, record => record.WithRevocation(revocation, revokedBy), cancellationToken);
    }

    public Task RecordVerifiedAsync(string grantId, DateTimeOffset verifiedAt, string evidence, CancellationToken cancellationToken) =>
        UpdateAsync(grantId, record => record.WithVerified(verifiedAt, evidence), cancellationToken);

    public async Task RecordRunEndedAsync(string runId, DateTimeOffset endedAt, CancellationToken cancellationToken)
    {
        foreach (GrantRecord grant in await ListByRunAsync(runId, cancellationToken))
        {
            await UpdateAsync(grant.GrantId, record => record.WithRunEnded(endedAt), cancellationToken);
        }
    }

    public async Task<GrantRecord?> GetAsync(string grantId, CancellationToken cancellationToken)
    {
        (GrantRecord Record, long Version)? entry = await ReadAsync(grantId, cancellationToken);
        return entry?.Record;
    }

    public async Task<IReadOnlyList<GrantRecord>> ListByRunAsync(string runId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        List<GrantRecord> grants = await QueryAsync(ByRunIndex, "RunId", runId, cancellationToken);
        return grants.OrderBy(grant => grant.RequestedAt).ToArray();
    }

    public async Task<IReadOnlyList<GrantRecord>> ListUnrevokedAsync(CancellationToken cancellationToken)
    {
        List<GrantRecord> open = [];
        foreach (string shard in OpenShards)
        {
            open.AddRange(await QueryAsync(OpenIndex, OpenShardAttribute, shard, cancellationToken));
        }

        // The index projects the whole item, so a grant revoked just before the read can still show as open there.
        return open.Where(grant => grant.IsOpen).OrderBy(grant => grant.RequestedAt).ToArray();
    }

    // Reads, transforms and writes back on an unchanged version, retrying when another writer came first.
    private async Task UpdateAsync(string grantId, Func<GrantRecord, GrantRecord> change, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(grantId);
        for (int conflict = 0; conflict < MaxWriteConflicts; conflict++)
        {
            (GrantRecord current, long version) = await ReadAsync(grantId, cancellationToken) ?? throw new GrantNotFoundException(grantId);
            GrantRecord updated = change(current);
            if (updated == current)
            {
                return;
            }

            try
            {
                await _client.PutItemAsync(
                    new PutItemRequest
                    {
                        TableName = _tableName,
                        Item = ToItem(updated, version + 1),
                        ConditionExpression = "Version = :version",
                        ExpressionAttributeValues = new Dictionary<string, AttributeValue> { [":version"] = Number(version) },
                    },
                    cancellationToken);
                return;
            }
            catch (ConditionalCheckFailedException)
            {
                _logger.LogDebug("Grant {GrantId} changed while it was being updated; reading it again", grantId);
            }
        }

        throw new InvalidOperationException(
            $"Grant {grantId} in table {_tableName} changed during {MaxWriteConflicts} consecutive updates; retry the update.");
    }

    private async Task<(GrantRecord Record, long Version)?> ReadAsync(string grantId, CancellationToken cancellationToken)
    {
        GetItemResponse response = await _client.GetItemAsync(
            new GetItemRequest
            {
                TableName = _tableName,
                Key = new Dictionary<string, AttributeValue> { [KeyAttribute] = String(grantId) },
                ConsistentRead = true,
            },
            cancellationToken);

        return response.Item is { Count: > 0 } item ? (FromItem(item), RequiredNumber(item, "Version")) : null;
    }

    private async Task<List<GrantRecord>> QueryAsync(string index, string keyAttribute, string keyValue, CancellationToken cancellationToken)
    {
        List<GrantRecord> grants = [];
        Dictionary<string, AttributeValue>? startKey = null;
        do
        {
            QueryResponse page = await _client.QueryAsync(
                new QueryRequest
                {
                    TableName = _tableName,
                    IndexName = index,
                    KeyConditionExpression = "#key = :value",
                    ExpressionAttributeNames = new Dictionary<string, string> { ["#key"] = keyAttribute },
                    ExpressionAttributeValues = new Dictionary<string, AttributeValue> { [":value"] = String(keyValue) },
                    ExclusiveStartKey = startKey,
                },
                cancellationToken);

            grants.AddRange((page.Items ?? []).Select(FromItem));
            startKey = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (startKey is not null);

        return grants;
    }

    private Dictionary<string, AttributeValue> ToItem(GrantRecord grant, long version)
    {
        var item = new Dictionary<string, AttributeValue>
        {
            [KeyAttribute] = String(grant.GrantId),
            ["RunId"] = String(grant.RunId),
            ["Broker"] = String(grant.Broker),
            ["ScopeProvider"] = String(grant.Scope.Provider),
            ["ScopeResource"] = String(grant.Scope.Resource),
            ["ScopePermissions"] = StringList(grant.Scope.Permissions),
            ["ScopeObjects"] = StringList(grant.Scope.Objects),
            ["LifetimeMs"] = Number((long)grant.Lifetime.TotalMilliseconds),
            ["RequestedAt"] = Time(grant.RequestedAt),
            ["StepDeadline"] = Time(grant.StepDeadline),
            ["GrantStatus"] = String(grant.Status),
            ["Version"] = Number(version),
        };

        SetIfPresent(item, "Principal", grant.Principal);
        SetIfPresent(item, "CredentialFingerprint", grant.CredentialFingerprint);
        SetIfPresent(item, "IssuedAt", grant.IssuedAt);
        SetIfPresent(item, "ExpiresAt", grant.ExpiresAt);
        SetIfPresent(item, "UsedAt", grant.UsedAt);
        SetIfPresent(item, "RevokedAt", grant.RevokedAt);
        SetIfPresent(item, "RevokedBy", grant.RevokedBy);
        SetIfPresent(item, "RevocationMethod", grant.RevocationMethod);
        SetIfPresent(item, "VerifiedAt", grant.VerifiedAt);
        SetIfPresent(item, "Evidence", grant.Evidence);
        SetIfPresent(item, "RunEndedAt", grant.RunEndedAt);
        SetIfPresent(item, "LastError", grant.LastError);

        if (grant.IsOpen)
        {
            item[OpenShardAttribute] = String(ShardOf(grant.GrantId));
        }
        else
        {
            // Only a revoked grant may expire from the table; an open one must stay until the sweeper revokes it.
            item[DynamoDbTables.TimeToLiveAttribute] = EpochSeconds(grant.RevokedAt!.Value + _retention);
        }

        return item;
    }

    private static GrantRecord FromItem(Dictionary<string, AttributeValue> item)
    {
        Scope scope = Scope.Create(
            RequiredString(item, "ScopeProvider"),
            RequiredString(item, "ScopeResource"),
            StringListOrEmpty(item, "ScopePermissions"),
            StringListOrEmpty(item, "ScopeObjects"));

        return new GrantRecord(
            RequiredString(item, KeyAttribute),
            RequiredString(item, "RunId"),
            RequiredString(item, "Broker"),
            scope,
            TimeSpan.FromMilliseconds(RequiredNumber(item, "LifetimeMs")),
            RequiredTime(item, "RequestedAt"),
            RequiredTime(item, "StepDeadline"))
        {
            Status = RequiredString(item, "GrantStatus"),
            Principal = OptionalString(item, "Principal"),
            CredentialFingerprint = OptionalString(item, "CredentialFingerprint"),
            IssuedAt = OptionalTime(item, "IssuedAt"),
            ExpiresAt = OptionalTime(item, "ExpiresAt"),
            UsedAt = OptionalTime(item, "UsedAt"),
            RevokedAt = OptionalTime(item, "RevokedAt"),
            RevokedBy = OptionalString(item, "RevokedBy"),
            RevocationMethod = OptionalString(item, "RevocationMethod"),
            VerifiedAt = OptionalTime(item, "VerifiedAt"),
            Evidence = OptionalString(item, "Evidence"),
            RunEndedAt = OptionalTime(item, "RunEndedAt"),
            LastError = OptionalString(item, "LastError"),
        };
    }

    private static string ShardOf(string grantId) =>
        OpenShards[SHA256.HashData(Encoding.UTF8.GetBytes(grantId))[0] % OpenShards.Length];

    private static GlobalSecondaryIndex Index(string name, string partitionKey, string sortKey) => new()
    {
        IndexName = name,
        KeySchema = [new KeySchemaElement(partitionKey, KeyType.HASH), new KeySchemaElement(sortKey, KeyType.RANGE)],
        Projection = new Projection { ProjectionType = ProjectionType.ALL },
    };
}
