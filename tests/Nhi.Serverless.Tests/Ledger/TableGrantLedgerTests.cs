using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Ledger;

/// <summary>The grant ledger on Azure Table Storage (Azurite): every transition, idempotence, and the open-grant index.</summary>
public sealed class TableGrantLedgerTests : IAsyncLifetime
{
    private readonly LedgerTables _tables = new();

    private IGrantLedger Ledger => _tables.Ledger;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _tables.DisposeAsync();

    [Fact]
    public async Task RequestedEntryRoundTrips()
    {
        GrantRecord grant = LedgerTables.NewGrant();

        Assert.True(await Ledger.RecordRequestedAsync(grant, CancellationToken.None));
        GrantRecord? stored = await Ledger.GetAsync(grant.GrantId, CancellationToken.None);

        Assert.Equal(grant, stored);
        Assert.Equal(GrantStatuses.Requested, stored!.Status);
    }

    [Fact]
    public async Task SecondRequestReturnsFalse()
    {
        GrantRecord grant = LedgerTables.NewGrant();
        await Ledger.RecordRequestedAsync(grant, CancellationToken.None);

        bool again = await Ledger.RecordRequestedAsync(grant with { Broker = "other" }, CancellationToken.None);

        Assert.False(again);
        Assert.Equal("aws-sts", (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!.Broker);
    }

    [Fact]
    public async Task LifecycleRecordsEveryStep()
    {
        GrantRecord grant = LedgerTables.NewGrant();
        DateTimeOffset issuedAt = grant.RequestedAt.AddSeconds(1);
        await Ledger.RecordRequestedAsync(grant, CancellationToken.None);

        await Ledger.RecordIssuedAsync(new IssuedGrant(grant.GrantId, "aws-sts", "AROA1:nhi-x", "hmac-sha256:ab", issuedAt, issuedAt.AddMinutes(15)), CancellationToken.None);
        Assert.Equal(GrantStatuses.Issued, (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!.Status);
        await Ledger.RecordUsedAsync(grant.GrantId, issuedAt.AddSeconds(1), CancellationToken.None);
        Assert.Equal(GrantStatuses.Used, (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!.Status);
        await Ledger.RecordRevokedAsync(Revoked(grant.GrantId, issuedAt.AddSeconds(2)), GrantRevokers.Run, CancellationToken.None);
        Assert.Equal(GrantStatuses.Revoked, (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!.Status);
        await Ledger.RecordVerifiedAsync(grant.GrantId, issuedAt.AddSeconds(3), "probe denied", CancellationToken.None);

        GrantRecord stored = (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!;
        Assert.Equal(GrantStatuses.Verified, stored.Status);
        Assert.Equal("AROA1:nhi-x", stored.Principal);
        Assert.Equal("hmac-sha256:ab", stored.CredentialFingerprint);
        Assert.Equal(issuedAt, stored.IssuedAt);
        Assert.Equal(issuedAt.AddSeconds(1), stored.UsedAt);
        Assert.Equal(issuedAt.AddSeconds(2), stored.RevokedAt);
        Assert.Equal(GrantRevokers.Run, stored.RevokedBy);
        Assert.Equal(issuedAt.AddSeconds(3), stored.VerifiedAt);
        Assert.Equal("probe denied", stored.Evidence);
    }

    [Fact]
    public async Task LateIssueKeepsGrantRevoked()
    {
        GrantRecord grant = LedgerTables.NewGrant();
        await Ledger.RecordRequestedAsync(grant, CancellationToken.None);
        await Ledger.RecordRevokedAsync(Revoked(grant.GrantId, DateTimeOffset.UtcNow), GrantRevokers.Sweeper, CancellationToken.None);

        await Ledger.RecordIssuedAsync(new IssuedGrant(grant.GrantId, "aws-sts", "p", "hmac-sha256:cd", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddMinutes(15)), CancellationToken.None);

        GrantRecord stored = (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!;
        Assert.Equal(GrantStatuses.Revoked, stored.Status);
        Assert.False(stored.IsOpen);
        Assert.Equal(GrantRevokers.Sweeper, stored.RevokedBy);
        Assert.Equal("hmac-sha256:cd", stored.CredentialFingerprint);
        Assert.DoesNotContain(await Ledger.ListUnrevokedAsync(CancellationToken.None), open => open.GrantId == grant.GrantId);
    }

    [Fact]
    public async Task FailedRevocationKeepsGrantOpen()
    {
        GrantRecord grant = LedgerTables.NewGrant();
        await Ledger.RecordRequestedAsync(grant, CancellationToken.None);
        var failed = new RevocationOutcome(grant.GrantId, "iam-deny-session-policy", null, false, null, "PutRolePolicy failed", DateTimeOffset.UtcNow.AddMinutes(15), "throttled");

        await Ledger.RecordRevokedAsync(failed, GrantRevokers.Run, CancellationToken.None);

        GrantRecord stored = (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!;
        Assert.True(stored.IsOpen);
        Assert.Equal("throttled", stored.LastError);
        Assert.Contains(await Ledger.ListUnrevokedAsync(CancellationToken.None), open => open.GrantId == grant.GrantId);
    }

    [Fact]
    public async Task UnrevokedListsRequestedAndIssued()
    {
        GrantRecord requested = LedgerTables.NewGrant();
        GrantRecord issued = LedgerTables.NewGrant();
        GrantRecord revoked = LedgerTables.NewGrant();
        foreach (GrantRecord grant in new[] { requested, issued, revoked })
        {
            await Ledger.RecordRequestedAsync(grant, CancellationToken.None);
        }

        await Ledger.RecordIssuedAsync(new IssuedGrant(issued.GrantId, "aws-sts", "p", "hmac-sha256:ef", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddMinutes(15)), CancellationToken.None);
        await Ledger.RecordRevokedAsync(Revoked(revoked.GrantId, DateTimeOffset.UtcNow), GrantRevokers.Run, CancellationToken.None);

        string[] open = (await Ledger.ListUnrevokedAsync(CancellationToken.None)).Select(grant => grant.GrantId).ToArray();

        Assert.Contains(requested.GrantId, open);
        Assert.Contains(issued.GrantId, open);
        Assert.DoesNotContain(revoked.GrantId, open);
    }

    [Fact]
    public async Task OpenGrantsStayInTheirScope()
    {
        var other = Nhi.Serverless.Azure.Grants.TableGrantLedger.FromConnectionString(_tables.ConnectionString, _tables.LedgerTableName, "OtherTaskHub");
        GrantRecord mine = LedgerTables.NewGrant();
        GrantRecord theirs = LedgerTables.NewGrant();
        await Ledger.RecordRequestedAsync(mine, CancellationToken.None);
        await other.RecordRequestedAsync(theirs, CancellationToken.None);

        string[] open = (await Ledger.ListUnrevokedAsync(CancellationToken.None)).Select(grant => grant.GrantId).ToArray();

        Assert.Contains(mine.GrantId, open);
        Assert.DoesNotContain(theirs.GrantId, open);
        Assert.NotNull(await Ledger.GetAsync(theirs.GrantId, CancellationToken.None));
    }

    [Fact]
    public async Task RunEndMarksEveryGrantOfRun()
    {
        GrantRecord first = LedgerTables.NewGrant();
        GrantRecord second = LedgerTables.NewGrant(runId: first.RunId);
        GrantRecord other = LedgerTables.NewGrant();
        foreach (GrantRecord grant in new[] { first, second, other })
        {
            await Ledger.RecordRequestedAsync(grant, CancellationToken.None);
        }

        DateTimeOffset endedAt = DateTimeOffset.UtcNow;
        await Ledger.RecordRunEndedAsync(first.RunId, endedAt, CancellationToken.None);

        IReadOnlyList<GrantRecord> run = await Ledger.ListByRunAsync(first.RunId, CancellationToken.None);
        Assert.Equal(2, run.Count);
        Assert.All(run, grant => Assert.Equal(endedAt, grant.RunEndedAt));
        Assert.Null((await Ledger.GetAsync(other.GrantId, CancellationToken.None))!.RunEndedAt);
    }

    [Fact]
    public async Task ConcurrentUpdatesAllApply()
    {
        GrantRecord grant = LedgerTables.NewGrant();
        await Ledger.RecordRequestedAsync(grant, CancellationToken.None);
        DateTimeOffset now = DateTimeOffset.UtcNow;

        await Task.WhenAll(
            Ledger.RecordIssuedAsync(new IssuedGrant(grant.GrantId, "aws-sts", "p", "hmac-sha256:12", now, now.AddMinutes(15)), CancellationToken.None),
            Ledger.RecordUsedAsync(grant.GrantId, now.AddSeconds(1), CancellationToken.None),
            Ledger.RecordRunEndedAsync(grant.RunId, now.AddSeconds(5), CancellationToken.None),
            Ledger.RecordRevokedAsync(Revoked(grant.GrantId, now.AddSeconds(2)), GrantRevokers.Run, CancellationToken.None));

        GrantRecord stored = (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!;
        Assert.Equal("hmac-sha256:12", stored.CredentialFingerprint);
        Assert.Equal(now.AddSeconds(1), stored.UsedAt);
        Assert.Equal(now.AddSeconds(2), stored.RevokedAt);
        Assert.Equal(now.AddSeconds(5), stored.RunEndedAt);
        Assert.Equal(GrantStatuses.Revoked, stored.Status);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task StepResultIsRecorded(bool batched)
    {
        // Without batching the same facts arrive through one call per transition, as with ledgers that lack it.
        IGrantLedger ledger = batched ? Ledger : new OneCallPerTransition(Ledger);
        GrantRecord grant = LedgerTables.NewGrant();
        DateTimeOffset at = grant.RequestedAt.AddSeconds(1);
        await ledger.RecordRequestedAsync(grant, CancellationToken.None);
        var proven = new RevocationOutcome(grant.GrantId, "iam-deny-session-policy", at.AddSeconds(2), true, at.AddSeconds(3), "probe denied", at.AddSeconds(3));

        await ledger.RecordStepAsync(new IssuedGrant(grant.GrantId, "aws-sts", "p", "hmac-sha256:34", at, at.AddMinutes(15)), at.AddMilliseconds(500), proven, GrantRevokers.Run, CancellationToken.None);

        GrantRecord stored = (await ledger.GetAsync(grant.GrantId, CancellationToken.None))!;
        Assert.Equal(GrantStatuses.Verified, stored.Status);
        Assert.Equal(at, stored.IssuedAt);
        Assert.Equal(at.AddMilliseconds(500), stored.UsedAt);
        Assert.Equal(at.AddSeconds(2), stored.RevokedAt);
        Assert.Equal(at.AddSeconds(3), stored.VerifiedAt);
        Assert.Equal("probe denied", stored.Evidence);
    }

    [Fact]
    public async Task UnknownGrantUpdateThrows()
    {
        GrantNotFoundException failure = await Assert.ThrowsAsync<GrantNotFoundException>(
            () => Ledger.RecordUsedAsync("never-recorded", DateTimeOffset.UtcNow, CancellationToken.None));

        Assert.Equal("never-recorded", failure.GrantId);
    }

    [Fact]
    public async Task InvalidKeyIsRejected()
    {
        GrantRecord grant = LedgerTables.NewGrant() with { GrantId = "a/b" };

        ArgumentException failure = await Assert.ThrowsAsync<ArgumentException>(() => Ledger.RecordRequestedAsync(grant, CancellationToken.None));

        Assert.Contains("'/'", failure.Message, StringComparison.Ordinal);
    }

    private static RevocationOutcome Revoked(string grantId, DateTimeOffset at) =>
        new(grantId, "iam-deny-session-policy", at, false, null, "deny policy put", at.AddMinutes(15));

    /// <summary>The Table ledger seen only through <see cref="IGrantLedger"/>, without its single-call transitions.</summary>
    private sealed class OneCallPerTransition(IGrantLedger inner) : IGrantLedger
    {
        public Task<bool> RecordRequestedAsync(GrantRecord grant, CancellationToken cancellationToken) => inner.RecordRequestedAsync(grant, cancellationToken);

        public Task RecordIssuedAsync(IssuedGrant issued, CancellationToken cancellationToken) => inner.RecordIssuedAsync(issued, cancellationToken);

        public Task RecordUsedAsync(string grantId, DateTimeOffset usedAt, CancellationToken cancellationToken) => inner.RecordUsedAsync(grantId, usedAt, cancellationToken);

        public Task RecordRevokedAsync(RevocationOutcome revocation, string revokedBy, CancellationToken cancellationToken) =>
            inner.RecordRevokedAsync(revocation, revokedBy, cancellationToken);

        public Task RecordVerifiedAsync(string grantId, DateTimeOffset verifiedAt, string evidence, CancellationToken cancellationToken) =>
            inner.RecordVerifiedAsync(grantId, verifiedAt, evidence, cancellationToken);

        public Task RecordRunEndedAsync(string runId, DateTimeOffset endedAt, CancellationToken cancellationToken) => inner.RecordRunEndedAsync(runId, endedAt, cancellationToken);

        public Task<GrantRecord?> GetAsync(string grantId, CancellationToken cancellationToken) => inner.GetAsync(grantId, cancellationToken);

        public Task<IReadOnlyList<GrantRecord>> ListByRunAsync(string runId, CancellationToken cancellationToken) => inner.ListByRunAsync(runId, cancellationToken);

        public Task<IReadOnlyList<GrantRecord>> ListUnrevokedAsync(CancellationToken cancellationToken) => inner.ListUnrevokedAsync(cancellationToken);
    }
}
