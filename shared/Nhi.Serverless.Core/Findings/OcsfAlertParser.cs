using System.Text.Json;

namespace Nhi.Serverless.Findings;

/// <summary>Reads OCSF Compliance Findings (class 2003) and Detection Findings (class 2004) about S3 buckets.</summary>
/// <remarks>
/// <para>Accepted bodies are one OCSF finding object, a JSON array of them as Prowler's
/// <c>--output-formats json-ocsf</c> writes, and the EventBridge event that Security Hub (the OCSF-based service)
/// sends with <c>detail-type</c> "Findings Imported V2" and the findings in <c>detail.findings</c>.
/// <see cref="ParseJsonLines"/> reads JSON Lines. Findings of other classes are skipped with a reason.</para>
/// <para>A finding is actionable when its compliance result is a failure (<c>compliance.status</c> Fail,
/// <c>compliance.status_id</c> 3, or, without a compliance status, <c>status_code</c> FAIL), its activity is not
/// Close, its <c>status_id</c> is not 3 Suppressed, 4 Resolved, 5 Archived or 6 Deleted, <c>cloud.provider</c> is
/// AWS, and one resource has type AWS::S3::Bucket (Security Hub) or AwsS3Bucket (Prowler). OCSF 1.1 to 1.3 define
/// status ids 1 to 4, 1.4 adds 5 Archived, and 1.6 adds 6 Deleted.</para>
/// </remarks>
public sealed class OcsfAlertParser : IJsonLinesAlertParser
{
    public const string SourceName = "ocsf";

    /// <summary>The EventBridge detail-type of OCSF findings that Security Hub created or updated.</summary>
    public const string FindingsImportedV2 = "Findings Imported V2";

    public const long ComplianceFindingClass = 2003;

    public const long DetectionFindingClass = 2004;

    private const long FailedComplianceStatusId = 3;
    private const long CloseActivityId = 3;

    private static readonly string[] BucketResourceTypes = ["AWS::S3::Bucket", SecurityHubAlertParser.BucketResourceType];
    private static readonly string[] ComplianceStatuses = ["Pass", "Warning", "Fail", "Unknown", "Other"];
    private static readonly string[] StatusCodes = ["PASS", "FAIL", "MANUAL", "MUTED"];
    private static readonly string[] FindingStatuses = ["Unknown", "New", "In Progress", "Suppressed", "Resolved", "Archived", "Deleted", "Other"];
    private static readonly string[] ClosedFindingStatuses = ["Suppressed", "Resolved", "Archived", "Deleted"];
    private static readonly string[] ActivityNames = ["Unknown", "Create", "Update", "Close", "Other"];
    private static readonly string[] Providers = ["AWS", "Azure", "GCP", "Kubernetes", "M365", "GitHub", "OCI"];
    private static readonly string[] SeverityNames = ["Informational", "Low", "Medium", "High", "Critical", "Fatal"];

    public string Source => SourceName;

    /// <inheritdoc />
    public AlertParseResult Parse(JsonElement body)
    {
        var actionable = new List<Finding>();
        var skipped = new List<SkippedFinding>();

        switch (body.ValueKind)
        {
            case JsonValueKind.Array:
                ReadFindings(body, AlertJson.Root, actionable, skipped);
                break;
            case JsonValueKind.Object when AlertJson.Has(body, "detail-type") || AlertJson.Has(body, "detail"):
                ReadEventBridgeEvent(body, actionable, skipped);
                break;
            case JsonValueKind.Object:
                ReadFinding(body, AlertJson.Root, actionable, skipped);
                break;
            default:
                throw new InvalidAlertException(AlertJson.Root, "must be an OCSF finding object, a JSON array of them or an EventBridge event");
        }

        return new AlertParseResult(actionable, skipped);
    }

