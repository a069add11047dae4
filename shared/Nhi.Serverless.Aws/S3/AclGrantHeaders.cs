using Amazon.S3;
using Amazon.S3.Model;

namespace Nhi.Serverless.Aws.S3;

/// <summary>
/// Builds a PutBucketAcl request that states the grants in x-amz-grant-* headers instead of an XML body.
/// </summary>
/// <remarks>
/// Measured with AWSSDK.S3 4.1.0.1 against Ceph RGW 16.2: the SDK writes each grantee of an AccessControlPolicy
/// body as &lt;xsi:Grantee&gt;, and RGW rejects that body with 400 InvalidArgument. The header form, which S3's
/// PutBucketAcl documents as an alternative, is accepted by both and leaves the bucket owner unchanged.
/// </remarks>
internal static class AclGrantHeaders
{
    /// <summary>Returns a request granting exactly <paramref name="grants"/>; with no grants, the canned "private" ACL (owner FULL_CONTROL).</summary>
    public static PutBucketAclRequest Request(string bucket, IReadOnlyList<S3Grant> grants)
    {
        var request = new PutBucketAclRequest { BucketName = bucket };
        if (grants.Count == 0)
        {
            request.ACL = S3CannedACL.Private;
            return request;
        }

        request.GrantFullControl = Grantees(grants, S3Permission.FULL_CONTROL);
        request.GrantRead = Grantees(grants, S3Permission.READ);
        request.GrantWrite = Grantees(grants, S3Permission.WRITE);
        request.GrantReadACP = Grantees(grants, S3Permission.READ_ACP);
        request.GrantWriteACP = Grantees(grants, S3Permission.WRITE_ACP);

        var unsupported = grants.Where(grant => !IsHeaderPermission(grant.Permission)).Select(grant => grant.Permission?.Value).ToArray();
        if (unsupported.Length > 0)
        {
            throw new InvalidOperationException(
                $"Bucket {bucket} has ACL grants with permission(s) {string.Join(", ", unsupported)}, which PutBucketAcl headers cannot express; no change was made.");
        }

        return request;
    }

    private static bool IsHeaderPermission(S3Permission? permission) =>
        permission == S3Permission.FULL_CONTROL
        || permission == S3Permission.READ
        || permission == S3Permission.WRITE
        || permission == S3Permission.READ_ACP
        || permission == S3Permission.WRITE_ACP;

    // Returns the header value, such as id="owner-id", uri="http://acs.amazonaws.com/groups/s3/LogDelivery"; null when none.
    private static string? Grantees(IReadOnlyList<S3Grant> grants, S3Permission permission)
    {
        string[] grantees = grants.Where(grant => grant.Permission == permission).Select(grant => Grantee(grant.Grantee)).ToArray();
        return grantees.Length == 0 ? null : string.Join(", ", grantees);
    }

    private static string Grantee(S3Grantee grantee)
    {
        if (grantee.Type == GranteeType.CanonicalUser || grantee.CanonicalUser is not null)
        {
            return $"id=\"{grantee.CanonicalUser}\"";
        }

        if (grantee.Type == GranteeType.Group || grantee.URI is not null)
        {
            return $"uri=\"{grantee.URI}\"";
        }

        if (grantee.EmailAddress is not null)
        {
            return $"emailAddress=\"{grantee.EmailAddress}\"";
        }

        throw new InvalidOperationException("An ACL grant has a grantee with neither a canonical id, a group URI nor an email address.");
    }
}
