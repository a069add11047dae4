namespace Nhi.Serverless.Grants;

/// <summary>
/// A ledger that can apply several transitions to one entry in a single read and write. Optional: callers fall back
/// to one <see cref="IGrantLedger"/> call per transition when a ledger does not implement it.
/// </summary>
public interface IGrantLedgerTransitions
{
    /// <summary>Applies <paramref name="transition"/> to the entry and stores the result. Throws <see cref="GrantNotFoundException"/> for an unknown grant id.</summary>
    Task ApplyAsync(string grantId, Func<GrantRecord, GrantRecord> transition, CancellationToken cancellationToken);
}

/// <summary>Ledger updates that several steps make together.</summary>
public static class GrantLedgerExtensions
{
    /// <summary>
    /// Records what one execute step reports: the credential issued, its first use, the revocation, and, when a
    /// probe was denied, the verification.
    /// </summary>
    /// <param name="usedAt">The first call made with the credential; null when none was made.</param>
    public static Task RecordStepAsync(
        this IGrantLedger ledger, IssuedGrant issued, DateTimeOffset? usedAt, RevocationOutcome revocation, string revokedBy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(issued);
        ArgumentNullException.ThrowIfNull(revocation);

        DateTimeOffset? verifiedAt = revocation.Proven ? revocation.ProvenAt : null;
        if (ledger is IGrantLedgerTransitions transitions)
        {
            return transitions.ApplyAsync(issued.GrantId, record => Verify(Use(record.WithIssued(issued), usedAt).WithRevocation(revocation, revokedBy), verifiedAt, revocation.Evidence), cancellationToken);
        }

        return RecordOneByOneAsync(ledger, issued, usedAt, revocation, revokedBy, verifiedAt, cancellationToken);
    }

    /// <summary>Records a revocation made without the credential, and its confirmation when the revoker read it back without error.</summary>
    public static Task RecordRevocationAsync(this IGrantLedger ledger, RevocationOutcome revocation, string revokedBy, DateTimeOffset confirmedAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(revocation);

        DateTimeOffset? verifiedAt = revocation.RevokedAt is not null && revocation.Error is null ? revocation.ProvenAt ?? confirmedAt : null;
        if (ledger is IGrantLedgerTransitions transitions)
        {
            return transitions.ApplyAsync(revocation.GrantId, record => Verify(record.WithRevocation(revocation, revokedBy), verifiedAt, revocation.Evidence), cancellationToken);
        }

        return RecordRevocationOneByOneAsync(ledger, revocation, revokedBy, verifiedAt, cancellationToken);
    }

    private static async Task RecordOneByOneAsync(
        IGrantLedger ledger, IssuedGrant issued, DateTimeOffset? usedAt, RevocationOutcome revocation, string revokedBy, DateTimeOffset? verifiedAt, CancellationToken cancellationToken)
    {
        await ledger.RecordIssuedAsync(issued, cancellationToken);
        if (usedAt is { } at)
        {
            await ledger.RecordUsedAsync(issued.GrantId, at, cancellationToken);
        }

        await RecordRevocationOneByOneAsync(ledger, revocation, revokedBy, verifiedAt, cancellationToken);
    }

    private static async Task RecordRevocationOneByOneAsync(
        IGrantLedger ledger, RevocationOutcome revocation, string revokedBy, DateTimeOffset? verifiedAt, CancellationToken cancellationToken)
    {
        await ledger.RecordRevokedAsync(revocation, revokedBy, cancellationToken);
        if (verifiedAt is { } at)
        {
            await ledger.RecordVerifiedAsync(revocation.GrantId, at, revocation.Evidence, cancellationToken);
        }
    }

    private static GrantRecord Use(GrantRecord record, DateTimeOffset? usedAt) =>
        usedAt is { } at ? record.WithUsed(at) : record;

    private static GrantRecord Verify(GrantRecord record, DateTimeOffset? verifiedAt, string evidence) =>
        verifiedAt is { } at ? record.WithVerified(at, evidence) : record;
}
