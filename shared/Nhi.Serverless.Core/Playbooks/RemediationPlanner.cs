using Nhi.Serverless.Findings;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Playbooks;

/// <summary>Settings the planner applies to every plan.</summary>
/// <param name="GrantLifetime">The lifetime asked of the broker; brokers clamp it to what the platform allows.</param>
/// <param name="MaxAttempts">How many times the execute step may run, each under a fresh grant.</param>
/// <param name="OutOfScopeProbe">A resource name every grant must be denied on, used to prove the scope; null to skip.</param>
public sealed record PlannerOptions(TimeSpan GrantLifetime, int MaxAttempts, string? OutOfScopeProbe)
{
    /// <summary>The shortest lifetime AWS STS allows, two attempts, and no scope probe.</summary>
    public static PlannerOptions Default { get; } = new(TimeSpan.FromSeconds(900), 2, null);
}

/// <summary>Maps a finding to the playbook that answers it and the scope of the grant the run needs.</summary>
public sealed class RemediationPlanner(IEnumerable<Playbook> playbooks, IReadOnlyDictionary<string, string> brokersByProvider, PlannerOptions options)
{
    private readonly IReadOnlyList<Playbook> _playbooks = playbooks.ToArray();

    public IReadOnlyList<Playbook> Playbooks => _playbooks;

    public PlanDecision Plan(RemediationRequest request)
    {
        Finding finding = request.Finding;

        Playbook? playbook = _playbooks.FirstOrDefault(candidate => candidate.Answers(finding));
        if (playbook is null)
        {
            return PlanDecision.Skip(
                $"no playbook answers control '{finding.ControlId}' on resource type '{finding.Resource.Type}'");
        }

        if (!brokersByProvider.TryGetValue(playbook.Provider, out string? broker))
        {
            return PlanDecision.Skip($"no credential broker is configured for provider '{playbook.Provider}'");
        }

        var plan = new RemediationPlan(
            RunId: request.RunId,
            Playbook: playbook.Name,
            Actions: playbook.Actions.Select(action => action.Name).ToArray(),
            Scope: playbook.ScopeFor(finding.Resource),
            Broker: broker,
            GrantLifetime: options.GrantLifetime,
            MaxAttempts: options.MaxAttempts,
            Region: finding.Resource.Region,
            OutOfScopeProbe: OutOfScopeProbeFor(finding.Resource));

        return PlanDecision.Run(plan);
    }

    // A probe on the finding's own resource would prove nothing, so it is dropped for that run.
    private string? OutOfScopeProbeFor(CloudResource resource) =>
        string.Equals(options.OutOfScopeProbe, resource.Name, StringComparison.Ordinal) ? null : options.OutOfScopeProbe;
}
