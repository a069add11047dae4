namespace Nhi.Serverless.Aws.Sts;

/// <summary>Which S3 IAM actions apply to objects (resource arn:...:bucket/*) and which only to the account.</summary>
/// <remarks>
/// From the resource types column of "Actions, resources, and condition keys for Amazon S3" in the AWS Service
/// Authorization Reference. Every other s3: action is treated as bucket-level (resource arn:...:bucket).
/// NOTE: actions that AWS adds later fall into the bucket-level group until they are listed here. An object-level
/// action missing from this table is granted on the bucket ARN, where it never matches. The credential then gets
/// less than requested, never more.
/// </remarks>
public static class S3ActionLevels
{
    private static readonly HashSet<string> ObjectActions = new(StringComparer.Ordinal)
    {
        "s3:AbortMultipartUpload",
        "s3:BypassGovernanceRetention",
        "s3:DeleteObject",
        "s3:DeleteObjectTagging",
        "s3:DeleteObjectVersion",
        "s3:DeleteObjectVersionTagging",
        "s3:GetObject",
        "s3:GetObjectAcl",
        "s3:GetObjectAttributes",
        "s3:GetObjectLegalHold",
        "s3:GetObjectRetention",
        "s3:GetObjectTagging",
        "s3:GetObjectTorrent",
        "s3:GetObjectVersion",
        "s3:GetObjectVersionAcl",
        "s3:GetObjectVersionAttributes",
        "s3:GetObjectVersionForReplication",
        "s3:GetObjectVersionTagging",
        "s3:GetObjectVersionTorrent",
        "s3:InitiateReplication",
        "s3:ListMultipartUploadParts",
        "s3:ObjectOwnerOverrideToBucketOwner",
        "s3:PutObject",
        "s3:PutObjectAcl",
        "s3:PutObjectLegalHold",
        "s3:PutObjectRetention",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionAcl",
        "s3:PutObjectVersionTagging",
        "s3:ReplicateDelete",
        "s3:ReplicateObject",
        "s3:ReplicateTags",
        "s3:RestoreObject",
    };

    // Actions whose resource is "*" or an account-wide resource; a bucket-scoped grant cannot carry them.
    private static readonly HashSet<string> AccountActions = new(StringComparer.Ordinal)
    {
        "s3:CreateJob",
        "s3:GetAccountPublicAccessBlock",
        "s3:ListAccessPoints",
        "s3:ListAccessPointsForObjectLambda",
        "s3:ListAllMyBuckets",
        "s3:ListJobs",
        "s3:ListMultiRegionAccessPoints",
        "s3:ListStorageLensConfigurations",
        "s3:PutAccessPointPublicAccessBlock",
        "s3:PutAccountPublicAccessBlock",
        "s3:PutStorageLensConfiguration",
    };

    public static bool IsObjectLevel(string action) => ObjectActions.Contains(action);

    public static bool IsAccountLevel(string action) => AccountActions.Contains(action);
}