    /// <summary>Parses JSON Lines text with one OCSF finding object per line, ignoring blank lines.</summary>
    /// <remarks>Fields are named from their line, counted from 1, such as "line 3.finding_info.uid".</remarks>
    /// <exception cref="InvalidAlertException">A line is not one complete JSON object, or a finding is malformed.</exception>
    public AlertParseResult ParseJsonLines(string text)
    {
        ArgumentNullException.ThrowIfNull(text);

        var actionable = new List<Finding>();
        var skipped = new List<SkippedFinding>();

        var lines = text.Split('\n');
        for (var index = 0; index < lines.Length; index++)
        {
            var line = lines[index].TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var path = $"line {index + 1}";
            AlertJson.ReadDocument(line, path, root =>
            {
                ReadFinding(root, path, actionable, skipped);
                return true;
            });
        }

        return new AlertParseResult(actionable, skipped);
    }

    private static void ReadEventBridgeEvent(JsonElement body, List<Finding> actionable, List<SkippedFinding> skipped)
    {
        var detailType = AlertJson.RequiredString(body, "detail-type", AlertJson.Root);
        if (detailType != FindingsImportedV2)
        {
            throw new InvalidAlertException("detail-type", DetailTypeExpected(detailType));
        }

        var detail = AlertJson.RequiredObject(body, "detail", AlertJson.Root);
        var findings = AlertJson.RequiredArray(detail, "findings", "detail");
        ReadFindings(findings, "detail.findings", actionable, skipped);
    }

    private static string DetailTypeExpected(string detailType)
    {
        var expected = $"must be \"{FindingsImportedV2}\"";
        if (detailType is SecurityHubAlertParser.FindingsImported or SecurityHubAlertParser.FindingsCustomAction)
        {
            return $"{expected}; Security Hub CSPM events carry ASFF findings, which the {SecurityHubAlertParser.SourceName} parser reads";
        }

        return expected;
    }

    private static void ReadFindings(JsonElement findings, string path, List<Finding> actionable, List<SkippedFinding> skipped)
    {
        var index = 0;
        foreach (var finding in findings.EnumerateArray())
        {
            ReadFinding(finding, AlertJson.Index(path, index), actionable, skipped);
            index++;
        }
    }

    private static void ReadFinding(JsonElement finding, string path, List<Finding> actionable, List<SkippedFinding> skipped)
    {
        if (finding.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidAlertException(path, "must be a JSON object holding one OCSF finding");
        }

        var classUid = AlertJson.OptionalInteger(finding, "class_uid", path)
            ?? throw new InvalidAlertException(
                AlertJson.Join(path, "class_uid"),
                "is missing; an OCSF class id such as 2003 (Compliance Finding) or 2004 (Detection Finding) is required");
        if (classUid is not (ComplianceFindingClass or DetectionFindingClass))
        {
            var reason = $"class_uid is {classUid}; only 2003 (Compliance Finding) and 2004 (Detection Finding) are acted on";
            skipped.Add(new SkippedFinding(IdOfOtherClass(finding), reason));
            return;
        }

        var findingInfoPath = AlertJson.Join(path, "finding_info");
        var findingInfo = AlertJson.RequiredObject(finding, "finding_info", path);
        var id = AlertJson.RequiredString(findingInfo, "uid", findingInfoPath);
        var title = AlertJson.OptionalString(findingInfo, "title", findingInfoPath) ?? "";
        var updatedAt = ReadUpdatedAt(finding, path, findingInfo, findingInfoPath);
        var productName = ReadProductName(finding, path);
        var controlId = ReadControlId(finding, path);
        var severity = ReadSeverity(finding, path);
        var status = ReadStatus(finding, path);

        var cloud = AlertJson.OptionalObject(finding, "cloud", path);
        var cloudPath = AlertJson.Join(path, "cloud");
        var provider = cloud is { } cloudObject ? AlertJson.OptionalString(cloudObject, "provider", cloudPath) : null;
        if (provider is not null && !string.Equals(provider, "aws", StringComparison.OrdinalIgnoreCase))
        {
            var reason = $"{SkipReasons.Describe("cloud.provider", provider, Providers)}; only AWS S3 buckets are acted on";
            skipped.Add(new SkippedFinding(id, reason));
            return;
        }

        var accountId = ReadAccountId(finding, path, cloud, cloudPath);
        var bucket = ReadBucket(finding, path, accountId, cloud, cloudPath);

        var skipReason = SkipReason(status, bucket);
        if (skipReason is not null)
        {
            skipped.Add(new SkippedFinding(id, skipReason));
            return;
        }

        var state = new FindingStatus(status.ComplianceText, status.WorkflowText, status.ActivityText);
        actionable.Add(new Finding(id, FindingFormats.Ocsf, productName, controlId, title, severity, updatedAt, state, bucket!));
    }

