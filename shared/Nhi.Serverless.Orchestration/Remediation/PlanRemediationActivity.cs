using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Playbooks;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>Maps the finding to a playbook and the scope of its grant, or says why no run takes place.</summary>
public sealed class PlanRemediationActivity(RemediationPlanner planner, ILogger<PlanRemediationActivity> logger)
    : TaskActivity<RemediationRequest, PlanDecision>
{
    public override Task<PlanDecision> RunAsync(TaskActivityContext context, RemediationRequest input)
    {
        PlanDecision decision = planner.Plan(input);

        if (decision.Plan is { } plan)
        {
            logger.LogInformation(
                "Planned {Playbook} for run {RunId} on {Resource} with {PermissionCount} permissions",
                plan.Playbook, input.RunId, plan.Scope.Resource, plan.Scope.Permissions.Count);
        }
        else
        {
            logger.LogInformation("Run {RunId} skipped: {SkipReason}", input.RunId, decision.SkipReason);
        }

        return Task.FromResult(decision);
    }
}
