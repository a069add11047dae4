using Nhi.Serverless.Aws.S3.Actions;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Aws.S3;

/// <summary>The AWS playbooks this adapter can execute.</summary>
public static class AwsPlaybooks
{
    public const string S3BucketPublicAccessName = "s3-bucket-public-access";

    /// <summary>
    /// Closes public access to one S3 bucket: public policy statements, then public ACL grants, then the public
    /// access block, then a read-back. The block comes last because, once BlockPublicPolicy is on, S3 and Ceph RGW
    /// reject a PutBucketPolicy they consider public. The grant's scope is the union of the four steps' declared permissions.
    /// </summary>
    public static Playbook S3BucketPublicAccess { get; } = new(
        S3BucketPublicAccessName,
        "Close public access to an S3 bucket",
        "aws",
        ["AwsS3Bucket", "AWS::S3::Bucket"],
        S3PublicAccessControls.All,
        [
            new RemovePublicPolicyStatements().Descriptor,
            new RemovePublicAclGrants().Descriptor,
            new EnableBucketPublicAccessBlock().Descriptor,
            new S3PublicAccessVerifier().Descriptor,
        ]);
}
