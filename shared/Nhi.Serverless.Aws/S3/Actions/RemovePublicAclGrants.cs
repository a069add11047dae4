using Amazon.S3.Model;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Aws.S3.Actions;

/// <summary>Removes bucket ACL grants to the AllUsers and AuthenticatedUsers groups, keeping the owner and all other grants.</summary>
/// <remarks>When no grant remains, the bucket gets the canned "private" ACL, which grants its owner FULL_CONTROL.</remarks>
public sealed class RemovePublicAclGrants : IS3RemediationAction
{
    public const string Name = "s3.remove-public-acl-grants";

    public RemediationActionDescriptor Descriptor { get; } = new(
        Name,
        "Removes bucket ACL grants to the AllUsers and AuthenticatedUsers groups.",
        ["s3:GetBucketAcl", "s3:PutBucketAcl"]);

    public async Task<string> ApplyAsync(ScopedS3Client client, string bucket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);

        S3AccessControlList acl = await client.GetBucketAclAsync(bucket, cancellationToken);
        List<S3Grant> grants = acl.Grants ?? [];
        List<S3Grant> publicGrants = grants.Where(PublicAclGrants.IsPublic).ToList();
        if (publicGrants.Count == 0)
        {
            return "nothing to change: no ACL grant to AllUsers or AuthenticatedUsers";
        }

        List<S3Grant> remaining = grants.Where(grant => !PublicAclGrants.IsPublic(grant)).ToList();
        await client.PutBucketAclAsync(bucket, remaining, cancellationToken);

        return $"removed ACL grant(s) {string.Join(", ", publicGrants.Select(PublicAclGrants.Describe))} and kept {remaining.Count}";
    }
}
