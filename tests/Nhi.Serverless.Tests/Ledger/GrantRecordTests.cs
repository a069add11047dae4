using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Ledger;

/// <summary>The ledger entry's transitions, which every ledger backend applies.</summary>
public sealed class GrantRecordTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public void RequestedSetsStepDeadline()
    {
        GrantRecord grant = LedgerTables.NewGrant(maxStep: TimeSpan.FromMinutes(3));

        Assert.Equal(grant.RequestedAt + TimeSpan.FromMinutes(3), grant.StepDeadline);
        Assert.Equal(GrantStatuses.Requested, grant.Status);
        Assert.True(grant.IsOpen);
    }

    [Fact]
    public void StatusNeverMovesBack()
    {
        GrantRecord revoked = LedgerTables.NewGrant().WithRevocation(Revoked(Now), GrantRevokers.Run);

        GrantRecord used = revoked.WithUsed(Now.AddSeconds(1)).WithIssued(new IssuedGrant(revoked.GrantId, "aws-sts", "p", "f", Now, Now.AddMinutes(15)));

        Assert.Equal(GrantStatuses.Revoked, used.Status);
        Assert.False(used.IsOpen);
    }

    [Fact]
    public void FirstRevocationIsKept()
    {
        GrantRecord grant = LedgerTables.NewGrant().WithRevocation(Revoked(Now), GrantRevokers.Run);

        GrantRecord again = grant.WithRevocation(Revoked(Now.AddMinutes(1)), GrantRevokers.Sweeper);

        Assert.Equal(Now, again.RevokedAt);
        Assert.Equal(GrantRevokers.Run, again.RevokedBy);
    }

    [Fact]
    public void FailedRevocationRecordsError()
    {
        var failed = new RevocationOutcome("g", "iam-deny-session-policy", null, false, null, "not put", Now.AddMinutes(15), "throttled");

        GrantRecord grant = LedgerTables.NewGrant().WithRevocation(failed, GrantRevokers.Run);

        Assert.True(grant.IsOpen);
        Assert.Equal("throttled", grant.LastError);
    }

    [Fact]
    public void EarliestUseIsKept()
    {
        GrantRecord grant = LedgerTables.NewGrant().WithUsed(Now.AddSeconds(5)).WithUsed(Now.AddSeconds(2)).WithUsed(Now.AddSeconds(9));

        Assert.Equal(Now.AddSeconds(2), grant.UsedAt);
    }

    [Fact]
    public void OpenGrantIsDueAfterRunEnds()
    {
        GrantRecord grant = LedgerTables.NewGrant(maxStep: TimeSpan.FromHours(1));

        Assert.False(grant.IsDueForSweep(grant.RequestedAt.AddMinutes(1)));
        Assert.True(grant.WithRunEnded(Now).IsDueForSweep(grant.RequestedAt.AddMinutes(1)));
    }

    [Fact]
    public void OpenGrantIsDueAfterDeadline()
    {
        GrantRecord grant = LedgerTables.NewGrant(maxStep: TimeSpan.FromMinutes(5));

        Assert.False(grant.IsDueForSweep(grant.StepDeadline.AddTicks(-1)));
        Assert.True(grant.IsDueForSweep(grant.StepDeadline));
    }

    [Fact]
    public void RevokedGrantIsNeverDue()
    {
        GrantRecord grant = LedgerTables.NewGrant(maxStep: TimeSpan.Zero).WithRunEnded(Now).WithRevocation(Revoked(Now), GrantRevokers.Run);

        Assert.False(grant.IsDueForSweep(Now.AddDays(1)));
    }

    private static RevocationOutcome Revoked(DateTimeOffset at) =>
        new("g", "iam-deny-session-policy", at, false, null, "deny policy put", at.AddMinutes(15));
}
