namespace Nhi.Serverless.Runs;

/// <summary>
/// The durable record of every accepted run: what makes a redelivered finding a duplicate after a
/// restart, and what lets an accepted run that never started be started again.
/// </summary>
public interface IRunRegistry
{
    /// <summary>Records the run as accepted, unless it was accepted before. Never overwrites.</summary>
    Task<RunRegistration> RegisterAsync(RemediationRequest request, CancellationToken cancellationToken);

    /// <summary>Marks an accepted run as finished with its outcome.</summary>
    Task MarkCompletedAsync(string runId, string outcome, DateTimeOffset completedAt, CancellationToken cancellationToken);
}

/// <summary>The state of a run id at registration.</summary>
/// <param name="IsNew">True when this call recorded the run; false when it was accepted before.</param>
/// <param name="Outcome">The outcome when the run finished before; null while it has not.</param>
public sealed record RunRegistration(bool IsNew, string? Outcome)
{
    /// <summary>True when another host accepted the run, so that host started or is starting it; false when this
    /// host did, or when the registry does not know.</summary>
    public bool AcceptedElsewhere { get; init; }

    /// <summary>When the run was accepted; null when the registry does not record it.</summary>
    public DateTimeOffset? AcceptedAt { get; init; }
}
