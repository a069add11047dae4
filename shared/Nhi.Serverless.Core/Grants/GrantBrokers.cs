using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Grants;

/// <summary>
/// A credential that a brokered step hands to its caller. <see cref="ToHandoff"/> is called once, to write the
/// HTTPS response of the request that claimed it, and its result is never logged, stored or serialized elsewhere.
/// </summary>
public interface IHandoffCredential
{
    /// <summary>The credential as the caller uses it, such as an access key, secret and session token.</summary>
    JsonObject ToHandoff();
}

/// <summary>A broker of any credential type, addressed by name: what workflows and the revocation paths use.</summary>
public interface IGrantBroker
{
    string Name { get; }

    GrantLifetimeBounds Lifetime { get; }

    /// <summary>Throws <see cref="ScopeNotSupportedException"/> unless the broker can express the scope exactly.</summary>
    void ValidateScope(Scope scope);

    /// <summary>Issues a credential limited to the request's scope; the lease holds the secret.</summary>
    Task<GrantLease> IssueAsync(GrantRequest request, CancellationToken cancellationToken);

    /// <summary>Revokes the grant without its secret; idempotent and safe for a grant never issued.</summary>
    Task<RevocationOutcome> RevokeAsync(GrantRequest request, CancellationToken cancellationToken);

    /// <summary>Proves a revocation with a call made with the revoked credential, which must be denied.</summary>
    Task<RevocationOutcome> ProveRevokedAsync(GrantLease lease, RevocationOutcome revocation, CancellationToken cancellationToken);
}

/// <summary>An issued lease of any credential type, with its public facts. Lives only in memory.</summary>
public sealed class GrantLease(IssuedGrant grant, object lease, IHandoffCredential? handoff)
{
    public IssuedGrant Grant { get; } = grant;

    /// <summary>The typed <see cref="Lease{TCredential}"/>.</summary>
    public object Lease { get; } = lease;

    /// <summary>The credential in the form a brokered step hands out; null when the broker's credential cannot be handed out.</summary>
    public IHandoffCredential? Handoff { get; } = handoff;

    public override string ToString() => $"GrantLease({Grant.GrantId}, {Grant.Broker}, credential redacted)";
}

/// <summary>Adapts a typed <see cref="ICredentialBroker{TCredential}"/> to <see cref="IGrantBroker"/>.</summary>
public sealed class GrantBroker<TCredential>(ICredentialBroker<TCredential> broker) : IGrantBroker
    where TCredential : class
{
    public string Name => broker.Name;

    public GrantLifetimeBounds Lifetime => broker.Lifetime;

    public void ValidateScope(Scope scope) => broker.ValidateScope(scope);

    public async Task<GrantLease> IssueAsync(GrantRequest request, CancellationToken cancellationToken)
    {
        Lease<TCredential> lease = await broker.IssueAsync(request, cancellationToken);
        return new GrantLease(lease.Grant, lease, lease.Credential as IHandoffCredential);
    }

    public Task<RevocationOutcome> RevokeAsync(GrantRequest request, CancellationToken cancellationToken) =>
        broker.RevokeAsync(request, cancellationToken);

    public Task<RevocationOutcome> ProveRevokedAsync(GrantLease lease, RevocationOutcome revocation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        if (lease.Lease is not Lease<TCredential> typed)
        {
            throw new ArgumentException($"Grant {lease.Grant.GrantId} was not issued by broker '{Name}'.", nameof(lease));
        }

        return broker.ProveRevokedAsync(typed, revocation, cancellationToken);
    }
}

/// <summary>The registered brokers by name.</summary>
public sealed class GrantBrokers
{
    private readonly Dictionary<string, IGrantBroker> _brokers;

    public GrantBrokers(IEnumerable<IGrantBroker> brokers)
    {
        ArgumentNullException.ThrowIfNull(brokers);
        _brokers = new Dictionary<string, IGrantBroker>(StringComparer.Ordinal);
        foreach (IGrantBroker broker in brokers)
        {
            if (!_brokers.TryAdd(broker.Name, broker))
            {
                throw new InvalidOperationException($"Two brokers are registered under the name '{broker.Name}'.");
            }
        }
    }

    public IReadOnlyCollection<string> Names => _brokers.Keys;

    /// <exception cref="InvalidOperationException">No broker of that name is registered.</exception>
    public IGrantBroker Get(string name) =>
        _brokers.TryGetValue(name, out IGrantBroker? broker) ? broker
            : throw new InvalidOperationException(
                $"No broker named '{name}' is registered; registered: {(_brokers.Count == 0 ? "none" : string.Join(", ", _brokers.Keys.Order(StringComparer.Ordinal)))}.");

    public bool Contains(string name) => _brokers.ContainsKey(name);
}

/// <summary>
/// The leases of brokered steps, kept in this process's memory only, so the revocation that ends the step can prove
/// itself with the credential the caller received. A lease leaves the vault when it is taken or when it expires.
/// </summary>
/// <remarks>
/// After a restart, or on another instance, the lease is gone: the revocation still happens, and its outcome says it
/// was not proven by a probe.
/// </remarks>
public sealed class LeaseVault(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, GrantLease> _leases = new(StringComparer.Ordinal);

    public void Put(GrantLease lease)
    {
        ArgumentNullException.ThrowIfNull(lease);
        Prune();
        _leases[lease.Grant.GrantId] = lease;
    }

    /// <summary>Removes and returns the lease of the grant, or null when this process does not hold it.</summary>
    public GrantLease? Take(string grantId) => _leases.TryRemove(grantId, out GrantLease? lease) ? lease : null;

    public int Count => _leases.Count;

    private void Prune()
    {
        DateTimeOffset now = time.GetUtcNow();
        foreach ((string grantId, GrantLease lease) in _leases)
        {
            if (lease.Grant.ExpiresAt < now)
            {
                _leases.TryRemove(grantId, out _);
            }
        }
    }
}

/// <summary>A revoker for one broker that does more than the broker's own revoke, such as reading a deny policy back.</summary>
public sealed record NamedGrantRevoker(string Broker, IGrantRevoker Revoker);

/// <summary>
/// Revokes grants of every registered broker by name: the run's cleanup path and the sweeper. A broker-specific
/// revoker is used when one is registered; otherwise the broker revokes, and a lease still held in the
/// <see cref="LeaseVault"/> proves the revocation with a probe.
/// </summary>
public sealed class BrokerGrantRevoker(GrantBrokers brokers, LeaseVault vault, IEnumerable<NamedGrantRevoker> specific) : IGrantRevoker
{
    private readonly Dictionary<string, IGrantRevoker> _specific = specific.ToDictionary(entry => entry.Broker, entry => entry.Revoker, StringComparer.Ordinal);

    public async Task<RevocationOutcome> EnsureRevokedAsync(string broker, GrantRequest grant, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(grant);
        GrantLease? held = vault.Take(grant.GrantId);
        if (held is null && _specific.TryGetValue(broker, out IGrantRevoker? revoker))
        {
            return await revoker.EnsureRevokedAsync(broker, grant, cancellationToken);
        }

        IGrantBroker target = brokers.Get(broker);
        RevocationOutcome outcome = await target.RevokeAsync(grant, cancellationToken);
        if (held is null || outcome.Error is not null || outcome.RevokedAt is null)
        {
            return outcome;
        }

        return await target.ProveRevokedAsync(held, outcome, cancellationToken);
    }
}
