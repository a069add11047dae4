using System.Globalization;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Azure.Grants;

/// <summary>
/// The grant ledger in one Azure Storage table. Each grant is an entity (PartitionKey = grant id, RowKey = "grant"),
/// changed only by read, transition and conditional replace, so concurrent updates from a run and a sweeper never
/// lose each other's facts. Two small index partitions list the grants of a run ("run:{run id}") and the grants
/// not yet revoked ("open:{scope}").
/// </summary>
/// <remarks>
/// The scope (hosts pass their Durable task hub name) keeps the open grants of deployments that share a storage
/// account apart, so a sweeper only sees the grants of runs its own orchestration store can tell about.
/// The index entities are written before the grant entity and removed after it is revoked, so a crash between the
/// two writes leaves an index entity too many, never one too few; readers drop such leftovers.
/// </remarks>
public sealed class TableGrantLedger : IGrantLedger, IGrantLedgerTransitions
{
    private const string GrantRowKey = "grant";
    private const string OpenPartitionPrefix = "open:";
    private const string RunPartitionPrefix = "run:";
    private const int MaxTextLength = 4000;
    private const int MaxUpdateTries = 10;

    // An index entity without its grant entity counts as a leftover of an interrupted RecordRequestedAsync only
    // after this much time, because until then the grant entity may still be on its way.
    private static readonly TimeSpan LeftoverAge = TimeSpan.FromMinutes(10);

    private static readonly JsonSerializerOptions ScopeJson = new(JsonSerializerDefaults.Web);

    private readonly TableClient _table;
    private readonly string _openPartition;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _createLock = new(1, 1);
    private volatile bool _tableExists;

    /// <param name="table">The ledger table.</param>
    /// <param name="scope">The deployment whose open grants this instance lists, such as the Durable task hub name.</param>
    /// <param name="time">The clock; the system clock when null.</param>
    /// <param name="logger">The logger.</param>
    public TableGrantLedger(TableClient table, string scope, TimeProvider? time = null, ILogger<TableGrantLedger>? logger = null)
    {
        _table = table ?? throw new ArgumentNullException(nameof(table));
        CheckKey(scope, nameof(scope));
        _openPartition = OpenPartitionPrefix + scope;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<TableGrantLedger>.Instance;
    }

    /// <summary>The table's name.</summary>
    public string TableName => _table.Name;

    public static TableGrantLedger FromConnectionString(
        string connectionString, string tableName, string scope, TimeProvider? time = null, ILogger<TableGrantLedger>? logger = null) =>
        new(new TableServiceClient(connectionString).GetTableClient(tableName), scope, time, logger);

