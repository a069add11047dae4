using System.Globalization;
using System.Text.Json.Nodes;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Grants;

/// <summary>The event names of <see cref="GrantAuditEvent"/> records, in <c>nhi.event</c>.</summary>
public static class GrantAuditEvents
{
    /// <summary>The sweeper revoked a grant that its run left open.</summary>
    public const string GrantSwept = "grant.swept";

    /// <summary>A run stopped to wait for approval before its grant is issued.</summary>
    public const string ApprovalRequested = "approval.requested";

    /// <summary>Someone approved the run, so its grant may be issued.</summary>
    public const string ApprovalGranted = "approval.granted";

    /// <summary>Someone rejected the run, or the approval timed out, so no grant is issued.</summary>
    public const string ApprovalRejected = "approval.rejected";
}

/// <summary>
/// A fact about a grant or a run that is recorded outside the run's own audit stream: a sweep, an approval
/// request or decision. Each event becomes a one-record stream named <see cref="Stream"/>. Holds no secret.
/// </summary>
/// <param name="Event">One of <see cref="GrantAuditEvents"/>.</param>
/// <param name="Stream">The stream id; the same id and time on a retry give the same record, so a retried write is a no-op.</param>
/// <param name="RunId">The run the event is about.</param>
/// <param name="GrantId">The grant, when the event is about one.</param>
/// <param name="Resource">The resource the run acts on.</param>
/// <param name="Time">When the event happened.</param>
/// <param name="Succeeded">False when the event reports a failure, such as a sweep that could not revoke.</param>
/// <param name="Message">One line saying what happened.</param>
/// <param name="Details">The event's facts as named strings, such as "approved_by" or "channel".</param>
public sealed record GrantAuditEvent(
    string Event,
    string Stream,
    string RunId,
    string? GrantId,
    string Resource,
    DateTimeOffset Time,
    bool Succeeded,
    string Message,
    IReadOnlyDictionary<string, string?> Details)
{
    /// <summary>The OCSF class of the "Authorize Session" events this project writes for grants.</summary>
    private const int AuthorizeSessionClass = 3003;

    /// <summary>
    /// Builds the unsigned record, shaped like the run records: OCSF class 3003 (Authorize Session) with the
    /// project's facts under <c>nhi</c>. Its <c>nhi.run_id</c> is the stream id, so the record is not listed
    /// among the run's own records and the run's chain stays whole; <c>nhi.subject_run_id</c> names the run.
    /// </summary>
    public JsonObject ToRecord(AuditRedactor redactor)
    {
        ArgumentNullException.ThrowIfNull(redactor);

        DateTimeOffset time = DateTimeOffset.FromUnixTimeMilliseconds(Time.ToUnixTimeMilliseconds());
        string id = AuditRecordIds.Create(time, Stream, 1);
        var nhi = new JsonObject
        {
            [AuditRecordFields.Event] = Event,
            [AuditRecordFields.RunId] = Stream,
            ["subject_run_id"] = RunId,
            [AuditRecordFields.Resource] = Resource,
        };
        if (GrantId is not null)
        {
            nhi[AuditRecordFields.GrantId] = GrantId;
        }

        foreach ((string name, string? value) in Details.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            nhi[name] = value;
        }

        var record = new JsonObject
        {
            [AuditRecordFields.Id] = id,
            [AuditRecordFields.Stream] = Stream,
            [AuditRecordFields.Seq] = 1,
            ["class_uid"] = AuthorizeSessionClass,
            ["class_name"] = "Authorize Session",
            ["category_uid"] = 3,
            ["category_name"] = "Identity & Access Management",
            ["activity_id"] = 99,
            ["activity_name"] = Event,
            ["type_uid"] = (AuthorizeSessionClass * 100) + 99,
            ["status_id"] = Succeeded ? 1 : 2,
            ["status"] = Succeeded ? "Success" : "Failure",
            ["severity_id"] = Succeeded ? 1 : 4,
            ["severity"] = Succeeded ? "Informational" : "High",
            [AuditRecordFields.Time] = time.ToUnixTimeMilliseconds(),
            ["time_dt"] = time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            ["message"] = Message,
            ["metadata"] = new JsonObject
            {
                ["version"] = "1.3.0",
                ["uid"] = id,
                ["correlation_uid"] = RunId,
                ["log_name"] = "audit",
                ["product"] = new JsonObject { ["name"] = "Nhi.Serverless", ["vendor_name"] = "Nhi.Serverless" },
            },
            [AuditRecordFields.Nhi] = nhi,
        };

        redactor.RedactStrings(record);
        return record;
    }
}

/// <summary>Writes <see cref="GrantAuditEvent"/> records: signed, stored with the run records, and forwarded to the SIEM sinks.</summary>
public interface IGrantAuditLog
{
    /// <summary>Signs and stores the event's record; returns its id. Writing the same event again stores nothing new.</summary>
    Task<string> RecordAsync(GrantAuditEvent auditEvent, CancellationToken cancellationToken);
}
