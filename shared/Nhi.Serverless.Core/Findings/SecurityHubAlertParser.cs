using System.Text.Json;

namespace Nhi.Serverless.Findings;

/// <summary>Reads AWS Security Hub CSPM findings in ASFF from an EventBridge event or a BatchImportFindings body.</summary>
/// <remarks>
/// <para>Accepted bodies are an EventBridge event whose <c>detail-type</c> is "Security Hub Findings - Imported" or
/// "Security Hub Findings - Custom Action", with ASFF findings in <c>detail.findings</c>, and a BatchImportFindings
/// request body, <c>{"Findings": [...]}</c>. A custom action event is sent when a console user picks findings for an
/// action. Its findings pass the same checks as imported ones, so a click cannot make a PASSED or SUPPRESSED
/// finding actionable.</para>
/// <para>Rejected: "Security Hub Insight Results" events, which carry aggregated counts and no findings, and
/// "Findings Imported V2" events, which carry OCSF findings for <see cref="OcsfAlertParser"/>.</para>
/// <para>A finding is actionable when <c>Compliance.Status</c> is FAILED, <c>RecordState</c> is ACTIVE, the workflow
/// status is NEW or NOTIFIED, and one resource has type AwsS3Bucket. Any other finding is skipped with a reason.</para>
/// </remarks>
public sealed class SecurityHubAlertParser : IAlertParser
{
    public const string SourceName = "securityhub";

    /// <summary>The EventBridge detail-type of findings that Security Hub CSPM created or updated.</summary>
    public const string FindingsImported = "Security Hub Findings - Imported";

    /// <summary>The EventBridge detail-type of findings a user sent to a Security Hub custom action.</summary>
    public const string FindingsCustomAction = "Security Hub Findings - Custom Action";

    /// <summary>The EventBridge detail-type of insight results, which this parser rejects.</summary>
    public const string InsightResults = "Security Hub Insight Results";

    /// <summary>The ASFF resource type of an S3 general purpose bucket.</summary>
    public const string BucketResourceType = "AwsS3Bucket";

    private const string DefaultPartition = "aws";

    private static readonly string[] ComplianceStatuses = ["PASSED", "WARNING", "FAILED", "NOT_AVAILABLE"];
    private static readonly string[] WorkflowStatuses = ["NEW", "NOTIFIED", "SUPPRESSED", "RESOLVED"];
    private static readonly string[] RecordStates = ["ACTIVE", "ARCHIVED"];
    private static readonly string[] SeverityLabels = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"];

    public string Source => SourceName;

    /// <inheritdoc />
    public AlertParseResult Parse(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidAlertException(AlertJson.Root, "must be a JSON object: an EventBridge event or a BatchImportFindings body");
        }

        var (findings, findingsPath) = LocateFindings(body);

        var actionable = new List<Finding>();
        var skipped = new List<SkippedFinding>();
        var index = 0;
        foreach (var element in findings.EnumerateArray())
        {
            ReadFinding(element, AlertJson.Index(findingsPath, index), actionable, skipped);
            index++;
        }

