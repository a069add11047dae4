namespace Nhi.Serverless.Findings;

/// <summary>A security finding normalized from any source format, reduced to what a playbook needs.</summary>
/// <param name="Id">The finding's own id in its source (ASFF <c>Id</c>, OCSF <c>finding_info.uid</c>).</param>
/// <param name="Format">The source format, one of <see cref="FindingFormats"/>.</param>
/// <param name="ProductName">The product that reported it, such as "Security Hub" or "Prowler".</param>
/// <param name="ControlId">The control or check id, such as "S3.2" or "s3_bucket_public_access".</param>
/// <param name="Title">The human-readable title.</param>
/// <param name="Severity">The normalized severity label (INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL), or UNKNOWN when the source gave none.</param>
/// <param name="UpdatedAt">When the source last updated the finding; with <paramref name="Id"/> it identifies one delivery.</param>
/// <param name="Status">The source's status fields and whether the finding is actionable.</param>
/// <param name="Resource">The one resource the finding is about.</param>
public sealed record Finding(
    string Id,
    string Format,
    string ProductName,
    string? ControlId,
    string Title,
    string Severity,
    DateTimeOffset UpdatedAt,
    FindingStatus Status,
    CloudResource Resource)
{
    /// <summary>The tool's own rule or policy id when <see cref="ControlId"/> holds a normalized id instead, such as
    /// a Prisma Cloud policy id; null when the source's control id is <see cref="ControlId"/> itself.</summary>
    public string? SourceControlId { get; init; }
}

/// <summary>Names of the finding formats the parsers accept.</summary>
public static class FindingFormats
{
    public const string Asff = "asff";
    public const string Ocsf = "ocsf";
    public const string Wiz = "wiz";
    public const string PrismaCloud = "prismacloud";
    public const string CrowdStrike = "crowdstrike";
    public const string DefenderForCloud = "defender";

    /// <summary>A "run this playbook on this resource" request from a SOAR tool or a Logic App, not a finding.</summary>
    public const string RunRequest = "run-request";
}

/// <summary>The status fields of a finding as its source reported them.</summary>
/// <param name="Compliance">Compliance status: PASSED, FAILED, WARNING, NOT_AVAILABLE (ASFF) or the OCSF status_code/compliance.status.</param>
/// <param name="Workflow">Workflow status: NEW, NOTIFIED, SUPPRESSED, RESOLVED (ASFF) or the OCSF status caption, such as New.</param>
/// <param name="Record">Record state: ACTIVE or ARCHIVED (ASFF) or the OCSF activity caption: Create, Update or Close.</param>
public sealed record FindingStatus(string Compliance, string Workflow, string Record);

/// <summary>A cloud resource identified the way its provider identifies it.</summary>
/// <param name="Provider">"aws" or "azure".</param>
/// <param name="Partition">The AWS partition (aws, aws-cn, aws-us-gov); empty for Azure.</param>
/// <param name="AccountId">The AWS account id or Azure subscription id that owns the resource.</param>
/// <param name="Region">The region the resource lives in.</param>
/// <param name="Type">The resource type in ASFF naming, such as "AwsS3Bucket"; the OCSF parser maps "AWS::S3::Bucket" to it.</param>
/// <param name="Id">The provider's identifier, such as "arn:aws:s3:::my-bucket".</param>
/// <param name="Name">The short name, such as the bucket name.</param>
public sealed record CloudResource(
    string Provider,
    string Partition,
    string AccountId,
    string Region,
    string Type,
    string Id,
    string Name)
{
    /// <summary>
    /// The resource's tags as the finding reports them (ASFF Resources[].Tags, OCSF resources[].tags); null when the
    /// finding carries none, which tag guardrails treat as unknown.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Tags { get; init; }
}
