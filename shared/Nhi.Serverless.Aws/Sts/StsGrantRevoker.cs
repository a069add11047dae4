using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Aws.Sts;

/// <summary>
/// Revokes "aws-sts" grants by id on the orchestration's cleanup path and for the sweeper. It has no credential of
/// the grant to probe with, so it reads the deny policy back instead and reports the revocation as not proven,
/// valid at most until the latest possible expiry of the session.
/// </summary>
public sealed class StsGrantRevoker : IGrantRevoker
{
    private readonly StsGrantBroker _broker;
    private readonly ILogger<StsGrantRevoker> _logger;

    public StsGrantRevoker(StsGrantBroker broker, ILogger<StsGrantRevoker> logger)
    {
        _broker = broker ?? throw new ArgumentNullException(nameof(broker));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <exception cref="ArgumentException"><paramref name="broker"/> is not "aws-sts".</exception>
    public async Task<RevocationOutcome> EnsureRevokedAsync(string broker, GrantRequest grant, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(grant);
        if (broker != StsGrantBroker.BrokerName)
        {
            throw new ArgumentException($"StsGrantRevoker revokes only '{StsGrantBroker.BrokerName}' grants; grant {grant.GrantId} names broker '{broker}'.", nameof(broker));
        }

        RevocationOutcome outcome = await _broker.RevokeAsync(grant, cancellationToken);
        if (outcome.RevokedAt is null)
        {
            return outcome;
        }

        (bool present, string evidence) = await _broker.ConfirmDenyPolicyAsync(grant, cancellationToken);
        if (!present)
        {
            _logger.LogError("Deny policy for grant {GrantId} of run {RunId} is missing after PutRolePolicy: {Evidence}", grant.GrantId, grant.RunId, evidence);
            return outcome with { Evidence = evidence, Error = "the deny policy was not found when read back after PutRolePolicy" };
        }

        return outcome with
        {
            Proven = false,
            ProvenAt = null,
            Evidence = evidence + "; no probe was made because the revoker holds no credential of the grant",
            ValidUntil = _broker.LatestPossibleExpiry(grant),
        };
    }
}
