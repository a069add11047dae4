namespace Nhi.Serverless.Aws.DynamoDb.Runs;

/// <summary>What an attempt to take a run's lease found.</summary>
public enum RunLeaseState
{
    /// <summary>The run was unknown; this call recorded it and holds its lease.</summary>
    Acquired,

    /// <summary>
    /// The run was recorded and not finished, and its lease had expired or already belonged to the caller.
    /// The caller holds the lease now, which takes the run over from a container that crashed while running it.
    /// </summary>
    Reacquired,

    /// <summary>The run finished before, with the outcome in <see cref="RunLease.Outcome"/>.</summary>
    Completed,

    /// <summary>Another owner holds a lease that has not expired; the run is in progress elsewhere.</summary>
    Held,
}

/// <summary>The result of <see cref="DynamoDbRunRegistry.TryAcquireLeaseAsync"/>.</summary>
/// <param name="State">What the call found or did.</param>
/// <param name="Owner">The lease holder after the call: the caller unless <paramref name="State"/> is Held; null for Completed.</param>
/// <param name="ExpiresAt">When the lease lapses; null for Completed.</param>
/// <param name="Outcome">The finished run's outcome, for Completed.</param>
/// <param name="Acquisitions">How many times a lease on this run was taken, this call included when it took one.</param>
public sealed record RunLease(RunLeaseState State, string? Owner, DateTimeOffset? ExpiresAt, string? Outcome, long Acquisitions)
{
    /// <summary>True when the caller holds the lease and must run (or keep running) the run.</summary>
    public bool IsHeld => State is RunLeaseState.Acquired or RunLeaseState.Reacquired;
}
