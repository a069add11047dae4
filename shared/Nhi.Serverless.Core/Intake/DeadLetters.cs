namespace Nhi.Serverless.Intake;

/// <summary>An accepted item that could not be processed, kept until it is replayed.</summary>
/// <param name="Id">The dead letter's own id.</param>
/// <param name="Kind">One of <see cref="DeadLetterKinds"/>; it decides how a replay processes <paramref name="Payload"/>.</param>
/// <param name="Source">The intake route that accepted the item.</param>
/// <param name="RunId">The run the item belongs to.</param>
/// <param name="FindingId">The finding's id in its source, or "" when there is none.</param>
/// <param name="Payload">The JSON needed to process the item again; it holds no secret.</param>
/// <param name="Reason">Why it was parked: the failed step and the error type, without secrets.</param>
/// <param name="ParkedAt">When it was parked.</param>
public sealed record DeadLetterItem(
    string Id, string Kind, string Source, string RunId, string FindingId, string Payload, string Reason, DateTimeOffset ParkedAt)
{
    /// <summary>One of <see cref="DeadLetterStatuses"/>.</summary>
    public string Status { get; init; } = DeadLetterStatuses.Parked;

    /// <summary>How many replays were tried.</summary>
    public int ReplayCount { get; init; }

    /// <summary>When the last replay was tried; null before the first.</summary>
    public DateTimeOffset? LastReplayAt { get; init; }

    /// <summary>Why the last replay failed; null when it succeeded or none was tried.</summary>
    public string? LastReplayError { get; init; }

    /// <summary>Returns a new id that starts with the time (UTC, 100 ns resolution), so ids sort oldest first.</summary>
    public static string NewId(DateTimeOffset at) => $"dl-{at.UtcDateTime:yyyyMMddHHmmssfffffff}-{Guid.NewGuid():N}"[..44];
}

/// <summary>The kinds of dead letter.</summary>
public static class DeadLetterKinds
{
    /// <summary>A run the intake accepted but could not start; the payload is the run's <c>RemediationRequest</c>.</summary>
    public const string Run = "run";

    /// <summary>A Logic Apps callback that was not delivered; the payload names the callback subscription.</summary>
    public const string Callback = "callback";
}

/// <summary>The states of a dead letter.</summary>
public static class DeadLetterStatuses
{
    public const string Parked = "parked";
    public const string Replayed = "replayed";
}

/// <summary>Keeps dead letters, lists them and records replays.</summary>
public interface IDeadLetterStore
{
    /// <summary>Stores a dead letter; returns only when it is durable.</summary>
    Task ParkAsync(DeadLetterItem letter, CancellationToken cancellationToken);

    /// <summary>Returns the dead letters in a status (null for all), oldest first, at most <paramref name="max"/>.</summary>
    Task<IReadOnlyList<DeadLetterItem>> ListAsync(string? status, int max, CancellationToken cancellationToken);

    /// <summary>Returns one dead letter, or null when the id is unknown.</summary>
    Task<DeadLetterItem?> GetAsync(string id, CancellationToken cancellationToken);

    /// <summary>Records a replay: replayed when <paramref name="error"/> is null, still parked with the error otherwise.</summary>
    Task RecordReplayAsync(string id, DateTimeOffset at, string? error, CancellationToken cancellationToken);
}
