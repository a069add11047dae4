using System.Text.Json;

namespace Nhi.Serverless.Findings;

/// <summary>Reads CrowdStrike Falcon Fusion workflow webhooks about cloud misconfigurations (indicators of
/// misconfiguration, IOMs).</summary>
/// <remarks>
/// <para>A Fusion "Call webhook" action posts <c>{"meta": {...}, "data": {...}}</c>: <c>meta</c> names the workflow and
/// the trigger, and <c>data</c> holds the trigger fields the workflow author chose to include, keyed by their Fusion
/// names such as "Trigger.Category.CloudSecurity.IOM.ResourceId". Those names differ between triggers and tenants,
/// so this parser looks fields up by the last dotted segment of the key, ignoring case and underscores, in nested
/// objects too: ResourceId or resource_id, AccountId, Region, CloudProvider, ResourceType, PolicyName, PolicyId,
/// Severity, Status, FindingId (or Id) and UpdatedAt (or LastDetected, or <c>meta.timestamp</c>).
/// samples/crowdstrike shows the fields to include.</para>
/// <para>A finding is actionable when its cloud is AWS, its resource is an S3 bucket, its status is not closed,
/// and its policy name mentions public access. It then carries <see cref="S3PublicAccessControls.PublicBucket"/>
/// with the Falcon policy id in <see cref="Finding.SourceControlId"/>.</para>
/// </remarks>
public sealed class CrowdStrikeAlertParser : IAlertParser
{
    public const string SourceName = "crowdstrike";

    private static readonly string[] ClosedStatuses = ["closed", "resolved", "ignored", "suppressed", "false_positive", "remediated"];
    private static readonly string[] Providers = ["aws", "azure", "gcp", "oci"];
    private static readonly string[] BucketTypes = ["AWS::S3::Bucket", "AwsS3Bucket", "S3 Bucket", "Bucket", "s3_bucket"];

    public string Source => SourceName;

    /// <inheritdoc />
    public AlertParseResult Parse(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidAlertException(AlertJson.Root, "must be a Falcon Fusion webhook object with meta and data");
        }

        var data = AlertJson.RequiredObject(body, "data", AlertJson.Root);
        var fields = new Dictionary<string, (JsonElement Value, string Path)>(StringComparer.Ordinal);
        Collect(data, "data", fields, depth: 0);

        var id = RequiredText(fields, "data.FindingId", "is missing; the finding id (FindingId or Id) is required", "findingid", "iomid", "id");
        var updatedAt = ReadUpdatedAt(body, fields);
        var policyName = Text(fields, "policyname", "policystatement", "rulename");
        var policyId = Text(fields, "policyid", "ruleid");
        var severity = VendorFields.Severity(Text(fields, "severity", "severityname"));
        var status = Text(fields, "status");

        if (SkipReasons.Canonical(status, ClosedStatuses) is not null)
        {
            return Skip(id, $"{SkipReasons.Describe("Status", status, ClosedStatuses)}; closed findings are not acted on");
        }

        var provider = Text(fields, "cloudprovider", "provider", "cloudplatform");
        if (provider is not null && !string.Equals(provider, "aws", StringComparison.OrdinalIgnoreCase))
        {
            return Skip(id, $"{SkipReasons.Describe("CloudProvider", provider, Providers)}; only AWS S3 buckets are acted on");
        }

        var resourceId = Field(fields, "resourceid", "resourcearn", "arn");
        var resourceType = Text(fields, "resourcetype", "resourcetypename");
        var isBucket = VendorFields.LooksLikeBucketArn(resourceId?.Value) || BucketTypes.Contains(resourceType, StringComparer.OrdinalIgnoreCase);
        if (!isBucket)
        {
            return Skip(id, "resource is not an S3 bucket; only S3 buckets are acted on");
        }

        if (!VendorFields.MentionsPublicAccess(policyName))
        {
            return Skip(id, "PolicyName does not mention public access; only public-bucket findings are acted on");
        }

