using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Runs;

/// <summary>
/// Runs a plan's actions under one fresh grant: issue, probe the scope, act, verify, revoke, prove.
/// The credential exists only inside <see cref="ExecuteAsync"/>.
/// </summary>
public interface IRemediationExecutor
{
    /// <summary>The playbook names this executor runs.</summary>
    IReadOnlyCollection<string> Playbooks { get; }

    /// <summary>Executes the plan under the grant requested, and revokes the grant before returning or throwing.</summary>
    Task<ExecutionReport> ExecuteAsync(RemediationPlan plan, GrantRequest grant, CancellationToken cancellationToken);
}

/// <summary>Revokes a grant by id, without its secret: the cleanup path of every run and the sweeper.</summary>
public interface IGrantRevoker
{
    /// <summary>Revokes the grant if the broker issued it; idempotent and safe for a grant never issued.</summary>
    Task<RevocationOutcome> EnsureRevokedAsync(string broker, GrantRequest grant, CancellationToken cancellationToken);
}
