namespace Nhi.Serverless.Grants;

/// <summary>
/// The durable record of every grant, written before the broker is asked and updated as the grant is issued,
/// used, revoked and verified. The sweeper reads it to revoke grants that a crashed or stalled run left open.
/// </summary>
/// <remarks>
/// Implementations key every entry by grant id and apply the transitions of <see cref="GrantRecord"/>, so a
/// late or repeated update never moves an entry backwards (a late "issued" never reopens a revoked grant).
/// Every method is safe to repeat. No method takes or stores a secret.
/// </remarks>
public interface IGrantLedger
{
    /// <summary>Records a grant in state "requested", before its broker is asked for a credential.</summary>
    /// <returns>True when this call recorded it; false when the grant id was already recorded, by an earlier
    /// execution of the same activity, in which case the existing entry is left unchanged.</returns>
    Task<bool> RecordRequestedAsync(GrantRecord grant, CancellationToken cancellationToken);

    /// <summary>Records the public facts of the issued credential. Throws <see cref="GrantNotFoundException"/> for an unknown grant id.</summary>
    Task RecordIssuedAsync(IssuedGrant issued, CancellationToken cancellationToken);

    /// <summary>Records the first call made with the credential. Later calls keep the first time.</summary>
    Task RecordUsedAsync(string grantId, DateTimeOffset usedAt, CancellationToken cancellationToken);

    /// <summary>
    /// Records a revocation and who made it ("run" or "sweeper"). An outcome without <see cref="RevocationOutcome.RevokedAt"/>
    /// records only its error, and the grant stays open for the sweeper.
    /// </summary>
    Task RecordRevokedAsync(RevocationOutcome revocation, string revokedBy, CancellationToken cancellationToken);

    /// <summary>Records that the revocation was confirmed: by a denied probe, or by reading the revocation back.</summary>
    Task RecordVerifiedAsync(string grantId, DateTimeOffset verifiedAt, string evidence, CancellationToken cancellationToken);

    /// <summary>Marks every grant of the run with the time the run ended, so the sweeper revokes any left open.</summary>
    Task RecordRunEndedAsync(string runId, DateTimeOffset endedAt, CancellationToken cancellationToken);

    /// <summary>Returns the entry of one grant, or null when the grant id was never recorded.</summary>
    Task<GrantRecord?> GetAsync(string grantId, CancellationToken cancellationToken);

    /// <summary>Returns every grant of a run, ordered by request time.</summary>
    Task<IReadOnlyList<GrantRecord>> ListByRunAsync(string runId, CancellationToken cancellationToken);

    /// <summary>
    /// Returns every grant not yet revoked: issued, used, and also requested, because a host that died between the
    /// broker's response and the "issued" update leaves a live credential behind an entry still marked "requested".
    /// </summary>
    Task<IReadOnlyList<GrantRecord>> ListUnrevokedAsync(CancellationToken cancellationToken);
}

/// <summary>Thrown when a ledger update names a grant id that was never recorded as requested.</summary>
public sealed class GrantNotFoundException(string grantId)
    : Exception($"Grant '{grantId}' is not in the grant ledger; it must be recorded as requested before any other update.")
{
    public string GrantId { get; } = grantId;
}
