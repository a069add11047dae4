using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>
/// Revokes an attempt's grant by id on the run's cleanup path, whether the execute step completed,
/// threw or never started, and records the revocation in the grant ledger. Idempotent, so replays and
/// retries are harmless.
/// </summary>
public sealed class EnsureGrantRevokedActivity(IGrantRevoker revoker, IGrantLedger ledger, ILogger<EnsureGrantRevokedActivity> logger)
    : TaskActivity<EnsureGrantRevokedInput, RevocationOutcome>
{
    public override async Task<RevocationOutcome> RunAsync(TaskActivityContext context, EnsureGrantRevokedInput input)
    {
        RevocationOutcome outcome = await revoker.EnsureRevokedAsync(input.Broker, input.Grant, CancellationToken.None);

        logger.LogInformation(
            "Grant {GrantId} of run {RunId} ensured revoked by {Method}; valid until {ValidUntil:O} at the latest",
            input.Grant.GrantId, input.Grant.RunId, outcome.Method, outcome.ValidUntil);

        try
        {
            await ledger.RecordRevocationAsync(outcome, GrantRevokers.Run, outcome.RevokedAt ?? DateTimeOffset.UtcNow, CancellationToken.None);
        }
        catch (GrantNotFoundException)
        {
            // The execute step failed before it wrote the ledger entry, so no credential was issued under this grant.
            logger.LogInformation("Grant {GrantId} of run {RunId} is not in the grant ledger; it was never requested", input.Grant.GrantId, input.Grant.RunId);
        }

        return outcome;
    }
}
