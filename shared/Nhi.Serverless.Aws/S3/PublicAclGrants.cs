using Amazon.S3.Model;

namespace Nhi.Serverless.Aws.S3;

/// <summary>Recognizes ACL grants to the S3 groups that make a bucket public.</summary>
public static class PublicAclGrants
{
    /// <summary>Everyone, including anonymous requests.</summary>
    public const string AllUsersUri = "http://acs.amazonaws.com/groups/global/AllUsers";

    /// <summary>Anyone with AWS credentials, from any account.</summary>
    public const string AuthenticatedUsersUri = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

    public static bool IsPublic(S3Grant grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        string? uri = grant.Grantee?.URI;
        return string.Equals(uri, AllUsersUri, StringComparison.OrdinalIgnoreCase)
            || string.Equals(uri, AuthenticatedUsersUri, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Returns "READ to AllUsers" for a public grant.</summary>
    public static string Describe(S3Grant grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        string uri = grant.Grantee?.URI ?? "";
        string group = uri[(uri.LastIndexOf('/') + 1)..];
        return $"{grant.Permission?.Value ?? "?"} to {group}";
    }
}