    /// <summary>Returns finding_info.uid of a finding of another class, or "" when it has none, without throwing.</summary>
    private static string IdOfOtherClass(JsonElement finding)
    {
        if (AlertJson.Property(finding, "finding_info") is not { } findingInfo)
        {
            return "";
        }

        return AlertJson.Property(findingInfo, "uid") is { ValueKind: JsonValueKind.String } uid
            ? AlertJson.Limited(uid.GetString()!, "finding_info.uid")
            : "";
    }

    private static string? SkipReason(OcsfStatus status, CloudResource? bucket)
    {
        if (!status.Failed)
        {
            return $"{status.ComplianceReason}; only failed findings are acted on";
        }

        if (status.ClosedByActivity)
        {
            return $"{status.ActivityReason}; closed findings are not acted on";
        }

        if (status.ClosedByStatus)
        {
            return $"{status.WorkflowReason}; Suppressed, Resolved, Archived and Deleted findings are not acted on";
        }

        if (bucket is null)
        {
            return "resources has no resource of type AWS::S3::Bucket or AwsS3Bucket; only S3 buckets are acted on";
        }

        return null;
    }

    /// <summary>Reads finding_info.modified_time_dt, finding_info.modified_time, time_dt, then time.</summary>
    private static DateTimeOffset ReadUpdatedAt(JsonElement finding, string path, JsonElement findingInfo, string findingInfoPath)
    {
        if (TryReadTime(findingInfo, findingInfoPath, "modified_time_dt", "modified_time", out var modified))
        {
            return modified;
        }

        if (TryReadTime(finding, path, "time_dt", "time", out var time))
        {
            return time;
        }

        throw new InvalidAlertException(
            AlertJson.Join(path, "time"),
            "is missing; finding_info.modified_time_dt, finding_info.modified_time, time_dt or time is required");
    }

    /// <summary>Reads a date-time string and its epoch twin, taking the instant from the epoch when the string has no offset.</summary>
    /// <remarks>Prowler's command line (checked at version 5.40.0) writes <c>time_dt</c> as local time without an
    /// offset, and <c>time</c> as epoch seconds of the same instant.</remarks>
    private static bool TryReadTime(JsonElement owner, string ownerPath, string dateTimeName, string epochName, out DateTimeOffset value)
    {
        value = default;

        var dateTime = AlertJson.OptionalString(owner, dateTimeName, ownerPath);
        var epoch = AlertJson.OptionalInteger(owner, epochName, ownerPath);

        if (dateTime is not null)
        {
            var form = AlertTimestamps.TryParseRfc3339(dateTime, out value);
            if (form == AlertTimestamps.DateTimeForm.WithOffset)
            {
                return true;
            }

            if (form == AlertTimestamps.DateTimeForm.Invalid || epoch is null)
            {
                throw new InvalidAlertException(AlertJson.Join(ownerPath, dateTimeName), AlertTimestamps.Rfc3339Expected);
            }
        }

        if (epoch is null)
        {
            return false;
        }

        if (!AlertTimestamps.TryFromEpoch(epoch.Value, out value))
        {
            throw new InvalidAlertException(
                AlertJson.Join(ownerPath, epochName),
                "must be a positive Unix time in milliseconds (or seconds, as Prowler writes) before the year 10000");
        }

        return true;
    }

    private static string ReadProductName(JsonElement finding, string path)
    {
        var metadataPath = AlertJson.Join(path, "metadata");
        if (AlertJson.OptionalObject(finding, "metadata", path) is not { } metadata)
        {
            return "";
        }

        var productPath = AlertJson.Join(metadataPath, "product");
        if (AlertJson.OptionalObject(metadata, "product", metadataPath) is not { } product)
        {
            return "";
        }

        return AlertJson.OptionalString(product, "name", productPath) ?? "";
    }

