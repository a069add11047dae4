namespace Nhi.Serverless.Grants;

/// <summary>A request for a credential: which run it serves, what it may do, and for how long.</summary>
/// <param name="GrantId">A fresh id per attempt; brokers derive the session or principal name from it.</param>
/// <param name="RunId">The orchestration instance id of the run.</param>
/// <param name="Scope">What the credential may do, on which resource.</param>
/// <param name="Lifetime">The requested lifetime; brokers clamp it to their <see cref="GrantLifetimeBounds"/>.</param>
/// <param name="RequestedAt">When the run asked for the grant; with the broker's maximum lifetime it bounds the latest possible expiry.</param>
public sealed record GrantRequest(string GrantId, string RunId, Scope Scope, TimeSpan Lifetime, DateTimeOffset RequestedAt);

/// <summary>The shortest and longest lifetime a broker's platform allows for one credential.</summary>
public sealed record GrantLifetimeBounds(TimeSpan Minimum, TimeSpan Maximum)
{
    public TimeSpan Clamp(TimeSpan requested) =>
        requested < Minimum ? Minimum : requested > Maximum ? Maximum : requested;
}

/// <summary>The public facts of an issued credential. Never holds the secret.</summary>
/// <param name="GrantId">The grant id from the request.</param>
/// <param name="Broker">The broker that issued it, such as "aws-sts".</param>
/// <param name="Principal">The identity the credential acts as, such as "AROA...:nhi-1a2b-3c4d".</param>
/// <param name="CredentialFingerprint">A keyed HMAC of the credential's public identifier (for STS the access key id), so an auditor can match it without learning it.</param>
/// <param name="IssuedAt">When the platform issued the credential.</param>
/// <param name="ExpiresAt">When the platform lets it expire on its own.</param>
public sealed record IssuedGrant(
    string GrantId,
    string Broker,
    string Principal,
    string CredentialFingerprint,
    DateTimeOffset IssuedAt,
    DateTimeOffset ExpiresAt);

/// <summary>An issued credential together with its public facts; lives only inside one activity.</summary>
/// <remarks>Its <see cref="ToString"/> prints no secret, and it is never serialized.</remarks>
public sealed class Lease<TCredential>(IssuedGrant grant, TCredential credential)
    where TCredential : class
{
    public IssuedGrant Grant { get; } = grant;

    public TCredential Credential { get; } = credential;

    public override string ToString() => $"Lease({Grant.GrantId}, {Grant.Broker}, credential redacted)";
}

/// <summary>What revoking a grant did, and whether a denied probe proved it.</summary>
/// <param name="GrantId">The grant that was revoked.</param>
/// <param name="Method">How: such as "iam-deny-session-policy" or "expiry-only".</param>
/// <param name="RevokedAt">When the revocation took effect at the platform; null when it could not be applied.</param>
/// <param name="Proven">True when a probe made with the revoked credential was denied.</param>
/// <param name="ProvenAt">When that probe was denied.</param>
/// <param name="Evidence">What the proof consisted of, such as "GetBucketAcl on my-bucket returned 403 AccessDenied after 1 attempt".</param>
/// <param name="ValidUntil">The latest moment the credential could still be used: the proof time when proven, else its expiry.</param>
/// <param name="Error">Why revocation or proof failed, without any secret; null on success.</param>
public sealed record RevocationOutcome(
    string GrantId,
    string Method,
    DateTimeOffset? RevokedAt,
    bool Proven,
    DateTimeOffset? ProvenAt,
    string Evidence,
    DateTimeOffset ValidUntil,
    string? Error = null);
