using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;

namespace Nhi.Serverless.Azure.Grants;

/// <summary>
/// Concurrency slots in an Azure Storage table: a limit of N for a key is N entities (PartitionKey = key, RowKey =
/// "slot-0000" to N-1), each taken by a conditional insert, or by a conditional replace once its lease has run out.
/// </summary>
/// <remarks>
/// Conditional writes make a slot go to exactly one run when hosts race for it. The scope (hosts pass their Durable
/// task hub name) keeps deployments that share a storage account apart. A slot whose run has ended without releasing
/// it (its host died with an in-memory backend) is taken over once <see cref="IRunStatusReader"/> reports that run ended, or else
/// once its lease runs out.
/// </remarks>
public sealed class TableRunSlots : IRunSlots
{
    private readonly TableClient _table;
    private readonly string _scope;
    private readonly IRunStatusReader? _holders;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _createLock = new(1, 1);
    private volatile bool _tableExists;

    /// <param name="table">The slot table.</param>
    /// <param name="scope">The deployment whose runs share the limits, such as the Durable task hub name.</param>
    /// <param name="holders">Tells whether the run holding a slot has ended; null to rely on leases alone.</param>
    /// <param name="time">The clock; the system clock when null.</param>
    /// <param name="logger">The logger.</param>
    public TableRunSlots(TableClient table, string scope, IRunStatusReader? holders = null, TimeProvider? time = null, ILogger<TableRunSlots>? logger = null)
    {
        _table = table ?? throw new ArgumentNullException(nameof(table));
        ArgumentException.ThrowIfNullOrEmpty(scope);
        _scope = scope;
        _holders = holders;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger<TableRunSlots>.Instance;
    }

    public static TableRunSlots FromConnectionString(
        string connectionString, string tableName, string scope, IRunStatusReader? holders = null, TimeProvider? time = null, ILogger<TableRunSlots>? logger = null) =>
        new(new TableServiceClient(connectionString).GetTableClient(tableName), scope, holders, time, logger);

    public async Task<bool> TryAcquireAsync(string runId, IReadOnlyList<ConcurrencyLimit> limits, DateTimeOffset leaseUntil, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentNullException.ThrowIfNull(limits);
        await EnsureTableAsync(cancellationToken);

        // A fixed order keeps two runs from each holding the slot the other waits for.
        List<ConcurrencyLimit> taken = [];
        foreach (ConcurrencyLimit limit in limits.OrderBy(limit => limit.Key, StringComparer.Ordinal))
        {
            if (await TryTakeAsync(runId, limit, leaseUntil, cancellationToken))
            {
                taken.Add(limit);
                continue;
            }

            _logger.LogInformation("Run {RunId} found no free slot under {Key} (limit {Limit})", runId, limit.Key, limit.Limit);
            await ReleaseAsync(runId, taken, cancellationToken);
            return false;
        }

        return true;
    }

    public async Task ReleaseAsync(string runId, IReadOnlyList<ConcurrencyLimit> limits, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentNullException.ThrowIfNull(limits);
        await EnsureTableAsync(cancellationToken);

        foreach (ConcurrencyLimit limit in limits)
        {
            string filter = TableClient.CreateQueryFilter($"PartitionKey eq {PartitionFor(limit.Key)} and RunId eq {runId}");
            await foreach (TableEntity slot in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
            {
                try
                {
                    await _table.DeleteEntityAsync(slot.PartitionKey, slot.RowKey, slot.ETag, cancellationToken);
                }
                catch (RequestFailedException gone) when (gone.Status is 404 or 412)
                {
                    // Deleted already, or taken over by another run after this run's lease ran out.
                }
            }
        }
    }

    private async Task<bool> TryTakeAsync(string runId, ConcurrencyLimit limit, DateTimeOffset leaseUntil, CancellationToken cancellationToken)
    {
        string partition = PartitionFor(limit.Key);
        Dictionary<string, TableEntity> slots = [];
        string filter = TableClient.CreateQueryFilter($"PartitionKey eq {partition}");
        await foreach (TableEntity slot in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
        {
            slots[slot.RowKey] = slot;
        }

        string[] rowKeys = Enumerable.Range(0, limit.Limit).Select(RowKeyFor).ToArray();
        if (rowKeys.Any(key => slots.TryGetValue(key, out TableEntity? slot) && slot.GetString("RunId") == runId))
        {
            return true;
        }

        DateTimeOffset now = _time.GetUtcNow();

        // Runs start their search at different slots, so a burst does not fight over slot 0.
        int start = (int)(BitConverter.ToUInt32(SHA256.HashData(Encoding.UTF8.GetBytes(runId)), 0) % (uint)limit.Limit);
        for (int i = 0; i < limit.Limit; i++)
        {
            string rowKey = rowKeys[(start + i) % limit.Limit];
            var claim = new TableEntity(partition, rowKey)
            {
                ["Key"] = limit.Key,
                ["RunId"] = runId,
                ["LeaseUntil"] = leaseUntil.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture),
            };

            try
            {
                if (!slots.TryGetValue(rowKey, out TableEntity? existing))
                {
                    await _table.AddEntityAsync(claim, cancellationToken);
                    return true;
                }

                if (await IsAbandonedAsync(existing, now, cancellationToken) is { } why)
                {
                    await _table.UpdateEntityAsync(claim, existing.ETag, TableUpdateMode.Replace, cancellationToken);
                    _logger.LogWarning(
                        "Run {RunId} took over slot {Slot} under {Key} from run {PreviousRunId}, because {Reason}",
                        runId, rowKey, limit.Key, existing.GetString("RunId"), why);
                    return true;
                }
            }
            catch (RequestFailedException lost) when (lost.Status is 409 or 412)
            {
                // Another run took this slot between the read and the write.
            }
        }

        return false;
    }

    // Returns why the slot's holder no longer needs it, or null while it does.
    private async Task<string?> IsAbandonedAsync(TableEntity slot, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (LeaseUntil(slot) <= now)
        {
            return "its lease ran out";
        }

        if (_holders is not null && slot.GetString("RunId") is { } holder && await _holders.HasEndedAsync(holder, cancellationToken) == true)
        {
            return "that run has ended";
        }

        return null;
    }

    private static DateTimeOffset LeaseUntil(TableEntity slot) =>
        DateTimeOffset.TryParse(slot.GetString("LeaseUntil"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out DateTimeOffset until)
            ? until
            : DateTimeOffset.MinValue;

    private static string RowKeyFor(int index) => "slot-" + index.ToString("D4", CultureInfo.InvariantCulture);

    // Keys hold account ids and playbook names; a key with a character tables forbid is hashed instead.
    private string PartitionFor(string key)
    {
        string partition = _scope + ":" + key;
        return partition.Length <= 256 && !partition.Any(character => character is '/' or '\\' or '#' or '?' || char.IsControl(character))
            ? partition
            : "sha256-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(partition)));
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
