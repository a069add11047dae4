using Nhi.Serverless.Aws.DynamoDb.Runs;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Tests.Lambda;

/// <summary>Run leases in DynamoDB (dynalite): one holder per finding version, take-over after expiry, completion.</summary>
public sealed class RunLeaseTests : IAsyncLifetime
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(6);

    private readonly ManualTime _time = new(DateTimeOffset.Parse("2026-05-14T10:00:00Z"));
    private DynaliteTables _tables = null!;
    private DynamoDbRunRegistry _registry = null!;

    public async Task InitializeAsync()
    {
        _tables = await DynaliteTables.CreateAsync();
        _registry = new DynamoDbRunRegistry(_tables.Client, _tables.Options, _time);
    }

    public async Task DisposeAsync() => await _tables.DisposeAsync();

    [Fact]
    public async Task NewRunIsAcquired()
    {
        RemediationRequest request = NewRequest();

        RunLease lease = await _registry.TryAcquireLeaseAsync(request, "container-a", Lease, CancellationToken.None);

        Assert.Equal(RunLeaseState.Acquired, lease.State);
        Assert.Equal("container-a", lease.Owner);
        Assert.Equal(_time.GetUtcNow() + Lease, lease.ExpiresAt);
        Assert.Equal(1, lease.Acquisitions);
    }

    [Fact]
    public async Task LiveLeaseIsHeldForOthers()
    {
        RemediationRequest request = NewRequest();
        await _registry.TryAcquireLeaseAsync(request, "container-a", Lease, CancellationToken.None);
        _time.Advance(Lease - TimeSpan.FromSeconds(1));

        RunLease other = await _registry.TryAcquireLeaseAsync(request, "container-b", Lease, CancellationToken.None);

        Assert.Equal(RunLeaseState.Held, other.State);
        Assert.Equal("container-a", other.Owner);
    }

    [Fact]
    public async Task OwnerExtendsItsLease()
    {
        RemediationRequest request = NewRequest();
        await _registry.TryAcquireLeaseAsync(request, "container-a", Lease, CancellationToken.None);
        _time.Advance(TimeSpan.FromMinutes(1));

        RunLease again = await _registry.TryAcquireLeaseAsync(request, "container-a", Lease, CancellationToken.None);

        Assert.Equal(RunLeaseState.Reacquired, again.State);
        Assert.Equal(_time.GetUtcNow() + Lease, again.ExpiresAt);
    }

    [Fact]
    public async Task ExpiredLeaseIsTakenOver()
    {
        RemediationRequest request = NewRequest();
        await _registry.TryAcquireLeaseAsync(request, "crashed-container", Lease, CancellationToken.None);
        _time.Advance(Lease);

        RunLease takeover = await _registry.TryAcquireLeaseAsync(request, "container-b", Lease, CancellationToken.None);
        RunEntry? entry = await _registry.GetAsync(request.RunId, CancellationToken.None);

        Assert.Equal(RunLeaseState.Reacquired, takeover.State);
        Assert.Equal(2, takeover.Acquisitions);
        Assert.Equal("container-b", entry?.LeaseOwner);
    }

    [Fact]
    public async Task CompletedRunIsNotRunAgain()
    {
        RemediationRequest request = NewRequest();
        await _registry.TryAcquireLeaseAsync(request, "container-a", Lease, CancellationToken.None);
        await _registry.MarkCompletedAsync(request.RunId, RunOutcomes.Remediated, _time.GetUtcNow(), CancellationToken.None);
        _time.Advance(Lease * 2);

        RunLease later = await _registry.TryAcquireLeaseAsync(request, "container-b", Lease, CancellationToken.None);

        Assert.Equal(RunLeaseState.Completed, later.State);
        Assert.Equal(RunOutcomes.Remediated, later.Outcome);
    }

    [Fact]
    public async Task ReleasedLeaseIsFreeAtOnce()
    {
        RemediationRequest request = NewRequest();
        await _registry.TryAcquireLeaseAsync(request, "container-a", Lease, CancellationToken.None);

        bool released = await _registry.ReleaseLeaseAsync(request.RunId, "container-a", CancellationToken.None);
        RunLease next = await _registry.TryAcquireLeaseAsync(request, "container-b", Lease, CancellationToken.None);

        Assert.True(released);
        Assert.Equal(RunLeaseState.Reacquired, next.State);
    }

    [Fact]
    public async Task OnlyOwnerReleasesLease()
    {
        RemediationRequest request = NewRequest();
        await _registry.TryAcquireLeaseAsync(request, "container-a", Lease, CancellationToken.None);

        bool released = await _registry.ReleaseLeaseAsync(request.RunId, "container-b", CancellationToken.None);
        RunLease other = await _registry.TryAcquireLeaseAsync(request, "container-b", Lease, CancellationToken.None);

        Assert.False(released);
        Assert.Equal(RunLeaseState.Held, other.State);
    }

    [Fact]
    public async Task ConcurrentContainersGetOneLease()
    {
        RemediationRequest request = NewRequest();

        RunLease[] leases = await Task.WhenAll(Enumerable.Range(0, 12).Select(index =>
            _registry.TryAcquireLeaseAsync(request, $"container-{index}", Lease, CancellationToken.None)));

        Assert.Single(leases, lease => lease.IsHeld);
        Assert.Equal(11, leases.Count(lease => lease.State == RunLeaseState.Held));
    }

    [Fact]
    public async Task RegisterReportsEarlierOutcome()
    {
        RemediationRequest request = NewRequest();

        RunRegistration first = await _registry.RegisterAsync(request, CancellationToken.None);
        await _registry.MarkCompletedAsync(request.RunId, RunOutcomes.Failed, _time.GetUtcNow(), CancellationToken.None);
        RunRegistration second = await _registry.RegisterAsync(request, CancellationToken.None);

        Assert.True(first.IsNew);
        Assert.False(second.IsNew);
        Assert.Equal(RunOutcomes.Failed, second.Outcome);
    }

    private RemediationRequest NewRequest()
    {
        var finding = new Finding(
            Id: "arn:aws:securityhub:us-east-1:123456789012:security-control/S3.2/finding/" + Guid.NewGuid(),
            Format: FindingFormats.Asff,
            ProductName: "Security Hub",
            ControlId: "S3.2",
            Title: "S3 general purpose buckets should block public read access",
            Severity: "CRITICAL",
            UpdatedAt: _time.GetUtcNow(),
            Status: new FindingStatus("FAILED", "NEW", "ACTIVE"),
            Resource: new CloudResource("aws", "aws", "123456789012", "us-east-1", "AwsS3Bucket", "arn:aws:s3:::nhi-lease-test", "nhi-lease-test"));
        return new RemediationRequest(RunIds.ForFinding(finding), finding, "securityhub", _time.GetUtcNow());
    }
}