        return new AlertParseResult(actionable, skipped);
    }

    private static (JsonElement Findings, string Path) LocateFindings(JsonElement body)
    {
        if (AlertJson.Has(body, "detail-type") || AlertJson.Has(body, "detail"))
        {
            var detailType = AlertJson.RequiredString(body, "detail-type", AlertJson.Root);
            if (detailType is not (FindingsImported or FindingsCustomAction))
            {
                throw new InvalidAlertException("detail-type", DetailTypeExpected(detailType));
            }

            var detail = AlertJson.RequiredObject(body, "detail", AlertJson.Root);
            return (AlertJson.RequiredArray(detail, "findings", "detail"), "detail.findings");
        }

        if (AlertJson.Has(body, "Findings"))
        {
            return (AlertJson.RequiredArray(body, "Findings", AlertJson.Root), "Findings");
        }

        throw new InvalidAlertException(
            "detail",
            "is missing; an EventBridge event with detail.findings or a BatchImportFindings body with Findings is required");
    }

    private static string DetailTypeExpected(string detailType)
    {
        var expected = $"must be \"{FindingsImported}\" or \"{FindingsCustomAction}\"";
        return detailType switch
        {
            InsightResults => $"{expected}; \"{InsightResults}\" events carry aggregated counts, not findings",
            OcsfAlertParser.FindingsImportedV2 =>
                $"{expected}; \"{OcsfAlertParser.FindingsImportedV2}\" events carry OCSF findings, which the {OcsfAlertParser.SourceName} parser reads",
            _ => expected,
        };
    }

    private static void ReadFinding(JsonElement finding, string path, List<Finding> actionable, List<SkippedFinding> skipped)
    {
        if (finding.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidAlertException(path, "must be a JSON object holding one ASFF finding");
        }

        var id = AlertJson.RequiredString(finding, "Id", path);
        var updatedAt = ReadUpdatedAt(finding, path);
        var accountId = ReadAccountId(finding, path);
        var title = AlertJson.RequiredString(finding, "Title", path);
        var productName = ReadProductName(finding, path);
        var controlId = ReadControlId(finding, path);
        var severity = ReadSeverity(finding, path);
        var status = ReadStatus(finding, path);
        var bucket = ReadBucket(finding, path, accountId);

        var skipReason = SkipReason(status, bucket);
        if (skipReason is not null)
        {
            skipped.Add(new SkippedFinding(id, skipReason));
            return;
        }

        var state = new FindingStatus(status.Compliance!, status.Workflow!, status.Record!);
        actionable.Add(new Finding(id, FindingFormats.Asff, productName, controlId, title, severity, updatedAt, state, bucket!));
    }

    private static string? SkipReason(AsffStatus status, CloudResource? bucket)
    {
        if (status.Compliance != "FAILED")
        {
            return $"{SkipReasons.Describe("Compliance.Status", status.RawCompliance, ComplianceStatuses)}; only FAILED findings are acted on";
        }

        if (status.Record != "ACTIVE")
        {
            return $"{SkipReasons.Describe("RecordState", status.RawRecord, RecordStates)}; only ACTIVE findings are acted on";
        }

        if (status.Workflow is not ("NEW" or "NOTIFIED"))
        {
            return $"{SkipReasons.Describe(status.WorkflowField, status.RawWorkflow, WorkflowStatuses)}; only NEW and NOTIFIED findings are acted on";
        }

        if (bucket is null)
        {
            return $"Resources has no resource of type {BucketResourceType}; only S3 buckets are acted on";
        }

        return null;
    }

    private static DateTimeOffset ReadUpdatedAt(JsonElement finding, string path)
    {
        var text = AlertJson.RequiredString(finding, "UpdatedAt", path);
        if (AlertTimestamps.TryParseRfc3339(text, out var updatedAt) != AlertTimestamps.DateTimeForm.WithOffset)
        {
            throw new InvalidAlertException(AlertJson.Join(path, "UpdatedAt"), AlertTimestamps.Rfc3339Expected);
        }

        return updatedAt;
    }

    private static string ReadAccountId(JsonElement finding, string path)
    {
        var accountId = AlertJson.RequiredString(finding, "AwsAccountId", path);
        if (!AwsIdentifiers.IsAccountId(accountId))
        {
            throw new InvalidAlertException(AlertJson.Join(path, "AwsAccountId"), AwsIdentifiers.AccountIdExpected);
        }

        return accountId;
    }

    private static string ReadProductName(JsonElement finding, string path)
    {
        var productName = AlertJson.OptionalString(finding, "ProductName", path);
        if (!string.IsNullOrEmpty(productName))
        {
            return productName;
        }

        // Security Hub fills ProductName on import, so a BatchImportFindings body may lack it. Prowler's ASFF output
        // names itself in ProductFields.ProviderName.
        var productFields = AlertJson.OptionalObject(finding, "ProductFields", path);
        if (productFields is not { } fields)
        {
            return "";
        }

        var fieldsPath = AlertJson.Join(path, "ProductFields");
        return AlertJson.FirstString(fields, fieldsPath, "aws/securityhub/ProductName", "ProviderName") ?? "";
    }

    /// <summary>Reads the control id: Compliance.SecurityControlId, then ProductFields.ControlId, then GeneratorId.</summary>
    private static string? ReadControlId(JsonElement finding, string path)
    {
        if (AlertJson.OptionalObject(finding, "Compliance", path) is { } compliance)
        {
            var securityControlId = AlertJson.OptionalString(compliance, "SecurityControlId", AlertJson.Join(path, "Compliance"));
            if (!string.IsNullOrEmpty(securityControlId))
            {
                return securityControlId;
            }
        }

        // Per-standard control findings, made before consolidated control findings existed, can name it in ProductFields.
        if (AlertJson.OptionalObject(finding, "ProductFields", path) is { } productFields)
        {
            var controlId = AlertJson.OptionalString(productFields, "ControlId", AlertJson.Join(path, "ProductFields"));
            if (!string.IsNullOrEmpty(controlId))
            {
                return controlId;
            }
        }

        var generatorId = AlertJson.OptionalString(finding, "GeneratorId", path);
        return string.IsNullOrEmpty(generatorId) ? null : ControlIdFromGeneratorId(generatorId);
    }

    /// <summary>Strips the parts of a GeneratorId that wrap a control or check id.</summary>
    /// <remarks>Consolidated control findings use "security-control/S3.2", per-standard findings use
    /// "aws-foundational-security-best-practices/v/1.0.0/S3.2", and Prowler's ASFF output uses "prowler-CHECK_ID".</remarks>
    private static string ControlIdFromGeneratorId(string generatorId)
    {
        const string securityControlPrefix = "security-control/";
        const string prowlerPrefix = "prowler-";

        if (generatorId.StartsWith(securityControlPrefix, StringComparison.Ordinal))
        {
            return generatorId[securityControlPrefix.Length..];
        }

        if (generatorId.StartsWith(prowlerPrefix, StringComparison.Ordinal))
        {
            return generatorId[prowlerPrefix.Length..];
        }

        if (generatorId.Contains("/v/", StringComparison.Ordinal))
        {
            return generatorId[(generatorId.LastIndexOf('/') + 1)..];
        }

        return generatorId;
    }

    /// <summary>Reads Severity.Label, or maps Severity.Normalized with the ranges in the Security Hub API reference (Severity).</summary>
    private static string ReadSeverity(JsonElement finding, string path)
    {
        if (AlertJson.OptionalObject(finding, "Severity", path) is not { } severity)
        {
            return "UNKNOWN";
        }

        var severityPath = AlertJson.Join(path, "Severity");
        var label = SkipReasons.Canonical(AlertJson.OptionalString(severity, "Label", severityPath), SeverityLabels);
        if (label is not null)
        {
            return label;
        }

        return AlertJson.OptionalInteger(severity, "Normalized", severityPath) switch
        {
            0 => "INFORMATIONAL",
            >= 1 and <= 39 => "LOW",
            >= 40 and <= 69 => "MEDIUM",
            >= 70 and <= 89 => "HIGH",
            >= 90 and <= 100 => "CRITICAL",
            _ => "UNKNOWN",
        };
    }

    private static AsffStatus ReadStatus(JsonElement finding, string path)
    {
        string? compliance = null;
        if (AlertJson.OptionalObject(finding, "Compliance", path) is { } complianceObject)
        {
            compliance = AlertJson.OptionalString(complianceObject, "Status", AlertJson.Join(path, "Compliance"));
        }

        // WorkflowState is the deprecated predecessor of Workflow.Status. Security Hub sets NEW when a provider sends neither.
        var workflowField = "Workflow.Status";
        string? workflow = null;
        if (AlertJson.OptionalObject(finding, "Workflow", path) is { } workflowObject)
        {
            workflow = AlertJson.OptionalString(workflowObject, "Status", AlertJson.Join(path, "Workflow"));
        }

        if (workflow is null && AlertJson.OptionalString(finding, "WorkflowState", path) is { } workflowState)
        {
            workflowField = "WorkflowState";
            workflow = workflowState;
        }

        // Security Hub sets RecordState to ACTIVE when a provider does not send it.
        var record = AlertJson.OptionalString(finding, "RecordState", path);

        return new AsffStatus(
            compliance,
            SkipReasons.Canonical(compliance, ComplianceStatuses),
            workflowField,
            workflow,
            SkipReasons.Canonical(workflow ?? "NEW", WorkflowStatuses),
            record,
            SkipReasons.Canonical(record ?? "ACTIVE", RecordStates));
    }

    /// <summary>Reads the first resource of type AwsS3Bucket, or returns null when there is none.</summary>
    private static CloudResource? ReadBucket(JsonElement finding, string path, string accountId)
    {
        var resources = AlertJson.RequiredArray(finding, "Resources", path);
        var resourcesPath = AlertJson.Join(path, "Resources");

        var index = 0;
        foreach (var resource in resources.EnumerateArray())
        {
            var resourcePath = AlertJson.Index(resourcesPath, index);
            index++;

            if (resource.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidAlertException(resourcePath, "must be a JSON object");
            }

            var type = AlertJson.RequiredString(resource, "Type", resourcePath);
            if (type == BucketResourceType)
            {
                return ReadBucketResource(finding, path, resource, resourcePath, accountId);
            }
        }

        return null;
    }

    private static CloudResource ReadBucketResource(
        JsonElement finding,
        string path,
        JsonElement resource,
        string resourcePath,
        string accountId)
    {
        var idPath = AlertJson.Join(resourcePath, "Id");
        var id = AlertJson.RequiredString(resource, "Id", resourcePath);

        var names = new List<AlertField>();
        AlertField? arn = null;
        if (id.StartsWith("arn:", StringComparison.Ordinal))
        {
            arn = new AlertField(id, idPath);
        }
        else
        {
            names.Add(new AlertField(id, idPath));
        }

        var detailsName = ReadDetailsName(resource, resourcePath);
        if (detailsName is not null)
        {
            names.Add(detailsName.Value);
        }

        AlertField? partition = null;
        if (AlertJson.OptionalString(resource, "Partition", resourcePath) is { } partitionValue)
        {
            partition = new AlertField(partitionValue, AlertJson.Join(resourcePath, "Partition"));
        }

        var bucket = S3BucketIdentity.Resolve(arn, names, partition, DefaultPartitionOf(finding, path), idPath);
        var region = ReadRegion(finding, path, resource, resourcePath);

        return new CloudResource("aws", bucket.Partition, accountId, region, BucketResourceType, bucket.Arn, bucket.Name)
        {
            Tags = ReadTags(resource, resourcePath),
        };
    }

    // ASFF Resources[].Tags: an object of string values, at most 50 tags (AWS's limit per resource).
    private static IReadOnlyDictionary<string, string>? ReadTags(JsonElement resource, string resourcePath)
    {
        if (AlertJson.OptionalObject(resource, "Tags", resourcePath) is not { } tags)
        {
            return null;
        }

        string tagsPath = AlertJson.Join(resourcePath, "Tags");
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty tag in tags.EnumerateObject())
        {
            if (tag.Value.ValueKind != JsonValueKind.String || values.Count == 50)
            {
                throw new InvalidAlertException(AlertJson.Join(tagsPath, tag.Name), "must be a string, in at most 50 tags");
            }

            string tagPath = AlertJson.Join(tagsPath, tag.Name);
            values[AlertJson.Limited(tag.Name, tagsPath)] = AlertJson.Limited(tag.Value.GetString()!, tagPath);
        }

        return values;
    }

    private static AlertField? ReadDetailsName(JsonElement resource, string resourcePath)
    {
        if (AlertJson.OptionalObject(resource, "Details", resourcePath) is not { } details)
        {
            return null;
        }

        var detailsPath = AlertJson.Join(resourcePath, "Details");
        if (AlertJson.OptionalObject(details, "AwsS3Bucket", detailsPath) is not { } bucketDetails)
        {
            return null;
        }

        var bucketPath = AlertJson.Join(detailsPath, "AwsS3Bucket");
        var name = AlertJson.OptionalString(bucketDetails, "Name", bucketPath);
        return name is null ? null : new AlertField(name, AlertJson.Join(bucketPath, "Name"));
    }

    /// <summary>Returns the partition of ProductArn, which ASFF requires, for a bucket whose Id is a bare name.</summary>
    private static string DefaultPartitionOf(JsonElement finding, string path)
    {
        var productArn = AlertJson.OptionalString(finding, "ProductArn", path);
        if (productArn is null)
        {
            return DefaultPartition;
        }

        var parts = productArn.Split(':', 3);
        return parts.Length == 3 && parts[0] == "arn" && AwsIdentifiers.IsPartition(parts[1]) ? parts[1] : DefaultPartition;
    }

    /// <summary>Reads the bucket's Region, falling back to the finding's Region.</summary>
    private static string ReadRegion(JsonElement finding, string path, JsonElement resource, string resourcePath)
    {
        var regionPath = AlertJson.Join(resourcePath, "Region");
        var region = AlertJson.OptionalString(resource, "Region", resourcePath);
        if (string.IsNullOrEmpty(region))
        {
            regionPath = AlertJson.Join(path, "Region");
            region = AlertJson.OptionalString(finding, "Region", path);
        }

        if (region is null)
        {
            throw new InvalidAlertException(regionPath, $"is missing; the finding's Region or {resourcePath}.Region is required");
        }

        if (!AwsIdentifiers.IsRegion(region))
        {
            throw new InvalidAlertException(regionPath, AwsIdentifiers.RegionExpected);
        }

        return region;
    }

    /// <summary>The status fields as read (Raw*, possibly null) and as matched to their documented values.</summary>
    private sealed record AsffStatus(
        string? RawCompliance,
        string? Compliance,
        string WorkflowField,
        string? RawWorkflow,
        string? Workflow,
        string? RawRecord,
        string? Record);
}
