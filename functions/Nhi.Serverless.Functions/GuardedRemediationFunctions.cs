using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Orchestration.Guardrails;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Functions;

/// <summary>
/// Thin wrappers for versions 2 and 3 of the remediation orchestrator and the activities they add (guardrails,
/// concurrency slots, approval audit events), registered under the names the orchestrators call them by.
/// </summary>
public sealed class GuardedRemediationFunctions(
    CheckGuardrailsActivity guardrails,
    AcquireRunSlotsActivity acquireSlots,
    ReleaseRunSlotsActivity releaseSlots,
    RecordGrantEventActivity recordEvent)
{
    [Function(RemediateFindingOrchestratorV2.Name)]
    public static Task<RunResult> RemediateFindingAsync([OrchestrationTrigger] TaskOrchestrationContext context) =>
        new RemediateFindingOrchestratorV2().RunAsync(context, context.GetInput<RemediationRequest>()
            ?? throw new InvalidOperationException($"Orchestration {context.InstanceId} has no input."));

    [Function(RemediateFindingOrchestratorV3.Name)]
    public static Task<RunResult> RemediateFindingWithCancelAsync([OrchestrationTrigger] TaskOrchestrationContext context) =>
        new RemediateFindingOrchestratorV3().RunAsync(context, context.GetInput<RemediationRequest>()
            ?? throw new InvalidOperationException($"Orchestration {context.InstanceId} has no input."));

    [Function(nameof(CheckGuardrailsActivity))]
    public Task<GuardrailDecision> CheckGuardrailsAsync([ActivityTrigger] CheckGuardrailsInput input, FunctionContext context) =>
        guardrails.RunAsync(new FunctionActivityContext(nameof(CheckGuardrailsActivity), context), input);

    [Function(nameof(AcquireRunSlotsActivity))]
    public Task<bool> AcquireSlotsAsync([ActivityTrigger] RunSlotsInput input, FunctionContext context) =>
        acquireSlots.RunAsync(new FunctionActivityContext(nameof(AcquireRunSlotsActivity), context), input);

    [Function(nameof(ReleaseRunSlotsActivity))]
    public Task<bool> ReleaseSlotsAsync([ActivityTrigger] RunSlotsInput input, FunctionContext context) =>
        releaseSlots.RunAsync(new FunctionActivityContext(nameof(ReleaseRunSlotsActivity), context), input);

    [Function(nameof(RecordGrantEventActivity))]
    public Task<string> RecordEventAsync([ActivityTrigger] GrantAuditEvent input, FunctionContext context) =>
        recordEvent.RunAsync(new FunctionActivityContext(nameof(RecordGrantEventActivity), context), input);
}

/// <summary>Registers the activity classes the wrappers above take by injection.</summary>
public static class GuardedRemediationRegistration
{
    public static IServiceCollection AddGuardedRemediationActivities(this IServiceCollection services)
    {
        services.AddTransient<CheckGuardrailsActivity>();
        services.AddTransient<AcquireRunSlotsActivity>();
        services.AddTransient<ReleaseRunSlotsActivity>();
        services.AddTransient<RecordGrantEventActivity>();
        return services;
    }
}
