namespace Nhi.Serverless.Grants;

/// <summary>
/// Issues short-lived credentials for one scope and takes them away again. Every broker states what it
/// can scope, its lifetime bounds, how it revokes, and how a revocation is proven.
/// </summary>
/// <typeparam name="TCredential">The secret material; it never leaves the activity that holds the lease.</typeparam>
public interface ICredentialBroker<TCredential>
    where TCredential : class
{
    /// <summary>The broker's name in plans, ledgers and audit records, such as "aws-sts".</summary>
    string Name { get; }

    /// <summary>The lifetime the platform allows for one credential.</summary>
    GrantLifetimeBounds Lifetime { get; }

    /// <summary>Throws <see cref="ScopeNotSupportedException"/> unless the broker can express the scope exactly.</summary>
    void ValidateScope(Scope scope);

    /// <summary>Issues a credential limited to the request's scope.</summary>
    Task<Lease<TCredential>> IssueAsync(GrantRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Revokes the grant. Needs no secret, so the orchestration's cleanup path and the sweeper can call it
    /// for a grant whose credential they never saw. Idempotent, and safe for a grant that was never issued.
    /// </summary>
    Task<RevocationOutcome> RevokeAsync(GrantRequest request, CancellationToken cancellationToken);

    /// <summary>Proves a revocation by making a call with the revoked credential that must now be denied.</summary>
    Task<RevocationOutcome> ProveRevokedAsync(Lease<TCredential> lease, RevocationOutcome revocation, CancellationToken cancellationToken);
}

/// <summary>Thrown when a broker cannot express a scope exactly, so issuing would grant more than asked.</summary>
public sealed class ScopeNotSupportedException(string broker, string reason)
    : Exception($"Broker '{broker}' cannot express the requested scope: {reason}");
