using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>
/// Issues the attempt's grant, runs the playbook with it, verifies, revokes and proves the revocation.
/// The credential exists only in this activity's memory; its output holds public facts only.
/// </summary>
public sealed class ExecuteWithGrantActivity(IEnumerable<IRemediationExecutor> executors, ILogger<ExecuteWithGrantActivity> logger)
    : TaskActivity<ExecuteWithGrantInput, ExecutionReport>
{
    public override async Task<ExecutionReport> RunAsync(TaskActivityContext context, ExecuteWithGrantInput input)
    {
        RemediationPlan plan = input.Plan;
        IRemediationExecutor executor = executors.FirstOrDefault(candidate => candidate.Playbooks.Contains(plan.Playbook))
            ?? throw new InvalidOperationException($"No executor is registered for playbook '{plan.Playbook}'.");

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

            return new ExecutionReport(
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

        logger.LogInformation(
            "Executed {Playbook} for run {RunId} under grant {GrantId}: verification {VerificationPassed}, revocation proven {RevocationProven}",
            plan.Playbook, plan.RunId, input.Grant.GrantId, report.Verification.Passed, report.Revocation.Proven);

        return report;
    }
}
