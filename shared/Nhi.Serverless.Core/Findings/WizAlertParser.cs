using System.Text.Json;

namespace Nhi.Serverless.Findings;

/// <summary>Reads Wiz issue webhooks rendered from the template in samples/wiz/webhook-template.json.</summary>
/// <remarks>
/// <para>A Wiz webhook body is whatever template the integration defines, so this parser reads the documented
/// template: <c>trigger</c> (type, rule), <c>issue</c> (id, status, severity, created, updated), <c>control</c>
/// (the rule that raised the issue) and <c>resource</c> (the cloud entity). Fields the template adds are ignored.
/// A JSON array of such bodies is read too.</para>
/// <para>An issue is actionable when its status is OPEN or IN_PROGRESS, its resource is an AWS S3 bucket, and its
/// control name mentions public access; the finding then carries
/// <see cref="S3PublicAccessControls.PublicBucket"/> with the Wiz control id in <see cref="Finding.SourceControlId"/>.
/// Every other issue is skipped with a reason.</para>
/// </remarks>
public sealed class WizAlertParser : IAlertParser
{
    public const string SourceName = "wiz";

    private static readonly string[] IssueStatuses = ["OPEN", "IN_PROGRESS", "RESOLVED", "REJECTED"];
    private static readonly string[] CloudPlatforms = ["AWS", "Azure", "GCP", "OCI", "Alibaba", "Kubernetes"];
    private static readonly string[] BucketTypes = ["BUCKET", "bucket", "AWS::S3::Bucket", "AwsS3Bucket"];

    public string Source => SourceName;

    /// <inheritdoc />
    public AlertParseResult Parse(JsonElement body)
    {
        var actionable = new List<Finding>();
        var skipped = new List<SkippedFinding>();

        switch (body.ValueKind)
        {
            case JsonValueKind.Object:
                ReadIssue(body, AlertJson.Root, actionable, skipped);
                break;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var element in body.EnumerateArray())
                {
                    ReadIssue(element, AlertJson.Index(AlertJson.Root, index), actionable, skipped);
                    index++;
                }

                break;
            default:
                throw new InvalidAlertException(AlertJson.Root, "must be a Wiz webhook object with issue, control and resource, or a JSON array of them");
        }

        return new AlertParseResult(actionable, skipped);
    }

    private static void ReadIssue(JsonElement body, string path, List<Finding> actionable, List<SkippedFinding> skipped)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidAlertException(path, "must be a JSON object holding one Wiz issue");
        }

        var issuePath = AlertJson.Join(path, "issue");
        var issue = AlertJson.RequiredObject(body, "issue", path);
        var id = VendorFields.RequiredText(issue, "id", issuePath);
        var updatedAt = VendorFields.Time(issue, "updated", issuePath)
            ?? VendorFields.Time(issue, "created", issuePath)
            ?? throw new InvalidAlertException(AlertJson.Join(issuePath, "updated"), "is missing; issue.updated or issue.created is required");
        var statusText = VendorFields.Text(issue, "status", issuePath);
        var status = SkipReasons.Canonical(statusText, IssueStatuses);
        var severity = VendorFields.Severity(VendorFields.Text(issue, "severity", issuePath));

        var controlPath = AlertJson.Join(path, "control");
        var control = AlertJson.OptionalObject(body, "control", path);
        var controlId = control is { } controlObject ? VendorFields.Text(controlObject, "id", controlPath) : null;
        var controlName = control is { } namedControl ? VendorFields.Text(namedControl, "name", controlPath) : null;

        if (status is not ("OPEN" or "IN_PROGRESS"))
        {
            skipped.Add(new SkippedFinding(id, $"{SkipReasons.Describe("issue.status", statusText, IssueStatuses)}; only OPEN and IN_PROGRESS issues are acted on"));
            return;
        }

        var resourcePath = AlertJson.Join(path, "resource");
        var resource = AlertJson.RequiredObject(body, "resource", path);
        var platform = VendorFields.Text(resource, "cloudPlatform", resourcePath);
        if (platform is not null && !string.Equals(platform, "AWS", StringComparison.OrdinalIgnoreCase))
        {
            skipped.Add(new SkippedFinding(id, $"{SkipReasons.Describe("resource.cloudPlatform", platform, CloudPlatforms)}; only AWS S3 buckets are acted on"));
            return;
        }

        var providerId = VendorFields.Field(resource, "providerId", resourcePath);
        var nativeType = VendorFields.Text(resource, "nativeType", resourcePath);
        var type = VendorFields.Text(resource, "type", resourcePath);
        var isBucket = VendorFields.LooksLikeBucketArn(providerId?.Value)
            || BucketTypes.Contains(nativeType, StringComparer.OrdinalIgnoreCase)
            || BucketTypes.Contains(type, StringComparer.OrdinalIgnoreCase);
        if (!isBucket)
        {
            skipped.Add(new SkippedFinding(id, "resource is not an S3 bucket; only S3 buckets are acted on"));
            return;
        }

        if (!VendorFields.MentionsPublicAccess(controlName))
        {
            skipped.Add(new SkippedFinding(id, "control.name does not mention public access; only public-bucket issues are acted on"));
            return;
        }

        AlertField? arn = providerId is { } provider && provider.Value.StartsWith("arn:", StringComparison.Ordinal) ? provider : null;
        List<AlertField> names = [];
        if (arn is null && providerId is { } bareName)
        {
            names.Add(bareName);
        }

        if (VendorFields.Field(resource, "name", resourcePath) is { } name)
        {
            names.Add(name);
        }

        var account = VendorFields.RequiredField(resource, "subscriptionId", resourcePath, "is missing; the bucket's 12-digit AWS account id is required");
        var region = VendorFields.RequiredField(resource, "region", resourcePath, "is missing; the bucket's AWS Region is required");
        var bucket = VendorFields.Bucket(arn, names, account, region, AlertJson.Join(resourcePath, "providerId"));

        var title = controlName ?? "";
        var state = new FindingStatus("FAILED", status, "ACTIVE");
        actionable.Add(new Finding(id, FindingFormats.Wiz, "Wiz", S3PublicAccessControls.PublicBucket, title, severity, updatedAt, state, bucket)
        {
            SourceControlId = controlId,
        });
    }
}
