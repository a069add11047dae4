using System.Globalization;
using System.Text.Json.Nodes;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Audit;

/// <summary>An OCSF event class with its category.</summary>
internal readonly record struct OcsfClass(int Uid, string Name, int CategoryUid, string CategoryName)
{
    public static OcsfClass ComplianceFinding { get; } = new(2003, "Compliance Finding", 2, "Findings");

    public static OcsfClass AuthorizeSession { get; } = new(3003, "Authorize Session", 3, "Identity & Access Management");

    public static OcsfClass ApiActivity { get; } = new(6003, "API Activity", 6, "Application Activity");

    public static OcsfClass RemediationActivity { get; } = new(7001, "Remediation Activity", 7, "Remediation");
}

/// <summary>An OCSF activity: its id within the class and its name; id 99 is "Other" with a free name.</summary>
internal readonly record struct OcsfActivity(int Id, string Name);

/// <summary>OCSF status ids and the severity ids used by audit records.</summary>
internal static class Ocsf
{
    public const int StatusSuccess = 1;
    public const int StatusFailure = 2;
    public const int StatusOther = 99;

    public const int SeverityInformational = 1;
    public const int SeverityLow = 2;
    public const int SeverityMedium = 3;
    public const int SeverityHigh = 4;
    public const int SeverityCritical = 5;

    public static string StatusName(int statusId) => statusId switch
    {
        StatusSuccess => "Success",
        StatusFailure => "Failure",
        StatusOther => "Other",
        _ => "Unknown",
    };

    public static string SeverityName(int severityId) => severityId switch
    {
        SeverityInformational => "Informational",
        SeverityLow => "Low",
        SeverityMedium => "Medium",
        SeverityHigh => "High",
        SeverityCritical => "Critical",
        _ => "Unknown",
    };
}

/// <summary>What a stream of audit records is about: the run, its finding when it has one, and the resource.</summary>
/// <param name="RunId">The run id, which is also the stream id.</param>
/// <param name="FindingId">The finding the run remediates; null for a business workflow run.</param>
/// <param name="Resource">The resource or subject the run acts on.</param>
/// <param name="StartedAt">When the run's trigger was accepted; the time of records that have none of their own.</param>
/// <param name="Provider">The cloud provider of the resource, when there is one.</param>
/// <param name="Region">The region of the resource, when known.</param>
/// <param name="AccountId">The account or subscription of the resource, when known.</param>
internal sealed record AuditSubject(
    string RunId,
    string? FindingId,
    string Resource,
    DateTimeOffset StartedAt,
    string? Provider,
    string? Region,
    string? AccountId);

/// <summary>The event-specific content of one audit record, before the common envelope is added.</summary>
internal sealed record AuditEventData(
    string Event,
    DateTimeOffset? Time,
    OcsfClass Class,
    OcsfActivity Activity,
    int StatusId,
    string Message,
    JsonObject Details)
{
    public int SeverityId { get; init; } = Ocsf.SeverityInformational;

    public string? GrantId { get; init; }

    public int? Attempt { get; init; }

    /// <summary>OCSF attributes of the class, such as <c>api</c> or <c>resources</c>, added at the top level.</summary>
    public JsonObject? ClassAttributes { get; init; }
}

/// <summary>
/// Numbers a run's audit records and wraps each in the common envelope: id, stream, seq, the OCSF
/// class, activity, status, severity, time and metadata, and the <c>nhi</c> object with the run,
/// finding, grant and resource ids.
/// </summary>
internal sealed class AuditRecordStream(AuditSubject subject, AuditRedactor redactor)
{
    public AuditRecordStream(RemediationRequest request, RunResult result, AuditRedactor redactor)
        : this(
            new AuditSubject(
                result.RunId,
                result.FindingId,
                result.Resource,
                request.ReceivedAt,
                request.Finding.Resource.Provider,
                request.Finding.Resource.Region,
                request.Finding.Resource.AccountId),
            redactor)
    {
    }

    /// <summary>The OCSF schema version the records loosely follow.</summary>
    public const string OcsfVersion = "1.3.0";

    public const string ProductName = "Nhi.Serverless";

    private readonly List<JsonObject> _records = [];
    private DateTimeOffset? _lastTime;

    public IReadOnlyList<JsonObject> Records => _records;

    /// <summary>The time of the last record, or when the alert was received before any record exists.</summary>
    public DateTimeOffset LastTime => _lastTime ?? subject.StartedAt;

