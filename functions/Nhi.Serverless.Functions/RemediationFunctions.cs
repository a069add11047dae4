using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Functions;

/// <summary>
/// Durable functions that delegate to the shared orchestrator and activities, registered under the same
/// names the orchestrator calls. The class-based registration generator is not available to this build,
/// so each task needs this thin wrapper.
/// </summary>
public sealed class RemediationFunctions(
    PlanRemediationActivity plan,
    ExecuteWithGrantActivity execute,
    EnsureGrantRevokedActivity ensureRevoked,
    RecordRunActivity record)
{
    [Function(RemediateFindingOrchestrator.Name)]
    public static Task<RunResult> RemediateFindingAsync([OrchestrationTrigger] TaskOrchestrationContext context) =>
        new RemediateFindingOrchestrator().RunAsync(context, context.GetInput<RemediationRequest>()
            ?? throw new InvalidOperationException($"Orchestration {context.InstanceId} has no input."));

    [Function(nameof(PlanRemediationActivity))]
    public Task<PlanDecision> PlanAsync([ActivityTrigger] RemediationRequest input, FunctionContext context) =>
        plan.RunAsync(new FunctionActivityContext(nameof(PlanRemediationActivity), context), input);

    [Function(nameof(ExecuteWithGrantActivity))]
    public Task<ExecutionReport> ExecuteAsync([ActivityTrigger] ExecuteWithGrantInput input, FunctionContext context) =>
        execute.RunAsync(new FunctionActivityContext(nameof(ExecuteWithGrantActivity), context), input);

    [Function(nameof(EnsureGrantRevokedActivity))]
    public Task<RevocationOutcome> EnsureRevokedAsync([ActivityTrigger] EnsureGrantRevokedInput input, FunctionContext context) =>
        ensureRevoked.RunAsync(new FunctionActivityContext(nameof(EnsureGrantRevokedActivity), context), input);

    [Function(nameof(RecordRunActivity))]
    public Task<AuditReceipt> RecordAsync([ActivityTrigger] RecordRunInput input, FunctionContext context) =>
        record.RunAsync(new FunctionActivityContext(nameof(RecordRunActivity), context), input);
}

/// <summary>The activity context the shared activities expect, filled from the Functions invocation.</summary>
internal sealed class FunctionActivityContext(string name, FunctionContext context) : TaskActivityContext
{
    public override TaskName Name { get; } = name;

    public override string InstanceId { get; } =
        context.BindingContext.BindingData.TryGetValue("instanceId", out object? id) ? id?.ToString() ?? string.Empty : string.Empty;
}

/// <summary>Registers the shared activity classes so the wrappers above can take them by injection.</summary>
public static class FunctionActivityRegistration
{
    public static IServiceCollection AddFunctionActivities(this IServiceCollection services)
    {
        services.AddTransient<PlanRemediationActivity>();
        services.AddTransient<ExecuteWithGrantActivity>();
        services.AddTransient<EnsureGrantRevokedActivity>();
        services.AddTransient<RecordRunActivity>();
        return services;
    }
}
