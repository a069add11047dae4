using Nhi.Serverless.Azure.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Hosting.Sweeper;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Tests.Ledger;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>Concurrency slots on Azure Table Storage (Azurite): limits hold, all or nothing, leases run out.</summary>
public sealed class RunSlotTests : IAsyncLifetime
{
    private static readonly DateTimeOffset LeaseUntil = DateTimeOffset.UtcNow.AddMinutes(30);

    private readonly LedgerTables _tables = new();

    private TableRunSlots Slots => _tables.Slots;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _tables.DisposeAsync();

    [Fact]
    public async Task FullLimitRefusesNextRun()
    {
        ConcurrencyLimit[] limits = [Limit("account:aws:1", 2)];

        Assert.True(await Slots.TryAcquireAsync("run-a", limits, LeaseUntil, CancellationToken.None));
        Assert.True(await Slots.TryAcquireAsync("run-b", limits, LeaseUntil, CancellationToken.None));
        Assert.False(await Slots.TryAcquireAsync("run-c", limits, LeaseUntil, CancellationToken.None));
    }

    [Fact]
    public async Task ReleaseFreesSlot()
    {
        ConcurrencyLimit[] limits = [Limit("playbook:p", 1)];
        await Slots.TryAcquireAsync("run-a", limits, LeaseUntil, CancellationToken.None);

        await Slots.ReleaseAsync("run-a", limits, CancellationToken.None);

        Assert.True(await Slots.TryAcquireAsync("run-b", limits, LeaseUntil, CancellationToken.None));
    }

    [Fact]
    public async Task HolderAcquiresAgain()
    {
        ConcurrencyLimit[] limits = [Limit("playbook:p", 1)];
        await Slots.TryAcquireAsync("run-a", limits, LeaseUntil, CancellationToken.None);

        Assert.True(await Slots.TryAcquireAsync("run-a", limits, LeaseUntil, CancellationToken.None));
        Assert.False(await Slots.TryAcquireAsync("run-b", limits, LeaseUntil, CancellationToken.None));
    }

    [Fact]
    public async Task ExpiredLeaseIsTakenOver()
    {
        ConcurrencyLimit[] limits = [Limit("playbook:p", 1)];
        await Slots.TryAcquireAsync("run-dead", limits, DateTimeOffset.UtcNow.AddSeconds(-1), CancellationToken.None);

        Assert.True(await Slots.TryAcquireAsync("run-b", limits, LeaseUntil, CancellationToken.None));
        Assert.False(await Slots.TryAcquireAsync("run-c", limits, LeaseUntil, CancellationToken.None));
    }

    [Fact]
    public async Task PartialAcquireGivesSlotsBack()
    {
        ConcurrencyLimit account = Limit("account:aws:1", 1);
        ConcurrencyLimit playbook = Limit("playbook:p", 1);
        await Slots.TryAcquireAsync("run-a", [playbook], LeaseUntil, CancellationToken.None);

        Assert.False(await Slots.TryAcquireAsync("run-b", [account, playbook], LeaseUntil, CancellationToken.None));

        Assert.True(await Slots.TryAcquireAsync("run-c", [account], LeaseUntil, CancellationToken.None));
    }

    [Fact]
    public async Task BurstGetsExactlyLimit()
    {
        ConcurrencyLimit[] limits = [Limit("account:aws:burst", 3)];

        bool[] acquired = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            Slots.TryAcquireAsync($"run-{i}", limits, LeaseUntil, CancellationToken.None)));

        Assert.Equal(3, acquired.Count(taken => taken));
    }

    [Fact]
    public async Task ReleaseLeavesOtherRunsSlots()
    {
        ConcurrencyLimit[] limits = [Limit("playbook:p", 2)];
        await Slots.TryAcquireAsync("run-a", limits, LeaseUntil, CancellationToken.None);
        await Slots.TryAcquireAsync("run-b", limits, LeaseUntil, CancellationToken.None);

        await Slots.ReleaseAsync("run-a", limits, CancellationToken.None);

        Assert.True(await Slots.TryAcquireAsync("run-c", limits, LeaseUntil, CancellationToken.None));
        Assert.False(await Slots.TryAcquireAsync("run-d", limits, LeaseUntil, CancellationToken.None));
    }

    [Fact]
    public async Task ScopesDoNotShareSlots()
    {
        var other = TableRunSlots.FromConnectionString(_tables.ConnectionString, _tables.SlotsTableName, "OtherTaskHub");
        ConcurrencyLimit[] limits = [Limit("playbook:p", 1)];
        await Slots.TryAcquireAsync("run-a", limits, LeaseUntil, CancellationToken.None);

        Assert.True(await other.TryAcquireAsync("run-b", limits, LeaseUntil, CancellationToken.None));
    }

    [Fact]
    public async Task EndedHolderSlotIsTakenOver()
    {
        await using NhiTestHost host = await NhiTestHost.StartAsync(settings: _tables.HostSettings());
        var slots = TableRunSlots.FromConnectionString(_tables.ConnectionString, _tables.SlotsTableName, "HolderCheck", new DurableRunStatusReader(host.Client));
        ConcurrencyLimit[] limits = [Limit("playbook:p", 1)];

        // No orchestration has this id, as when the holder's host died with the in-memory backend.
        await slots.TryAcquireAsync("run-lost-" + Guid.NewGuid().ToString("N"), limits, LeaseUntil, CancellationToken.None);

        Assert.True(await slots.TryAcquireAsync("run-b", limits, LeaseUntil, CancellationToken.None));
    }

    private static ConcurrencyLimit Limit(string key, int limit) => new(key + "-" + Guid.NewGuid().ToString("N")[..8], limit);
}