        AlertField? arn = resourceId is { } field && field.Value.StartsWith("arn:", StringComparison.Ordinal) ? field : null;
        List<AlertField> names = [];
        if (arn is null && resourceId is { } bareName)
        {
            names.Add(bareName);
        }

        var account = Field(fields, "accountid", "cloudaccountid")
            ?? throw new InvalidAlertException("data.AccountId", "is missing; the bucket's 12-digit AWS account id is required");
        var region = Field(fields, "region", "cloudregion")
            ?? throw new InvalidAlertException("data.Region", "is missing; the bucket's AWS Region code is required");
        var bucket = VendorFields.Bucket(arn, names, account, region, "data.ResourceId");

        var state = new FindingStatus("FAILED", status ?? "new", "ACTIVE");
        var finding = new Finding(id, FindingFormats.CrowdStrike, "CrowdStrike Falcon", S3PublicAccessControls.PublicBucket, policyName!, severity, updatedAt, state, bucket)
        {
            SourceControlId = policyId,
        };
        return new AlertParseResult([finding], []);
    }

    private static AlertParseResult Skip(string id, string reason) => new([], [new SkippedFinding(id, reason)]);

    private static DateTimeOffset ReadUpdatedAt(JsonElement body, Dictionary<string, (JsonElement Value, string Path)> fields)
    {
        foreach (var key in new[] { "updatedat", "lastdetected", "lastseen", "detectedat", "createdat", "timestamp" })
        {
            if (fields.TryGetValue(key, out var entry) && VendorFields.TimeValue(entry.Value, entry.Path) is { } time)
            {
                return time;
            }
        }

        if (AlertJson.OptionalObject(body, "meta", AlertJson.Root) is { } meta && VendorFields.Time(meta, "timestamp", "meta") is { } metaTime)
        {
            return metaTime;
        }

        throw new InvalidAlertException("data.UpdatedAt", "is missing; UpdatedAt, LastDetected or meta.timestamp is required");
    }

    /// <summary>Collects leaf values under normalized keys; the first occurrence of a key wins.</summary>
    private static void Collect(JsonElement owner, string path, Dictionary<string, (JsonElement, string)> fields, int depth)
    {
        // Fusion data is flat or a few levels deep; the JSON reader already caps depth, this caps the walk's work.
        if (depth > 8)
        {
            return;
        }

        foreach (var property in owner.EnumerateObject())
        {
            var propertyPath = AlertJson.Join(path, property.Name);
            if (property.Value.ValueKind == JsonValueKind.Object)
            {
                Collect(property.Value, propertyPath, fields, depth + 1);
                continue;
            }

            if (property.Value.ValueKind is JsonValueKind.Array or JsonValueKind.Null)
            {
                continue;
            }

            fields.TryAdd(Normalize(property.Name), (property.Value, propertyPath));
        }
    }

    private static string Normalize(string key)
    {
        var lastSegment = key[(key.LastIndexOf('.') + 1)..];
        return string.Concat(lastSegment.Where(char.IsAsciiLetterOrDigit)).ToLowerInvariant();
    }

    private static AlertField? Field(Dictionary<string, (JsonElement Value, string Path)> fields, params ReadOnlySpan<string> keys)
    {
        foreach (var key in keys)
        {
            if (!fields.TryGetValue(key, out var entry))
            {
                continue;
            }

            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                throw new InvalidAlertException(entry.Path, "must be a string");
            }

            var text = AlertJson.Limited(entry.Value.GetString()!, entry.Path).Trim();
            if (text.Length > 0)
            {
                return new AlertField(text, entry.Path);
            }
        }

        return null;
    }

    private static string? Text(Dictionary<string, (JsonElement Value, string Path)> fields, params ReadOnlySpan<string> keys) =>
        Field(fields, keys)?.Value;

    private static string RequiredText(
        Dictionary<string, (JsonElement Value, string Path)> fields, string missingPath, string expected, params ReadOnlySpan<string> keys) =>
        Text(fields, keys) ?? throw new InvalidAlertException(missingPath, expected);
}