    /// <summary>Reads compliance.control (Security Hub), then metadata.event_code (Prowler's check id).</summary>
    private static string? ReadControlId(JsonElement finding, string path)
    {
        if (AlertJson.OptionalObject(finding, "compliance", path) is { } compliance)
        {
            var control = AlertJson.OptionalString(compliance, "control", AlertJson.Join(path, "compliance"));
            if (!string.IsNullOrEmpty(control))
            {
                return control;
            }
        }

        if (AlertJson.OptionalObject(finding, "metadata", path) is { } metadata)
        {
            var eventCode = AlertJson.OptionalString(metadata, "event_code", AlertJson.Join(path, "metadata"));
            if (!string.IsNullOrEmpty(eventCode))
            {
                return eventCode;
            }
        }

        return null;
    }

    /// <summary>Maps severity_id, or the severity caption when the id is missing, 0 (Unknown) or 99 (Other).</summary>
    private static string ReadSeverity(JsonElement finding, string path)
    {
        var byId = AlertJson.OptionalInteger(finding, "severity_id", path) switch
        {
            1 => "INFORMATIONAL",
            2 => "LOW",
            3 => "MEDIUM",
            4 => "HIGH",
            5 or 6 => "CRITICAL",
            _ => null,
        };
        if (byId is not null)
        {
            return byId;
        }

        return SkipReasons.Canonical(AlertJson.OptionalString(finding, "severity", path), SeverityNames) switch
        {
            null => "UNKNOWN",
            "Fatal" => "CRITICAL",
            var name => name.ToUpperInvariant(),
        };
    }

    private static OcsfStatus ReadStatus(JsonElement finding, string path)
    {
        var (failed, complianceText, complianceReason) = ReadComplianceResult(finding, path);

        var activityId = AlertJson.OptionalInteger(finding, "activity_id", path);
        var activityName = AlertJson.OptionalString(finding, "activity_name", path);
        var activityText = ActivityCaption(activityId) ?? SkipReasons.Canonical(activityName, ActivityNames) ?? "";
        var closedByActivity = activityId == CloseActivityId || (activityId is null && activityText == "Close");
        var activityReason = activityId is not null
            ? $"activity_id is {activityId} ({activityText})"
            : SkipReasons.Describe("activity_name", activityName, ActivityNames);

        var statusId = AlertJson.OptionalInteger(finding, "status_id", path);
        var statusName = AlertJson.OptionalString(finding, "status", path);
        var statusText = StatusCaption(statusId) ?? SkipReasons.Canonical(statusName, FindingStatuses) ?? "";
        var closedById = statusId is >= 3 and <= 6;
        var closedByName = SkipReasons.Canonical(statusName, ClosedFindingStatuses) is not null;
        var workflowReason = closedById
            ? $"status_id is {statusId} ({statusText})"
            : SkipReasons.Describe("status", statusName, FindingStatuses);

        return new OcsfStatus(
            failed,
            complianceText,
            complianceReason,
            closedByActivity,
            activityText,
            activityReason,
            closedById || closedByName,
            statusText,
            workflowReason);
    }

    /// <summary>Reads compliance.status or compliance.status_id when present, otherwise status_code.</summary>
    private static (bool Failed, string Text, string Reason) ReadComplianceResult(JsonElement finding, string path)
    {
        if (AlertJson.OptionalObject(finding, "compliance", path) is { } compliance)
        {
            var compliancePath = AlertJson.Join(path, "compliance");
            var status = AlertJson.OptionalString(compliance, "status", compliancePath);
            var statusId = AlertJson.OptionalInteger(compliance, "status_id", compliancePath);

            if (status is not null)
            {
                var canonical = SkipReasons.Canonical(status, ComplianceStatuses);
                return (canonical == "Fail", canonical ?? "", SkipReasons.Describe("compliance.status", status, ComplianceStatuses));
            }

            if (statusId is not null)
            {
                var caption = ComplianceCaption(statusId.Value);
                return (statusId == FailedComplianceStatusId, caption, $"compliance.status_id is {statusId} ({caption})");
            }
        }

        var statusCode = AlertJson.OptionalString(finding, "status_code", path);
        var code = SkipReasons.Canonical(statusCode, StatusCodes);
        return (code == "FAIL", code ?? "", SkipReasons.Describe("status_code", statusCode, StatusCodes));
    }

