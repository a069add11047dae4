using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Nhi.Serverless.Orchestration.Intake;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Orchestration;

/// <summary>Registration of the shared orchestration code with any host.</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers the planner and the alert intake. Playbooks come from every registered
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
        return services;
    }

    /// <summary>Registers every orchestrator and activity under the names the orchestrators call them by.</summary>
    public static DurableTaskRegistry AddNhiTasks(this DurableTaskRegistry registry)
    {
        registry.AddOrchestrator<RemediateFindingOrchestrator>();
        registry.AddActivity<PlanRemediationActivity>();
        registry.AddActivity<ExecuteWithGrantActivity>();
        registry.AddActivity<EnsureGrantRevokedActivity>();
        registry.AddActivity<RecordRunActivity>();
        return registry;
    }
}

/// <summary>Which credential broker issues grants for a cloud provider, such as "aws" to "aws-sts".</summary>
public sealed record BrokerRoute(string Provider, string Broker);
