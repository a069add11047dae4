using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>
/// Issues the attempt's grant, runs the playbook with it, verifies, revokes and proves the revocation.
/// The credential exists only in this activity's memory; its output contains public facts only.
/// </summary>
/// <remarks>
/// The grant is written to the ledger before the broker is asked. A second execution of the activity with the
/// same grant (the backend delivers an activity again after its host died) finds that entry, revokes the grant
/// the first execution may have received, and fails with <see cref="GrantAlreadyRequestedException"/>, so the
/// orchestrator retries under a fresh grant and never reuses a credential of an earlier attempt.
/// </remarks>
public sealed class ExecuteWithGrantActivity(
    IEnumerable<IRemediationExecutor> executors,
    IGrantLedger ledger,
    IGrantRevoker revoker,
    GrantLedgerOptions ledgerOptions,
    ILogger<ExecuteWithGrantActivity> logger)
    : TaskActivity<ExecuteWithGrantInput, ExecutionReport>
{
    public override async Task<ExecutionReport> RunAsync(TaskActivityContext context, ExecuteWithGrantInput input)
    {
        RemediationPlan plan = input.Plan;
        IRemediationExecutor executor = executors.FirstOrDefault(candidate => candidate.Playbooks.Contains(plan.Playbook))
            ?? throw new InvalidOperationException($"No executor is registered for playbook '{plan.Playbook}'.");

        GrantRecord requested = GrantRecord.Requested(plan.Broker, input.Grant, ledgerOptions.MaxStepTime);
        if (!await ledger.RecordRequestedAsync(requested, CancellationToken.None))
        {
            await RevokeEarlierExecutionAsync(plan, input.Grant);
            throw new GrantAlreadyRequestedException(input.Grant.GrantId);
        }

        logger.LogInformation(
            "Executing {Playbook} for run {RunId} under grant {GrantId} on {Resource}",
            plan.Playbook, plan.RunId, input.Grant.GrantId, plan.Scope.Resource);

        ExecutionReport report;
        try
        {
            report = await executor.ExecuteAsync(plan, input.Grant, CancellationToken.None);
        }
        catch (RemediationExecutionException failure)
        {
            // The grant was issued and the executor revoked it before throwing. Returning the facts
            // keeps the calls made and the revocation proof in the run's audit records.
            logger.LogWarning(
                "Step {Step} of run {RunId} failed under grant {GrantId}: {Error}",
                failure.Step, plan.RunId, input.Grant.GrantId, failure.Message);

            report = new ExecutionReport(
                Grant: failure.Grant,
                ActionsTaken: [],
                Calls: failure.Calls,
                Verification: new Verification(false, [$"not verified: {failure.Step} failed"]),
                ScopeProbe: null,
                Revocation: failure.Revocation)
            {
                Error = $"{failure.Step}: {failure.Message}",
            };
        }

        await RecordInLedgerAsync(report);

        if (report.Error is null)
        {
            logger.LogInformation(
                "Executed {Playbook} for run {RunId} under grant {GrantId}: verification {VerificationPassed}, revocation proven {RevocationProven}",
                plan.Playbook, plan.RunId, input.Grant.GrantId, report.Verification.Passed, report.Revocation.Proven);
        }

        return report;
    }

    private async Task RevokeEarlierExecutionAsync(RemediationPlan plan, GrantRequest grant)
    {
        logger.LogWarning(
            "Grant {GrantId} of run {RunId} was requested by an earlier execution of this step; revoking it before the run retries under a fresh grant",
            grant.GrantId, plan.RunId);

        RevocationOutcome outcome = await revoker.EnsureRevokedAsync(plan.Broker, grant, CancellationToken.None);
        await ledger.RecordRevocationAsync(outcome, GrantRevokers.Retry, outcome.RevokedAt ?? DateTimeOffset.UtcNow, CancellationToken.None);
    }

    // The step is over whatever the ledger contains, so a failed ledger write is logged, not thrown. The entry stays
    // open, and the cleanup path and the sweeper revoke the grant again, which is idempotent.
    private async Task RecordInLedgerAsync(ExecutionReport report)
    {
        IssuedGrant grant = report.Grant;
        try
        {
            ApiCall? firstUse = report.Calls.Where(call => call.Purpose != ApiCallPurposes.RevocationProbe).MinBy(call => call.At);
            await ledger.RecordStepAsync(grant, firstUse?.At, report.Revocation, GrantRevokers.Run, CancellationToken.None);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            logger.LogError(exception, "Could not record grant {GrantId} in the grant ledger after its step", grant.GrantId);
        }
    }
}

/// <summary>
/// Thrown when the execute step finds its grant already requested by an earlier execution of the same step. That
/// grant has been revoked; the run retries under a fresh grant.
/// </summary>
public sealed class GrantAlreadyRequestedException(string grantId)
    : Exception($"Grant {grantId} was requested by an earlier execution of this step, which did not finish; it was revoked, and the run retries under a fresh grant.");
