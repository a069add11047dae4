using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Orchestration.Guardrails;
using Nhi.Serverless.Orchestration.Intake;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Orchestration.Workflows;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Orchestration;

/// <summary>Registration of the shared orchestration code with any host.</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers the planner, the alert intake and the approval handler. Playbooks come from every registered
    /// <see cref="Playbook"/>; brokers from every registered <see cref="BrokerRoute"/>.
    /// </summary>
    public static IServiceCollection AddNhiOrchestration(this IServiceCollection services, PlannerOptions plannerOptions)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(plannerOptions);
        services.AddSingleton(provider => new RemediationPlanner(
            provider.GetServices<Playbook>(),
            provider.GetServices<BrokerRoute>().ToDictionary(route => route.Provider, route => route.Broker),
            provider.GetRequiredService<PlannerOptions>()));
        services.AddSingleton<AlertIntake>();
        services.AddSingleton<RunApprovals>();
        services.AddSingleton<RunCancellations>();
        return services;
    }

    /// <summary>
    /// Registers every orchestrator version and activity under the names the orchestrators call them by. Older
    /// orchestrator versions stay registered so runs started on them finish there.
    /// </summary>
    public static DurableTaskRegistry AddNhiTasks(this DurableTaskRegistry registry)
    {
        registry.AddOrchestrator<RemediateFindingOrchestrator>();
        registry.AddOrchestrator<RemediateFindingOrchestratorV2>();
        registry.AddOrchestrator<RemediateFindingOrchestratorV3>();
        registry.AddActivity<PlanRemediationActivity>();
        registry.AddActivity<CheckGuardrailsActivity>();
        registry.AddActivity<AcquireRunSlotsActivity>();
        registry.AddActivity<ReleaseRunSlotsActivity>();
        registry.AddActivity<RecordGrantEventActivity>();
        registry.AddActivity<ExecuteWithGrantActivity>();
        registry.AddActivity<EnsureGrantRevokedActivity>();
        registry.AddActivity<RecordRunActivity>();
        registry.AddOrchestrator<RunWorkflowOrchestrator>();
        registry.AddActivity<PlanWorkflowActivity>();
        registry.AddActivity<ExecuteWorkflowStepActivity>();
        registry.AddActivity<DecideWorkflowActivity>();
        registry.AddActivity<RecordWorkflowActivity>();
        return registry;
    }
}

/// <summary>Which credential broker issues grants for a cloud provider, such as "aws" to "aws-sts".</summary>
public sealed record BrokerRoute(string Provider, string Broker);

/// <summary>The orchestrator versions of a remediation run.</summary>
public static class RemediationOrchestrators
{
    /// <summary>The version new runs start on.</summary>
    public const string Current = RemediateFindingOrchestratorV3.Name;

    /// <summary>Every version a host must keep registered, oldest first, so runs in flight finish on the version they started on.</summary>
    public static IReadOnlyList<string> All { get; } =
        [RemediateFindingOrchestrator.Name, RemediateFindingOrchestratorV2.Name, RemediateFindingOrchestratorV3.Name];

    /// <summary>The versions that end a run through its orchestrator when a <see cref="RunCancellationEvents.Requested"/> event arrives.</summary>
    public static IReadOnlyList<string> ListenForCancel { get; } = [RemediateFindingOrchestratorV3.Name];
}