    private static string ComplianceCaption(long statusId) => statusId switch
    {
        1 => "Pass",
        2 => "Warning",
        3 => "Fail",
        99 => "Other",
        _ => "Unknown",
    };

    private static string? ActivityCaption(long? activityId) => activityId switch
    {
        null => null,
        1 => "Create",
        2 => "Update",
        3 => "Close",
        99 => "Other",
        _ => "Unknown",
    };

    private static string? StatusCaption(long? statusId) => statusId switch
    {
        null => null,
        1 => "New",
        2 => "In Progress",
        3 => "Suppressed",
        4 => "Resolved",
        5 => "Archived",
        6 => "Deleted",
        99 => "Other",
        _ => "Unknown",
    };

    /// <summary>Reads the first S3 bucket in resources, or returns null when there is none.</summary>
    private static CloudResource? ReadBucket(
        JsonElement finding,
        string path,
        AlertField accountId,
        JsonElement? cloud,
        string cloudPath)
    {
        if (AlertJson.OptionalArray(finding, "resources", path) is not { } resources)
        {
            return null;
        }

        var resourcesPath = AlertJson.Join(path, "resources");
        var index = 0;
        foreach (var resource in resources.EnumerateArray())
        {
            var resourcePath = AlertJson.Index(resourcesPath, index);
            index++;

            if (resource.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidAlertException(resourcePath, "must be a JSON object");
            }

            var type = AlertJson.OptionalString(resource, "type", resourcePath);
            if (type is not null && BucketResourceTypes.Contains(type))
            {
                return ReadBucketResource(resource, resourcePath, accountId, cloud, cloudPath);
            }
        }

        return null;
    }

    /// <summary>Reads cloud.account.uid, falling back to the owner account of the first resource.</summary>
    private static AlertField ReadAccountId(JsonElement finding, string path, JsonElement? cloud, string cloudPath)
    {
        AlertField? account = null;
        if (cloud is { } cloudObject && AlertJson.OptionalObject(cloudObject, "account", cloudPath) is { } accountObject)
        {
            var accountPath = AlertJson.Join(cloudPath, "account");
            if (AlertJson.OptionalString(accountObject, "uid", accountPath) is { } uid)
            {
                account = new AlertField(uid, AlertJson.Join(accountPath, "uid"));
            }
        }

        account ??= OwnerAccountOfFirstResource(finding, path);
        if (account is not { } found)
        {
            throw new InvalidAlertException(
                AlertJson.Join(cloudPath, "account.uid"),
                "is missing; cloud.account.uid or resources[0].owner.account.uid is required");
        }

        if (!AwsIdentifiers.IsAccountId(found.Value))
        {
            throw new InvalidAlertException(found.Path, AwsIdentifiers.AccountIdExpected);
        }

        return found;
    }

    private static AlertField? OwnerAccountOfFirstResource(JsonElement finding, string path)
    {
        if (AlertJson.OptionalArray(finding, "resources", path) is not { } resources || resources.GetArrayLength() == 0)
        {
            return null;
        }

        var resourcePath = AlertJson.Index(AlertJson.Join(path, "resources"), 0);
        var resource = resources[0];
        if (resource.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidAlertException(resourcePath, "must be a JSON object");
        }

        return OwnerAccount(resource, resourcePath);
    }

    private static AlertField? OwnerAccount(JsonElement resource, string resourcePath)
    {
        var ownerPath = AlertJson.Join(resourcePath, "owner");
        if (AlertJson.OptionalObject(resource, "owner", resourcePath) is not { } owner)
        {
            return null;
        }

        var accountPath = AlertJson.Join(ownerPath, "account");
        if (AlertJson.OptionalObject(owner, "account", ownerPath) is not { } account)
        {
            return null;
        }

        var uid = AlertJson.OptionalString(account, "uid", accountPath);
        return uid is null ? null : new AlertField(uid, AlertJson.Join(accountPath, "uid"));
    }

