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

        ExecutionReport report = await executor.ExecuteAsync(plan, input.Grant, CancellationToken.None);

        logger.LogInformation(
            "Executed {Playbook} for run {RunId} under grant {GrantId}: verification {VerificationPassed}, revocation proven {RevocationProven}",
            plan.Playbook, plan.RunId, input.Grant.GrantId, report.Verification.Passed, report.Revocation.Proven);

        return report;
    }
}
