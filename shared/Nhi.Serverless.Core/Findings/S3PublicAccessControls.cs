namespace Nhi.Serverless.Findings;

/// <summary>Control and check ids whose failure means an S3 bucket is publicly accessible.</summary>
/// <remarks>Both parsers put these ids into <see cref="Finding.ControlId"/> unchanged, so a playbook can list them
/// in <c>Playbook.Controls</c>. The Prowler check ids and their Security Hub mappings were read from
/// prowler-cloud/prowler at version 5.40.0 (prowler/providers/aws/services/s3 and
/// prowler/compliance/aws/aws_foundational_security_best_practices_aws.json).</remarks>
public static class S3PublicAccessControls
{
    /// <summary>Security Hub control "S3 general purpose buckets should block public read access".</summary>
    public const string PublicReadProhibited = "S3.2";

    /// <summary>Security Hub control "S3 general purpose buckets should block public write access".</summary>
    public const string PublicWriteProhibited = "S3.3";

    /// <summary>Security Hub control "S3 general purpose buckets should block public access" (bucket-level Block Public Access).</summary>
    public const string BucketLevelPublicAccessBlock = "S3.8";

    /// <summary>Prowler check for buckets open to everyone through the bucket ACL or the bucket policy.</summary>
    public const string ProwlerBucketPublicAccess = "s3_bucket_public_access";

    /// <summary>Prowler check for bucket policies that allow public writes, which Prowler maps to S3.3.</summary>
    public const string ProwlerPolicyPublicWriteAccess = "s3_bucket_policy_public_write_access";

    /// <summary>Prowler check for bucket ACLs that let everyone list the bucket.</summary>
    public const string ProwlerPublicListAcl = "s3_bucket_public_list_acl";

    /// <summary>Prowler check for bucket ACLs that let everyone write, which Prowler maps to S3.3.</summary>
    public const string ProwlerPublicWriteAcl = "s3_bucket_public_write_acl";

    /// <summary>Prowler check for bucket-level Block Public Access, which Prowler maps to S3.8.</summary>
    public const string ProwlerBucketLevelPublicAccessBlock = "s3_bucket_level_public_access_block";

    /// <summary>The control id that the Wiz, Prisma Cloud and CrowdStrike parsers give a finding they recognized as a
    /// publicly accessible S3 bucket, and that a run request naming the playbook "s3-bucket-public-access" carries.</summary>
    /// <remarks>Those tools identify their rules by ids that differ per tenant or are not published, so their parsers
    /// keep the tool's own rule id in <see cref="Finding.SourceControlId"/> and put this id in
    /// <see cref="Finding.ControlId"/>. It equals the playbook's name so that a run request can name the playbook.</remarks>
    public const string PublicBucket = "s3-bucket-public-access";

    /// <summary>The Security Hub control ids.</summary>
    public static IReadOnlyList<string> SecurityHubControls { get; } =
        [PublicReadProhibited, PublicWriteProhibited, BucketLevelPublicAccessBlock];

    /// <summary>The Prowler check ids.</summary>
    public static IReadOnlyList<string> ProwlerChecks { get; } =
    [
        ProwlerBucketPublicAccess,
        ProwlerPolicyPublicWriteAccess,
        ProwlerPublicListAcl,
        ProwlerPublicWriteAcl,
        ProwlerBucketLevelPublicAccessBlock,
    ];

    /// <summary>Every id above: Security Hub controls, Prowler checks, then <see cref="PublicBucket"/>.</summary>
    public static IReadOnlyList<string> All { get; } = [.. SecurityHubControls, .. ProwlerChecks, PublicBucket];

    /// <summary>Resource types, as the parsers write <see cref="CloudResource.Type"/>, that these controls evaluate.</summary>
    public static IReadOnlyList<string> ResourceTypes { get; } = [SecurityHubAlertParser.BucketResourceType];

    /// <summary>Returns whether a control id means public bucket access, ignoring case as <c>Playbook.Answers</c> does.</summary>
    public static bool Contains(string? controlId) =>
        controlId is not null && All.Contains(controlId, StringComparer.OrdinalIgnoreCase);
}