    private static CloudResource ReadBucketResource(
        JsonElement resource,
        string resourcePath,
        AlertField accountId,
        JsonElement? cloud,
        string cloudPath)
    {
        // The bucket's owner account, when given, must be the account the finding names, so that a grant is never
        // requested in an account the finding does not name.
        if (OwnerAccount(resource, resourcePath) is { } owner && owner.Value != accountId.Value)
        {
            throw new InvalidAlertException(owner.Path, $"must match {accountId.Path}");
        }

        // Security Hub can put the bucket name in uid and the ARN in uid_alt, while Prowler puts the ARN in uid.
        AlertField? arn = null;
        var names = new List<AlertField>();
        foreach (var field in new[] { "uid", "uid_alt" })
        {
            var value = AlertJson.OptionalString(resource, field, resourcePath);
            if (value is null)
            {
                continue;
            }

            var candidate = new AlertField(value, AlertJson.Join(resourcePath, field));
            if (!value.StartsWith("arn:", StringComparison.Ordinal))
            {
                if (field == "uid")
                {
                    names.Add(candidate);
                }
            }
            else if (arn is null)
            {
                arn = candidate;
            }
            else if (arn.Value.Value != value)
            {
                throw new InvalidAlertException(candidate.Path, $"must match {arn.Value.Path}");
            }
        }

        if (AlertJson.OptionalString(resource, "name", resourcePath) is { } name)
        {
            names.Add(new AlertField(name, AlertJson.Join(resourcePath, "name")));
        }

        var partition = ReadField(resource, resourcePath, "cloud_partition") ?? ReadCloudField(cloud, cloudPath, "cloud_partition");
        var bucket = S3BucketIdentity.Resolve(arn, names, partition, "aws", AlertJson.Join(resourcePath, "uid"));

        var region = ReadField(resource, resourcePath, "region") ?? ReadCloudField(cloud, cloudPath, "region")
            ?? throw new InvalidAlertException(
                AlertJson.Join(resourcePath, "region"),
                $"is missing; {resourcePath}.region or cloud.region is required");
        if (!AwsIdentifiers.IsRegion(region.Value))
        {
            throw new InvalidAlertException(region.Path, AwsIdentifiers.RegionExpected);
        }

        return new CloudResource(
            "aws",
            bucket.Partition,
            accountId.Value,
            region.Value,
            SecurityHubAlertParser.BucketResourceType,
            bucket.Arn,
            bucket.Name)
        {
            Tags = ReadTags(resource, resourcePath),
        };
    }

    // OCSF resources[].tags: an array of key_value_object ({"name", "value"}), at most 50.
    private static IReadOnlyDictionary<string, string>? ReadTags(JsonElement resource, string resourcePath)
    {
        if (AlertJson.OptionalArray(resource, "tags", resourcePath) is not { } tags)
        {
            return null;
        }

        string tagsPath = AlertJson.Join(resourcePath, "tags");
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        int index = 0;
        foreach (JsonElement tag in tags.EnumerateArray())
        {
            string tagPath = $"{tagsPath}[{index++}]";
            if (tag.ValueKind != JsonValueKind.Object || values.Count == 50)
            {
                throw new InvalidAlertException(tagPath, "must be an object with name and value, in at most 50 tags");
            }

            string name = AlertJson.OptionalString(tag, "name", tagPath) ?? throw new InvalidAlertException(AlertJson.Join(tagPath, "name"), "is missing");
            values[name] = AlertJson.OptionalString(tag, "value", tagPath) ?? "";
        }

        return values;
    }

    private static AlertField? ReadField(JsonElement owner, string ownerPath, string name)
    {
        var value = AlertJson.OptionalString(owner, name, ownerPath);
        return string.IsNullOrEmpty(value) ? null : new AlertField(value, AlertJson.Join(ownerPath, name));
    }

    private static AlertField? ReadCloudField(JsonElement? cloud, string cloudPath, string name) =>
        cloud is { } cloudObject ? ReadField(cloudObject, cloudPath, name) : null;

    /// <summary>The status fields, reduced to the three decisions and the wording that explains each.</summary>
    private sealed record OcsfStatus(
        bool Failed,
        string ComplianceText,
        string ComplianceReason,
        bool ClosedByActivity,
        string ActivityText,
        string ActivityReason,
        bool ClosedByStatus,
        string WorkflowText,
        string WorkflowReason);
}
