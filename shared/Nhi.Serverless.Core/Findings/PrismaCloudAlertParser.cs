using System.Text.Json;

namespace Nhi.Serverless.Findings;

/// <summary>Reads Prisma Cloud (CSPM) alert webhooks: a JSON array of alert objects, or one alert object.</summary>
/// <remarks>
/// <para>Each alert names the policy it violates (<c>policyId</c>, <c>policyName</c>), the cloud
/// (<c>cloudType</c>, <c>accountId</c>, <c>resourceRegionId</c>) and the resource (<c>resourceId</c>,
/// <c>resourceName</c>, <c>resourceCloudService</c>, and a <c>resource</c> object with <c>rrn</c> and
/// <c>resourceApiName</c>). Unknown fields are ignored.</para>
/// <para>An alert is actionable when its <c>alertStatus</c> is open (a missing status counts as open), its cloud is
/// AWS, its resource is an S3 bucket, and its policy name mentions public access. The finding then carries
/// <see cref="S3PublicAccessControls.PublicBucket"/> with the policy id in <see cref="Finding.SourceControlId"/>.
/// The update time is <c>alertTs</c>, which stays the same when Prisma Cloud notifies about the same alert again,
/// or <c>lastSeen</c> when <c>alertTs</c> is missing.</para>
/// </remarks>
public sealed class PrismaCloudAlertParser : IAlertParser
{
    public const string SourceName = "prismacloud";

    private static readonly string[] AlertStatuses = ["open", "resolved", "dismissed", "snoozed", "pending_resolution"];
    private static readonly string[] CloudTypes = ["aws", "azure", "gcp", "oci", "alibaba_cloud", "ibm"];

    public string Source => SourceName;

    /// <inheritdoc />
    public AlertParseResult Parse(JsonElement body)
    {
        var actionable = new List<Finding>();
        var skipped = new List<SkippedFinding>();

        switch (body.ValueKind)
        {
            case JsonValueKind.Array:
                var index = 0;
                foreach (var alert in body.EnumerateArray())
                {
                    ReadAlert(alert, AlertJson.Index(AlertJson.Root, index), actionable, skipped);
                    index++;
                }

                break;
            case JsonValueKind.Object:
                ReadAlert(body, AlertJson.Root, actionable, skipped);
                break;
            default:
                throw new InvalidAlertException(AlertJson.Root, "must be a JSON array of Prisma Cloud alerts or one alert object");
        }

        return new AlertParseResult(actionable, skipped);
    }

    private static void ReadAlert(JsonElement alert, string path, List<Finding> actionable, List<SkippedFinding> skipped)
    {
        if (alert.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidAlertException(path, "must be a JSON object holding one Prisma Cloud alert");
        }

        var id = VendorFields.RequiredText(alert, "alertId", path);
        var updatedAt = VendorFields.Time(alert, "alertTs", path)
            ?? VendorFields.Time(alert, "lastSeen", path)
            ?? throw new InvalidAlertException(AlertJson.Join(path, "alertTs"), "is missing; alertTs or lastSeen is required");
        var policyId = VendorFields.Text(alert, "policyId", path);
        var policyName = VendorFields.Text(alert, "policyName", path);
        var severity = VendorFields.Severity(VendorFields.Text(alert, "severity", path));

        var statusText = VendorFields.Text(alert, "alertStatus", path);
        var status = statusText is null ? "open" : SkipReasons.Canonical(statusText, AlertStatuses);
        if (status != "open")
        {
            skipped.Add(new SkippedFinding(id, $"{SkipReasons.Describe("alertStatus", statusText, AlertStatuses)}; only open alerts are acted on"));
            return;
        }

        var cloudType = VendorFields.Text(alert, "cloudType", path);
        if (!string.Equals(cloudType, "aws", StringComparison.OrdinalIgnoreCase))
        {
            skipped.Add(new SkippedFinding(id, $"{SkipReasons.Describe("cloudType", cloudType, CloudTypes)}; only AWS S3 buckets are acted on"));
            return;
        }

        var resource = AlertJson.OptionalObject(alert, "resource", path);
        var resourcePath = AlertJson.Join(path, "resource");
        if (!IsBucket(alert, path, resource, resourcePath))
        {
            skipped.Add(new SkippedFinding(id, "resource is not an S3 bucket; only S3 buckets are acted on"));
            return;
        }

        if (!VendorFields.MentionsPublicAccess(policyName))
        {
            skipped.Add(new SkippedFinding(id, "policyName does not mention public access; only public-bucket alerts are acted on"));
            return;
        }

        List<AlertField> names = [];
        AlertField? arn = null;
        foreach (var name in new[] { "resourceId", "resourceName" })
        {
            if (VendorFields.Field(alert, name, path) is not { } field)
            {
                continue;
            }

            if (field.Value.StartsWith("arn:", StringComparison.Ordinal))
            {
                arn ??= field;
            }
            else
            {
                names.Add(field);
            }
        }

        var account = VendorFields.RequiredField(alert, "accountId", path, "is missing; the bucket's 12-digit AWS account id is required");
        var region = VendorFields.Field(alert, "resourceRegionId", path)
            ?? (resource is { } resourceObject ? VendorFields.Field(resourceObject, "regionId", resourcePath) : null)
            ?? throw new InvalidAlertException(AlertJson.Join(path, "resourceRegionId"), "is missing; the bucket's AWS Region code is required");
        var bucket = VendorFields.Bucket(arn, names, account, region, AlertJson.Join(path, "resourceId"));

        var state = new FindingStatus("FAILED", "open", "ACTIVE");
        actionable.Add(new Finding(id, FindingFormats.PrismaCloud, "Prisma Cloud", S3PublicAccessControls.PublicBucket, policyName!, severity, updatedAt, state, bucket)
        {
            SourceControlId = policyId,
        });
    }

    // Prisma Cloud names S3 as the service "Amazon S3" and its bucket APIs "aws-s3api-get-all-buckets".
    private static bool IsBucket(JsonElement alert, string path, JsonElement? resource, string resourcePath)
    {
        var service = VendorFields.Text(alert, "resourceCloudService", path);
        if (string.Equals(service, "Amazon S3", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (resource is not { } resourceObject)
        {
            return false;
        }

        var apiName = VendorFields.Text(resourceObject, "resourceApiName", resourcePath);
        return apiName is not null && apiName.StartsWith("aws-s3api-", StringComparison.OrdinalIgnoreCase);
    }
}
