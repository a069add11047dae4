namespace Nhi.Serverless.Grants;

/// <summary>Values of <see cref="GrantRecord.Status"/>, in the order a grant moves through them.</summary>
public static class GrantStatuses
{
    /// <summary>Recorded before the broker was asked; a credential may exist if the host died right after issuing.</summary>
    public const string Requested = "requested";

    public const string Issued = "issued";

    public const string Used = "used";

    /// <summary>The revocation was applied at the platform.</summary>
    public const string Revoked = "revoked";

    /// <summary>The revocation was confirmed, by a denied probe or by reading it back.</summary>
    public const string Verified = "verified";

    private static readonly string[] Order = [Requested, Issued, Used, Revoked, Verified];

    /// <summary>Returns the position of a status in the lifecycle; -1 for an unknown value.</summary>
    public static int Rank(string status) => Array.IndexOf(Order, status);
}

/// <summary>Values of <see cref="GrantRecord.RevokedBy"/>.</summary>
public static class GrantRevokers
{
    /// <summary>The run's own execute step or its cleanup path.</summary>
    public const string Run = "run";

    /// <summary>The sweeper, after the run ended or the step's maximum time passed.</summary>
    public const string Sweeper = "sweeper";

    /// <summary>An execution of the execute activity that found its grant requested by an earlier execution.</summary>
    public const string Retry = "retry";
}

/// <summary>One grant in the ledger: what it was for, and how far it got. Holds no secret.</summary>
/// <param name="GrantId">The grant id; brokers derive the session or principal name from it.</param>
/// <param name="RunId">The run that requested it.</param>
/// <param name="Broker">The broker that issues and revokes it, such as "aws-sts".</param>
/// <param name="Scope">What the credential may do, on which resource.</param>
/// <param name="Lifetime">The lifetime asked of the broker.</param>
/// <param name="RequestedAt">When the run asked for it.</param>
/// <param name="StepDeadline">When the step using it must be over; past it the sweeper revokes the grant even while the run goes on.</param>
public sealed record GrantRecord(
    string GrantId,
    string RunId,
    string Broker,
    Scope Scope,
    TimeSpan Lifetime,
    DateTimeOffset RequestedAt,
    DateTimeOffset StepDeadline)
{
    /// <summary>One of <see cref="GrantStatuses"/>.</summary>
    public string Status { get; init; } = GrantStatuses.Requested;

    /// <summary>The identity the credential acts as; null until issued.</summary>
    public string? Principal { get; init; }

    /// <summary>The keyed HMAC of the credential's public identifier; null until issued.</summary>
    public string? CredentialFingerprint { get; init; }

    public DateTimeOffset? IssuedAt { get; init; }

    /// <summary>When the platform lets the credential expire on its own; null until issued.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>The first call made with the credential.</summary>
    public DateTimeOffset? UsedAt { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>One of <see cref="GrantRevokers"/>; null until revoked.</summary>
    public string? RevokedBy { get; init; }

    /// <summary>How it was revoked, such as "iam-deny-session-policy".</summary>
    public string? RevocationMethod { get; init; }

    public DateTimeOffset? VerifiedAt { get; init; }

    /// <summary>What confirmed the revocation, or what the last revocation attempt found.</summary>
    public string? Evidence { get; init; }

    /// <summary>When the run that requested the grant ended; null while it runs or when its host died.</summary>
    public DateTimeOffset? RunEndedAt { get; init; }

    /// <summary>The last failed revocation attempt's error, without secrets; cleared by a successful revocation.</summary>
    public string? LastError { get; init; }

    /// <summary>True until the revocation is applied.</summary>
    public bool IsOpen => RevokedAt is null;

    /// <summary>Returns the request the broker and revoker take, rebuilt from the entry.</summary>
    public GrantRequest ToRequest() => new(GrantId, RunId, Scope, Lifetime, RequestedAt);

    /// <summary>Creates the "requested" entry of a grant.</summary>
    /// <param name="maxStepTime">How long the step using the grant may take.</param>
    public static GrantRecord Requested(string broker, GrantRequest request, TimeSpan maxStepTime) =>
        new(request.GrantId, request.RunId, broker, request.Scope, request.Lifetime, request.RequestedAt, request.RequestedAt + maxStepTime);

    /// <summary>Returns the entry with the issued credential's public facts; facts recorded before are kept.</summary>
    public GrantRecord WithIssued(IssuedGrant issued) => this with
    {
        Status = Advance(GrantStatuses.Issued),
        Principal = Principal ?? issued.Principal,
        CredentialFingerprint = CredentialFingerprint ?? issued.CredentialFingerprint,
        IssuedAt = IssuedAt ?? issued.IssuedAt,
        ExpiresAt = ExpiresAt ?? issued.ExpiresAt,
    };

    /// <summary>Returns the entry with the first use; a later use keeps the earlier time.</summary>
    public GrantRecord WithUsed(DateTimeOffset usedAt) => this with
    {
        Status = Advance(GrantStatuses.Used),
        UsedAt = UsedAt is { } earlier && earlier <= usedAt ? earlier : usedAt,
    };

    /// <summary>Returns the entry with a revocation; one that was not applied records only its error.</summary>
    public GrantRecord WithRevocation(RevocationOutcome revocation, string revokedBy)
    {
        if (revocation.RevokedAt is not { } revokedAt)
        {
            return this with { LastError = revocation.Error ?? revocation.Evidence, Evidence = revocation.Evidence };
        }

        // The first applied revocation is the one that cut the credential; a repeat keeps it.
        if (RevokedAt is not null)
        {
            return this;
        }

        return this with
        {
            Status = Advance(GrantStatuses.Revoked),
            RevokedAt = revokedAt,
            RevokedBy = revokedBy,
            RevocationMethod = revocation.Method,
            Evidence = revocation.Evidence,
            LastError = null,
        };
    }

    /// <summary>Returns the entry with a confirmed revocation; the first confirmation is kept.</summary>
    public GrantRecord WithVerified(DateTimeOffset verifiedAt, string evidence) =>
        VerifiedAt is not null
            ? this
            : this with { Status = Advance(GrantStatuses.Verified), VerifiedAt = verifiedAt, Evidence = evidence };

    /// <summary>Returns the entry with the end of its run; the first end time is kept.</summary>
    public GrantRecord WithRunEnded(DateTimeOffset endedAt) => this with { RunEndedAt = RunEndedAt ?? endedAt };

    /// <summary>
    /// Returns true when the sweeper must revoke the grant at <paramref name="now"/>: it is open, and its run
    /// ended, or its step deadline passed.
    /// </summary>
    public bool IsDueForSweep(DateTimeOffset now) =>
        IsOpen && (RunEndedAt is not null || now >= StepDeadline);

    private string Advance(string next) =>
        GrantStatuses.Rank(next) > GrantStatuses.Rank(Status) ? next : Status;
}
