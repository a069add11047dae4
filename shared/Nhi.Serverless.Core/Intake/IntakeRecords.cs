namespace Nhi.Serverless.Intake;

/// <summary>What the intake did with one accepted finding or request, other than starting a new run.</summary>
/// <param name="Source">The intake route, such as "securityhub" or "soar".</param>
/// <param name="DeliveryId">The id of the HTTP delivery that carried it, for correlation with logs.</param>
/// <param name="FindingId">The finding's id in its source, or "" when it had none.</param>
/// <param name="RunId">The run it maps to, for duplicates and parked findings; null for skipped ones.</param>
/// <param name="Outcome">One of <see cref="IntakeOutcomes"/>.</param>
/// <param name="Reason">Why, without field values from the body.</param>
/// <param name="At">When the intake decided.</param>
public sealed record IntakeRecord(
    string Source, string DeliveryId, string FindingId, string? RunId, string Outcome, string Reason, DateTimeOffset At);

/// <summary>The outcomes an <see cref="IntakeRecord"/> can state.</summary>
public static class IntakeOutcomes
{
    /// <summary>Read and acknowledged, but no run is needed, such as a PASSED finding.</summary>
    public const string Skipped = "skipped";

    /// <summary>A redelivery of a finding version, or a repeated start of a run id, that already has a run.</summary>
    public const string Duplicate = "duplicate";

    /// <summary>Accepted, but the run could not be started, so the request waits in the dead-letter store.</summary>
    public const string Parked = "parked";

    /// <summary>A run that the caller cancelled.</summary>
    public const string Cancelled = "cancelled";
}

/// <summary>The durable record of skipped, duplicate, parked and cancelled intake decisions, so none is only a log line.</summary>
public interface IIntakeJournal
{
    /// <summary>Writes the records; returns when every one is stored.</summary>
    Task RecordAsync(IReadOnlyList<IntakeRecord> records, CancellationToken cancellationToken);

    /// <summary>Returns the records written for a finding id, oldest first.</summary>
    Task<IReadOnlyList<IntakeRecord>> ListForFindingAsync(string findingId, CancellationToken cancellationToken);
}
