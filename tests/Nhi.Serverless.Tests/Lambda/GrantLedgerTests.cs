using Nhi.Serverless.Aws.DynamoDb.Grants;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Lambda;

/// <summary>The grant ledger on DynamoDB (dynalite): transitions, lists, and updates that race.</summary>
public sealed class GrantLedgerTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-05-14T10:00:00.1234567Z");
    private static readonly Scope BucketScope = Scope.Create("aws", "arn:aws:s3:::nhi-ledger-test", ["s3:PutBucketPolicy", "s3:GetBucketPolicy"]);

    private DynaliteTables _tables = null!;
    private DynamoDbGrantLedger _ledger = null!;

    public async Task InitializeAsync()
    {
        _tables = await DynaliteTables.CreateAsync();
        _ledger = new DynamoDbGrantLedger(_tables.Client, _tables.Options);
    }

    public async Task DisposeAsync() => await _tables.DisposeAsync();

    [Fact]
    public async Task RequestedGrantRoundTrips()
    {
        GrantRecord requested = NewGrant("run-roundtrip");

        bool recorded = await _ledger.RecordRequestedAsync(requested, CancellationToken.None);
        GrantRecord? stored = await _ledger.GetAsync(requested.GrantId, CancellationToken.None);

        Assert.True(recorded);
        Assert.Equal(requested, stored);
    }

    [Fact]
    public async Task SecondRequestLeavesEntry()
    {
        GrantRecord requested = NewGrant("run-repeat");
        await _ledger.RecordRequestedAsync(requested, CancellationToken.None);
        await _ledger.RecordIssuedAsync(Issued(requested), CancellationToken.None);

        bool again = await _ledger.RecordRequestedAsync(requested, CancellationToken.None);
        GrantRecord? stored = await _ledger.GetAsync(requested.GrantId, CancellationToken.None);

        Assert.False(again);
        Assert.Equal(GrantStatuses.Issued, stored?.Status);
    }

    [Fact]
    public async Task UpdateOfUnknownGrantThrows()
    {
        GrantRecord never = NewGrant("run-unknown");

        await Assert.ThrowsAsync<GrantNotFoundException>(() => _ledger.RecordIssuedAsync(Issued(never), CancellationToken.None));
    }

    [Fact]
    public async Task LateIssueKeepsRevocation()
    {
        GrantRecord grant = NewGrant("run-late");
        await _ledger.RecordRequestedAsync(grant, CancellationToken.None);
        await _ledger.RecordRevokedAsync(Revoked(grant.GrantId), GrantRevokers.Run, CancellationToken.None);

        await _ledger.RecordIssuedAsync(Issued(grant), CancellationToken.None);
        GrantRecord? stored = await _ledger.GetAsync(grant.GrantId, CancellationToken.None);

        Assert.Equal(GrantStatuses.Revoked, stored?.Status);
        Assert.False(stored?.IsOpen);
        Assert.Equal("aws-sts-principal", stored?.Principal);
    }

    [Fact]
    public async Task UnrevokedListsOpenGrantsOnly()
    {
        GrantRecord requested = NewGrant("run-open");
        GrantRecord issued = NewGrant("run-open");
        GrantRecord revoked = NewGrant("run-open");
        foreach (GrantRecord grant in new[] { requested, issued, revoked })
        {
            await _ledger.RecordRequestedAsync(grant, CancellationToken.None);
        }

        await _ledger.RecordIssuedAsync(Issued(issued), CancellationToken.None);
        await _ledger.RecordRevokedAsync(Revoked(revoked.GrantId), GrantRevokers.Run, CancellationToken.None);
        string[] open = (await _ledger.ListUnrevokedAsync(CancellationToken.None)).Select(grant => grant.GrantId).ToArray();

        Assert.Contains(requested.GrantId, open);
        Assert.Contains(issued.GrantId, open);
        Assert.DoesNotContain(revoked.GrantId, open);
    }

    [Fact]
    public async Task FailedRevocationKeepsGrantOpen()
    {
        GrantRecord grant = NewGrant("run-failed-revoke");
        await _ledger.RecordRequestedAsync(grant, CancellationToken.None);
        var failed = new RevocationOutcome(grant.GrantId, "none", null, false, null, "PutRolePolicy failed", Start.AddMinutes(15), "IamServiceException: 503");

        await _ledger.RecordRevokedAsync(failed, GrantRevokers.Sweeper, CancellationToken.None);
        GrantRecord? stored = await _ledger.GetAsync(grant.GrantId, CancellationToken.None);
        IReadOnlyList<GrantRecord> open = await _ledger.ListUnrevokedAsync(CancellationToken.None);

        Assert.True(stored?.IsOpen);
        Assert.Equal("IamServiceException: 503", stored?.LastError);
        Assert.Contains(open, entry => entry.GrantId == grant.GrantId);
    }

    [Fact]
    public async Task RunEndMarksEveryGrantOfRun()
    {
        string runId = "run-" + Guid.NewGuid().ToString("N");
        GrantRecord first = NewGrant(runId);
        GrantRecord second = NewGrant(runId) with { RequestedAt = Start.AddMinutes(1) };
        GrantRecord otherRun = NewGrant("run-other");
        foreach (GrantRecord grant in new[] { second, first, otherRun })
        {
            await _ledger.RecordRequestedAsync(grant, CancellationToken.None);
        }

        await _ledger.RecordRunEndedAsync(runId, Start.AddMinutes(2), CancellationToken.None);
        IReadOnlyList<GrantRecord> ofRun = await _ledger.ListByRunAsync(runId, CancellationToken.None);
        GrantRecord? other = await _ledger.GetAsync(otherRun.GrantId, CancellationToken.None);

        Assert.Equal([first.GrantId, second.GrantId], ofRun.Select(grant => grant.GrantId));
        Assert.All(ofRun, grant => Assert.Equal(Start.AddMinutes(2), grant.RunEndedAt));
        Assert.Null(other?.RunEndedAt);
    }

    [Fact]
    public async Task RacingUpdatesAllApply()
    {
        GrantRecord grant = NewGrant("run-race");
        await _ledger.RecordRequestedAsync(grant, CancellationToken.None);

        await Task.WhenAll(
            _ledger.RecordIssuedAsync(Issued(grant), CancellationToken.None),
            _ledger.RecordUsedAsync(grant.GrantId, Start.AddSeconds(5), CancellationToken.None),
            _ledger.RecordUsedAsync(grant.GrantId, Start.AddSeconds(3), CancellationToken.None),
            _ledger.RecordRevokedAsync(Revoked(grant.GrantId), GrantRevokers.Run, CancellationToken.None),
            _ledger.RecordRunEndedAsync(grant.RunId, Start.AddMinutes(1), CancellationToken.None));
        await _ledger.RecordVerifiedAsync(grant.GrantId, Start.AddSeconds(40), "GetBucketAcl denied", CancellationToken.None);
        GrantRecord? stored = await _ledger.GetAsync(grant.GrantId, CancellationToken.None);

        Assert.Equal(GrantStatuses.Verified, stored?.Status);
        Assert.Equal("aws-sts-principal", stored?.Principal);
        Assert.Equal(Start.AddSeconds(3), stored?.UsedAt);
        Assert.Equal(Start.AddSeconds(30), stored?.RevokedAt);
        Assert.Equal(Start.AddSeconds(40), stored?.VerifiedAt);
    }

    private static GrantRecord NewGrant(string runId) =>
        GrantRecord.Requested(
            "aws-sts",
            new GrantRequest(Guid.NewGuid().ToString("N"), runId, BucketScope, TimeSpan.FromMinutes(15), Start),
            TimeSpan.FromMinutes(10));

    private static IssuedGrant Issued(GrantRecord grant) =>
        new(grant.GrantId, "aws-sts", "aws-sts-principal", "hmac-sha256:00ff", Start.AddSeconds(1), Start.AddMinutes(15));

    private static RevocationOutcome Revoked(string grantId) =>
        new(grantId, "iam-deny-session-policy", Start.AddSeconds(30), true, Start.AddSeconds(31), "GetBucketAcl returned 403", Start.AddSeconds(31));
}