    public async Task<bool> RecordRequestedAsync(GrantRecord grant, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(grant);
        CheckKey(grant.GrantId, nameof(grant));
        CheckKey(grant.RunId, nameof(grant));
        await EnsureTableAsync(cancellationToken);

        await _table.UpsertEntityAsync(new TableEntity(_openPartition, grant.GrantId) { ["RunId"] = grant.RunId }, TableUpdateMode.Replace, cancellationToken);
        await _table.UpsertEntityAsync(new TableEntity(RunPartitionPrefix + grant.RunId, grant.GrantId), TableUpdateMode.Replace, cancellationToken);

        try
        {
            await _table.AddEntityAsync(ToEntity(grant with { Status = GrantStatuses.Requested }), cancellationToken);
            return true;
        }
        catch (RequestFailedException conflict) when (conflict.Status == 409)
        {
            _logger.LogWarning("Grant {GrantId} of run {RunId} was recorded as requested before", grant.GrantId, grant.RunId);
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
        ArgumentException.ThrowIfNullOrEmpty(revokedBy);
        return UpdateAsync(revocation.GrantId, record => record.WithRevocation(revocation, revokedBy), cancellationToken);
    }

    public Task RecordVerifiedAsync(string grantId, DateTimeOffset verifiedAt, string evidence, CancellationToken cancellationToken) =>
        UpdateAsync(grantId, record => record.WithVerified(verifiedAt, evidence), cancellationToken);

    public async Task RecordRunEndedAsync(string runId, DateTimeOffset endedAt, CancellationToken cancellationToken)
    {
        CheckKey(runId, nameof(runId));
        foreach (string grantId in await RunGrantIdsAsync(runId, cancellationToken))
        {
            try
            {
                await UpdateAsync(grantId, record => record.WithRunEnded(endedAt), cancellationToken);
            }
            catch (GrantNotFoundException)
            {
                // An index entity whose grant entity was never written: nothing was issued under it.
            }
        }
    }

    public async Task<GrantRecord?> GetAsync(string grantId, CancellationToken cancellationToken)
    {
        CheckKey(grantId, nameof(grantId));
        await EnsureTableAsync(cancellationToken);
        NullableResponse<TableEntity> response = await _table.GetEntityIfExistsAsync<TableEntity>(grantId, GrantRowKey, cancellationToken: cancellationToken);
        return response.HasValue ? ToRecord(response.Value!) : null;
    }

    public async Task<IReadOnlyList<GrantRecord>> ListByRunAsync(string runId, CancellationToken cancellationToken)
    {
        CheckKey(runId, nameof(runId));
        List<GrantRecord> grants = [];
        foreach (string grantId in await RunGrantIdsAsync(runId, cancellationToken))
        {
            if (await GetAsync(grantId, cancellationToken) is { } grant)
            {
                grants.Add(grant);
            }
        }

        return grants.OrderBy(grant => grant.RequestedAt).ToList();
    }

    public async Task<IReadOnlyList<GrantRecord>> ListUnrevokedAsync(CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        List<GrantRecord> open = [];
        string filter = TableClient.CreateQueryFilter($"PartitionKey eq {_openPartition}");
        await foreach (TableEntity index in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            GrantRecord? grant = await GetAsync(index.RowKey, cancellationToken);
            if (grant is { IsOpen: true })
            {
                open.Add(grant);
                continue;
            }

            bool leftover = grant is null && index.Timestamp is { } written && _time.GetUtcNow() - written > LeftoverAge;
            if (grant is not null || leftover)
            {
                await DeleteIgnoringMissingAsync(_openPartition, index.RowKey, cancellationToken);
            }
        }

        return open;
    }

    private async Task<List<string>> RunGrantIdsAsync(string runId, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        List<string> ids = [];
        string filter = TableClient.CreateQueryFilter($"PartitionKey eq {RunPartitionPrefix + runId}");
        await foreach (TableEntity index in _table.QueryAsync<TableEntity>(filter, select: ["RowKey"], cancellationToken: cancellationToken))
        {
            ids.Add(index.RowKey);
        }

        return ids;
    }

    public Task ApplyAsync(string grantId, Func<GrantRecord, GrantRecord> transition, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(transition);
        return UpdateAsync(grantId, transition, cancellationToken);
    }

    private async Task UpdateAsync(string grantId, Func<GrantRecord, GrantRecord> transition, CancellationToken cancellationToken)
    {
        CheckKey(grantId, nameof(grantId));
        await EnsureTableAsync(cancellationToken);

        for (int attempt = 1; attempt <= MaxUpdateTries; attempt++)
        {
            NullableResponse<TableEntity> response = await _table.GetEntityIfExistsAsync<TableEntity>(grantId, GrantRowKey, cancellationToken: cancellationToken);
            if (!response.HasValue)
            {
                throw new GrantNotFoundException(grantId);
            }

            TableEntity stored = response.Value!;
            GrantRecord current = ToRecord(stored);
            GrantRecord next = transition(current);
            if (next == current)
            {
                return;
            }

            try
            {
                await _table.UpdateEntityAsync(ToEntity(next), stored.ETag, TableUpdateMode.Replace, cancellationToken);
            }
            catch (RequestFailedException stale) when (stale.Status == 412)
            {
                // Another host changed the entity since it was read; read it again and re-apply the transition.
                continue;
            }

            if (!next.IsOpen)
            {
                await DeleteIgnoringMissingAsync(_openPartition, grantId, cancellationToken);
            }

            return;
        }

        throw new InvalidOperationException(
            $"Grant {grantId} in table {_table.Name} changed concurrently {MaxUpdateTries} times in a row; the update was not applied.");
    }

    private async Task DeleteIgnoringMissingAsync(string partitionKey, string rowKey, CancellationToken cancellationToken)
    {
        try
        {
            await _table.DeleteEntityAsync(partitionKey, rowKey, ETag.All, cancellationToken);
        }
        catch (RequestFailedException missing) when (missing.Status == 404)
        {
        }
    }

    private static TableEntity ToEntity(GrantRecord grant) => new(grant.GrantId, GrantRowKey)
    {
        ["RunId"] = grant.RunId,
        ["Broker"] = grant.Broker,
        ["Scope"] = JsonSerializer.Serialize(grant.Scope, ScopeJson),
        ["Resource"] = grant.Scope.Resource,
        ["LifetimeSeconds"] = grant.Lifetime.TotalSeconds,
        ["RequestedAt"] = FormatTime(grant.RequestedAt),
        ["StepDeadline"] = FormatTime(grant.StepDeadline),
        ["Status"] = grant.Status,
        ["Principal"] = grant.Principal,
        ["CredentialFingerprint"] = grant.CredentialFingerprint,
        ["IssuedAt"] = FormatTime(grant.IssuedAt),
        ["ExpiresAt"] = FormatTime(grant.ExpiresAt),
        ["UsedAt"] = FormatTime(grant.UsedAt),
        ["RevokedAt"] = FormatTime(grant.RevokedAt),
        ["RevokedBy"] = grant.RevokedBy,
        ["RevocationMethod"] = grant.RevocationMethod,
        ["VerifiedAt"] = FormatTime(grant.VerifiedAt),
        ["Evidence"] = Truncate(grant.Evidence),
        ["RunEndedAt"] = FormatTime(grant.RunEndedAt),
        ["LastError"] = Truncate(grant.LastError),
    };

    private static GrantRecord ToRecord(TableEntity entity)
    {
        Scope scope = JsonSerializer.Deserialize<Scope>(entity.GetString("Scope") ?? "null", ScopeJson)
            ?? throw new FormatException($"Grant {entity.PartitionKey} in the ledger has no scope.");

        return new GrantRecord(
            entity.PartitionKey,
            entity.GetString("RunId") ?? throw new FormatException($"Grant {entity.PartitionKey} in the ledger has no run id."),
            entity.GetString("Broker") ?? "",
            scope,
            TimeSpan.FromSeconds(entity.GetDouble("LifetimeSeconds") ?? 0),
            ParseTime(entity.GetString("RequestedAt")) ?? DateTimeOffset.MinValue,
            ParseTime(entity.GetString("StepDeadline")) ?? DateTimeOffset.MinValue)
        {
            Status = entity.GetString("Status") ?? GrantStatuses.Requested,
            Principal = entity.GetString("Principal"),
            CredentialFingerprint = entity.GetString("CredentialFingerprint"),
            IssuedAt = ParseTime(entity.GetString("IssuedAt")),
            ExpiresAt = ParseTime(entity.GetString("ExpiresAt")),
            UsedAt = ParseTime(entity.GetString("UsedAt")),
            RevokedAt = ParseTime(entity.GetString("RevokedAt")),
            RevokedBy = entity.GetString("RevokedBy"),
            RevocationMethod = entity.GetString("RevocationMethod"),
            VerifiedAt = ParseTime(entity.GetString("VerifiedAt")),
            Evidence = entity.GetString("Evidence"),
            RunEndedAt = ParseTime(entity.GetString("RunEndedAt")),
            LastError = entity.GetString("LastError"),
        };
    }

    // Times are stored as round-trip strings, so a record read back equals the one written to the tick.
    private static string? FormatTime(DateTimeOffset? time) =>
        time?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset? ParseTime(string? text) =>
        text is null ? null : DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    private static string? Truncate(string? text) =>
        text is { Length: > MaxTextLength } ? text[..MaxTextLength] + "..." : text;

    // Table keys may not contain '/', '\', '#', '?' or control characters.
    private static void CheckKey(string value, string parameter)
    {
        ArgumentException.ThrowIfNullOrEmpty(value, parameter);
        if (value.Length > 512 || value.Any(character => character is '/' or '\\' or '#' or '?' || char.IsControl(character)))
        {
            throw new ArgumentException(
                $"'{(value.Length <= 64 ? value : value[..64] + "...")}' cannot be a grant ledger key: expected at most 512 characters without '/', '\\', '#', '?' or control characters.",
                parameter);
        }
    }

    private async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        if (_tableExists)
        {
            return;
        }

        await _createLock.WaitAsync(cancellationToken);
        try
        {
            await _table.CreateIfNotExistsAsync(cancellationToken);
            _tableExists = true;
        }
        finally
        {
            _createLock.Release();
        }
    }
}
