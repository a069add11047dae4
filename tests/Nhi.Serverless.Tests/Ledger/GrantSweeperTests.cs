using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Hosting.Sweeper;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Ledger;

/// <summary>
/// The sweeper on the real stack: real STS credentials on Ceph RGW that a "run" left open, the Table ledger and the
/// audit tables on Azurite, the host's own revoker and audit log.
/// </summary>
public sealed class GrantSweeperTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private readonly LedgerTables _tables = new();
    private NhiTestHost _host = null!;
    private string _bucket = null!;

    private IGrantLedger Ledger => _host.Services.GetRequiredService<IGrantLedger>();

    public async Task InitializeAsync()
    {
        _host = await NhiTestHost.StartAsync(settings: _tables.HostSettings());
        _bucket = await _aws.CreateBucketAsync();
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _aws.DeleteBucketAsync(_bucket);
        await _tables.DisposeAsync();
        _aws.Dispose();
    }

    [Fact]
    public async Task SweepRevokesGrantOfEndedRun()
    {
        (GrantRecord grant, Lease<AwsSessionCredential> lease) = await IssueLeakedGrantAsync(TimeSpan.FromMinutes(5));
        Assert.Equal(200, await ProbeStatusAsync(lease));
        await Ledger.RecordRunEndedAsync(grant.RunId, DateTimeOffset.UtcNow, CancellationToken.None);

        SweepReport report = await Sweeper(withRunStatus: false).SweepAsync(CancellationToken.None);

        SweptGrant swept = Assert.Single(report.Swept, entry => entry.GrantId == grant.GrantId);
        Assert.True(swept.Revoked);
        Assert.True(swept.Verified);
        Assert.Null(swept.Error);
        Assert.StartsWith("run ended at", swept.Reason, StringComparison.Ordinal);
        Assert.Equal(403, await ProbeStatusAsync(lease));

        GrantRecord stored = (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!;
        Assert.Equal(GrantStatuses.Verified, stored.Status);
        Assert.Equal(GrantRevokers.Sweeper, stored.RevokedBy);
        Assert.NotNull(stored.VerifiedAt);
    }

    [Fact]
    public async Task SweepWritesSignedAuditRecord()
    {
        (GrantRecord grant, Lease<AwsSessionCredential> lease) = await IssueLeakedGrantAsync(TimeSpan.Zero);

        SweepReport report = await Sweeper(withRunStatus: false).SweepAsync(CancellationToken.None);

        SweptGrant swept = Assert.Single(report.Swept, entry => entry.GrantId == grant.GrantId);
        Assert.NotNull(swept.AuditRecordId);
        var store = _host.Services.GetRequiredService<TableAuditStore>();
        SignedAuditRecord record = (await store.GetAsync(swept.AuditRecordId!, CancellationToken.None))!;
        Assert.Equal(GrantAuditEvents.GrantSwept, record.Event);
        Assert.Equal(grant.GrantId, record.GrantId);
        Assert.Contains(grant.RunId, record.Json, StringComparison.Ordinal);
        Assert.True(AuditVerifier.VerifyChain([record], _host.Services.GetRequiredService<Jwks>(), requireRunCompleted: false).Valid);
        Assert.Contains((await store.QueryByGrantAsync(grant.GrantId)).Records, indexed => indexed.Id == record.Id);
        AssertNoSecret(lease, [record.Json, .. _host.Logs.Lines]);
    }

    [Fact]
    public async Task SweepRevokesGrantPastStepDeadline()
    {
        (GrantRecord grant, Lease<AwsSessionCredential> lease) = await IssueLeakedGrantAsync(TimeSpan.Zero);

        SweepReport report = await Sweeper(withRunStatus: false).SweepAsync(CancellationToken.None);

        SweptGrant swept = Assert.Single(report.Swept, entry => entry.GrantId == grant.GrantId);
        Assert.True(swept.Verified);
        Assert.Contains("step deadline", swept.Reason, StringComparison.Ordinal);
        Assert.Equal(403, await ProbeStatusAsync(lease));
    }

    [Fact]
    public async Task SweepSkipsGrantStillInStep()
    {
        (GrantRecord grant, Lease<AwsSessionCredential> lease) = await IssueLeakedGrantAsync(TimeSpan.FromMinutes(5));

        SweepReport report = await Sweeper(withRunStatus: false).SweepAsync(CancellationToken.None);

        Assert.DoesNotContain(report.Swept, entry => entry.GrantId == grant.GrantId);
        Assert.True((await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!.IsOpen);
        Assert.Equal(200, await ProbeStatusAsync(lease));
        await RevokeAsync(grant);
    }

    [Fact]
    public async Task SweepRevokesGrantOfLostRun()
    {
        // No orchestration has this run id, as after a restart of a host with the in-memory backend.
        (GrantRecord grant, Lease<AwsSessionCredential> lease) = await IssueLeakedGrantAsync(TimeSpan.FromMinutes(5));

        SweepReport report = await Sweeper(withRunStatus: true).SweepAsync(CancellationToken.None);

        SweptGrant swept = Assert.Single(report.Swept, entry => entry.GrantId == grant.GrantId);
        Assert.Equal("the run's orchestration finished or no longer exists", swept.Reason);
        Assert.True(swept.Verified);
        Assert.Equal(403, await ProbeStatusAsync(lease));
    }

    [Fact]
    public async Task FailedGrantDoesNotStopSweep()
    {
        GrantRecord unknownBroker = LedgerTables.NewGrant(_aws.BucketArn(_bucket), TimeSpan.Zero) with { Broker = "no-such-broker" };
        await Ledger.RecordRequestedAsync(unknownBroker, CancellationToken.None);
        (GrantRecord grant, Lease<AwsSessionCredential> lease) = await IssueLeakedGrantAsync(TimeSpan.Zero);

        SweepReport report = await Sweeper(withRunStatus: false).SweepAsync(CancellationToken.None);

        SweptGrant failed = Assert.Single(report.Swept, entry => entry.GrantId == unknownBroker.GrantId);
        Assert.False(failed.Verified);
        Assert.Contains("no-such-broker", failed.Error, StringComparison.Ordinal);
        Assert.True((await Ledger.GetAsync(unknownBroker.GrantId, CancellationToken.None))!.IsOpen);
        Assert.True(Assert.Single(report.Swept, entry => entry.GrantId == grant.GrantId).Verified);
        Assert.Equal(403, await ProbeStatusAsync(lease));
        await Ledger.RecordRevokedAsync(
            new RevocationOutcome(unknownBroker.GrantId, "test-cleanup", DateTimeOffset.UtcNow, false, null, "never issued", DateTimeOffset.UtcNow),
            GrantRevokers.Run,
            CancellationToken.None);
    }

    [Fact]
    public async Task IssueIsRecordedWhileStepRuns()
    {
        (GrantRecord grant, _) = await IssueLeakedGrantAsync(TimeSpan.FromMinutes(5));

        // The update runs alongside the step, so it may land a moment after the broker returned.
        GrantRecord stored = (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!;
        for (int i = 0; i < 50 && stored.Status == GrantStatuses.Requested; i++)
        {
            await Task.Delay(100);
            stored = (await Ledger.GetAsync(grant.GrantId, CancellationToken.None))!;
        }

        Assert.Equal(GrantStatuses.Issued, stored.Status);
        Assert.NotNull(stored.IssuedAt);
        Assert.StartsWith("hmac-sha256:", stored.CredentialFingerprint, StringComparison.Ordinal);
        await RevokeAsync(grant);
    }

    // Does what a run does up to the credential, then "dies": the ledger entry stays open.
    private async Task<(GrantRecord Grant, Lease<AwsSessionCredential> Lease)> IssueLeakedGrantAsync(TimeSpan maxStep)
    {
        string runId = "run-" + Guid.NewGuid().ToString("N");
        var request = new GrantRequest(
            RunIds.GrantIdFor(runId, Guid.NewGuid()), runId, _aws.PlaybookScope(_bucket), TimeSpan.FromMinutes(15), DateTimeOffset.UtcNow);
        GrantRecord grant = GrantRecord.Requested(StsGrantBroker.BrokerName, request, maxStep);
        Assert.True(await Ledger.RecordRequestedAsync(grant, CancellationToken.None));

        Lease<AwsSessionCredential> lease = await _host.Services.GetRequiredService<StsGrantBroker>().IssueAsync(request, CancellationToken.None);
        return (grant, lease);
    }

    private GrantSweeper Sweeper(bool withRunStatus) =>
        GrantSweepers.Create(_host.Services, withRunStatus ? _host.Client : null);

    private async Task RevokeAsync(GrantRecord grant)
    {
        RevocationOutcome outcome = await _host.Services.GetRequiredService<IGrantRevoker>().EnsureRevokedAsync(grant.Broker, grant.ToRequest(), CancellationToken.None);
        await Ledger.RecordRevokedAsync(outcome, GrantRevokers.Run, CancellationToken.None);
    }

    private async Task<int> ProbeStatusAsync(Lease<AwsSessionCredential> lease)
    {
        using AmazonS3Client client = _aws.S3Clients.CreateClient(
            new SessionAWSCredentials(lease.Credential.AccessKeyId, lease.Credential.SecretAccessKey, lease.Credential.SessionToken));
        try
        {
            await client.GetBucketAclAsync(new GetBucketAclRequest { BucketName = _bucket });
            return 200;
        }
        catch (AmazonS3Exception denied)
        {
            return (int)denied.StatusCode;
        }
    }

    private static void AssertNoSecret(Lease<AwsSessionCredential> lease, IEnumerable<string> outputs)
    {
        string[] texts = outputs.ToArray();
        foreach (string secret in new[] { lease.Credential.AccessKeyId, lease.Credential.SecretAccessKey, lease.Credential.SessionToken })
        {
            Assert.DoesNotContain(texts, text => text.Contains(secret, StringComparison.Ordinal));
        }
    }
}
