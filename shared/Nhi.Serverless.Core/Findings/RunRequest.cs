using System.Text.Json;
using System.Text.RegularExpressions;

namespace Nhi.Serverless.Findings;

/// <summary>A "run this playbook on this resource" request from a SOAR playbook or a Logic App.</summary>
/// <param name="RunId">The caller's stable run id, which makes a repeated start return the first run; null to have one made.</param>
/// <param name="Playbook">The playbook name, such as "s3-bucket-public-access".</param>
/// <param name="Resource">The one resource the run acts on.</param>
/// <param name="RequestedBy">Who asked: the tool and playbook, such as "xsoar:public-bucket-response".</param>
/// <param name="Reason">Why, such as an incident title; shown as the run's title.</param>
/// <param name="Ticket">The caller's case or ticket id, when it has one.</param>
public sealed record RunRequest(string? RunId, string Playbook, CloudResource Resource, string RequestedBy, string? Reason, string? Ticket)
{
    /// <summary>Returns the finding a run request stands for, so that it runs through the same planner and orchestration.</summary>
    /// <remarks>The finding's control id is the playbook name, which a playbook lists among its controls when it may be
    /// started by name.</remarks>
    public Finding ToFinding(string runId, DateTimeOffset requestedAt) =>
        new(
            Id: "request:" + runId,
            Format: FindingFormats.RunRequest,
            ProductName: RequestedBy,
            ControlId: Playbook,
            Title: Reason ?? $"{Playbook} requested by {RequestedBy}",
            Severity: "UNKNOWN",
            UpdatedAt: requestedAt,
            Status: new FindingStatus("REQUESTED", "NEW", "ACTIVE"),
            Resource: Resource);
}

/// <summary>Reads run requests: <c>{"runId", "playbook", "resource": {"arn" or "name", "accountId", "region"},
/// "requestedBy", "reason", "ticket"}</c>. Unknown fields are ignored.</summary>
public static partial class RunRequestParser
{
    public const string RunIdExpected =
        "must be 3 to 100 letters, digits, dots, underscores and hyphens, starting with a letter or digit, and must not start with \"run-\", which finding runs use";

    /// <summary>Parses a run request from JSON text.</summary>
    /// <exception cref="InvalidAlertException">The text is not JSON, or a field is missing or malformed.</exception>
    public static RunRequest Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);

        return AlertJson.ReadDocument(text, AlertJson.Root, Parse);
    }

    /// <summary>Parses a run request body.</summary>
    /// <exception cref="InvalidAlertException">A field is missing or malformed; the exception names it.</exception>
    public static RunRequest Parse(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidAlertException(AlertJson.Root, "must be a JSON object with playbook, resource and requestedBy");
        }

        var runId = VendorFields.Text(body, "runId", AlertJson.Root);
        if (runId is not null && !IsValidRunId(runId))
        {
            throw new InvalidAlertException("runId", RunIdExpected);
        }

        var playbook = VendorFields.RequiredText(body, "playbook", AlertJson.Root);
        var requestedBy = VendorFields.RequiredText(body, "requestedBy", AlertJson.Root);
        var reason = VendorFields.Text(body, "reason", AlertJson.Root);
        var ticket = VendorFields.Text(body, "ticket", AlertJson.Root);
        var resource = ReadResource(AlertJson.RequiredObject(body, "resource", AlertJson.Root));

        return new RunRequest(runId, playbook, resource, requestedBy, reason, ticket);
    }

    /// <summary>Returns whether a caller's run id can be used as an orchestration instance id as it is.</summary>
    public static bool IsValidRunId(string runId) =>
        RunIdPattern().IsMatch(runId) && !runId.StartsWith("run-", StringComparison.OrdinalIgnoreCase);

    private static CloudResource ReadResource(JsonElement resource)
    {
        const string path = "resource";

        var provider = VendorFields.Text(resource, "provider", path) ?? "aws";
        if (!string.Equals(provider, "aws", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidAlertException("resource.provider", "must be aws; only AWS resources have a playbook");
        }

        var type = VendorFields.Text(resource, "type", path) ?? SecurityHubAlertParser.BucketResourceType;
        if (type is not (SecurityHubAlertParser.BucketResourceType or "AWS::S3::Bucket"))
        {
            throw new InvalidAlertException("resource.type", "must be AwsS3Bucket or AWS::S3::Bucket; only S3 buckets have a playbook");
        }

        var arn = VendorFields.Field(resource, "arn", path);
        List<AlertField> names = [];
        if (VendorFields.Field(resource, "name", path) is { } name)
        {
            names.Add(name);
        }

        var account = VendorFields.RequiredField(resource, "accountId", path, "is missing; the resource's 12-digit AWS account id is required");
        var region = VendorFields.RequiredField(resource, "region", path, "is missing; the resource's AWS Region code is required");
        return VendorFields.Bucket(arn, names, account, region, "resource.arn");
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{2,99}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex RunIdPattern();
}
