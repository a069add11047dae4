using Microsoft.DurableTask;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>
/// One remediation run, version 3: the steps of version 2, and a cancel request ends the run through the
/// orchestrator. A <see cref="RunCancellationEvents.Requested"/> event that arrives while the run waits for approval
/// or for a concurrency slot ends the wait. One that arrives while a step executes takes effect when the step
/// returns: no further attempt starts, and a run whose last attempt already ran ends with that attempt's outcome.
/// Every grant issued so far is revoked as on any other path, the slots are released, and the audit records state
/// the outcome <see cref="RunOutcomes.Cancelled"/>.
/// </summary>
public sealed class RemediateFindingOrchestratorV3 : TaskOrchestrator<RemediationRequest, RunResult>
{
    /// <summary>The name every host registers this orchestrator under.</summary>
    public const string Name = nameof(RemediateFindingOrchestratorV3);

    public override Task<RunResult> RunAsync(TaskOrchestrationContext context, RemediationRequest request) =>
        RemediateFindingOrchestratorV2.RunGuardedAsync(
            context, request, context.CreateReplaySafeLogger<RemediateFindingOrchestratorV3>(), listensForCancel: true);
}