    public AuditRedactor Redactor => redactor;

    /// <summary>Appends a record and returns it.</summary>
    /// <exception cref="InvalidOperationException">The run already has <see cref="AuditRecordIds.MaxSeq"/> records.</exception>
    public JsonObject Append(AuditEventData data)
    {
        int seq = _records.Count + 1;
        if (seq > AuditRecordIds.MaxSeq)
        {
            throw new InvalidOperationException(
                $"Run '{subject.RunId}' produced more than {AuditRecordIds.MaxSeq} audit records, the most that a record id's four-digit sequence number can hold.");
        }

        // Record ids must sort in sequence order, so a record's id time never goes back before the
        // previous one's, even when event clocks disagree. The `time` field keeps the event's own time.
        DateTimeOffset eventTime = TruncateToMilliseconds(data.Time ?? LastTime);
        DateTimeOffset idTime = _lastTime is { } last && last > eventTime ? last : eventTime;
        _lastTime = idTime;

        string id = AuditRecordIds.Create(idTime, subject.RunId, seq);
        JsonObject record = BuildEnvelope(data, id, seq, eventTime);
        redactor.RedactStrings(record);
        _records.Add(record);
        return record;
    }

    private JsonObject BuildEnvelope(AuditEventData data, string id, int seq, DateTimeOffset eventTime)
    {
        var nhi = new JsonObject
        {
            [AuditRecordFields.Event] = data.Event,
            [AuditRecordFields.RunId] = subject.RunId,
        };
        if (subject.FindingId is not null)
        {
            nhi[AuditRecordFields.FindingId] = subject.FindingId;
        }

        nhi[AuditRecordFields.Resource] = subject.Resource;

        if (data.GrantId is not null)
        {
            nhi[AuditRecordFields.GrantId] = data.GrantId;
        }

        if (data.Attempt is { } attempt)
        {
            nhi["attempt"] = attempt;
        }

        foreach ((string name, JsonNode? value) in data.Details.ToList())
        {
            data.Details.Remove(name);
            nhi[name] = value;
        }

        var record = new JsonObject
        {
            [AuditRecordFields.Id] = id,
            [AuditRecordFields.Stream] = subject.RunId,
            [AuditRecordFields.Seq] = seq,
            ["class_uid"] = data.Class.Uid,
            ["class_name"] = data.Class.Name,
            ["category_uid"] = data.Class.CategoryUid,
            ["category_name"] = data.Class.CategoryName,
            ["activity_id"] = data.Activity.Id,
            ["activity_name"] = data.Activity.Name,
            ["type_uid"] = (data.Class.Uid * 100) + data.Activity.Id,
            ["status_id"] = data.StatusId,
            ["status"] = Ocsf.StatusName(data.StatusId),
            ["severity_id"] = data.SeverityId,
            ["severity"] = Ocsf.SeverityName(data.SeverityId),
            [AuditRecordFields.Time] = eventTime.ToUnixTimeMilliseconds(),
            ["time_dt"] = FormatTime(eventTime),
            ["message"] = data.Message,
            ["metadata"] = new JsonObject
            {
                ["version"] = OcsfVersion,
                ["uid"] = id,
                ["correlation_uid"] = subject.RunId,
                ["log_name"] = "audit",
                ["product"] = new JsonObject { ["name"] = ProductName, ["vendor_name"] = ProductName },
            },
            ["cloud"] = new JsonObject
            {
                ["provider"] = subject.Provider,
                ["region"] = subject.Region,
                ["account"] = new JsonObject { ["uid"] = subject.AccountId },
            },
            [AuditRecordFields.Nhi] = nhi,
        };

        if (data.ClassAttributes is { } attributes)
        {
            foreach ((string name, JsonNode? value) in attributes.ToList())
            {
                attributes.Remove(name);
                record[name] = value;
            }
        }

        return record;
    }

    /// <summary>Formats a time as an RFC 3339 UTC string with milliseconds, such as "2025-03-01T10:15:02.123Z".</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>Formats an optional time, or returns null.</summary>
    public static JsonNode? FormatTime(DateTimeOffset? time) => time is { } value ? FormatTime(value) : null;

    private static DateTimeOffset TruncateToMilliseconds(DateTimeOffset time) =>
        DateTimeOffset.FromUnixTimeMilliseconds(time.ToUnixTimeMilliseconds());
}
