using System.Text.Json;
using Amazon.S3.Model;
using Nhi.Serverless.Aws.S3.Actions;
using Nhi.Serverless.Playbooks;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Aws.S3;

/// <summary>Reads a bucket's policy, ACL and public access block back and checks that none of them leaves it public.</summary>
public sealed class S3PublicAccessVerifier
{
    public const string Name = "s3.verify-public-access-closed";

    /// <summary>The verification step as a playbook entry, so the grant's scope includes its reads.</summary>
    public RemediationActionDescriptor Descriptor { get; } = new(
        Name,
        "Reads the bucket policy, ACL and public access block back; changes nothing.",
        ["s3:GetBucketAcl", "s3:GetBucketPolicy", "s3:GetBucketPublicAccessBlock"]);

    /// <summary>Returns one line per check; passes when no policy statement or ACL grant is public and all four block settings are on.</summary>
    /// <remarks>The public access block is read with a raw signed GET; see <see cref="PublicAccessBlockReader"/>.</remarks>
    public async Task<Verification> VerifyAsync(ScopedS3Client client, string bucket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);

        var checks = new List<string>();
        bool passed = true;

        string? policy = await client.GetBucketPolicyAsync(bucket, cancellationToken);
        passed &= CheckPolicy(policy, checks);

        S3AccessControlList acl = await client.GetBucketAclAsync(bucket, cancellationToken);
        passed &= CheckAcl(acl, checks);

        PublicAccessBlockConfiguration? block = await client.GetPublicAccessBlockAsync(bucket, cancellationToken);
        IReadOnlyList<string> off = EnableBucketPublicAccessBlock.SettingsOff(block);
        if (off.Count == 0)
        {
            checks.Add("block public access: all four settings on");
        }
        else
        {
            checks.Add($"block public access: {string.Join(", ", off)} off");
            passed = false;
        }

        return new Verification(passed, checks);
    }

    private static bool CheckPolicy(string? policy, List<string> checks)
    {
        if (policy is null)
        {
            checks.Add("bucket policy: none");
            return true;
        }

        using JsonDocument document = JsonDocument.Parse(policy);
        IReadOnlyList<JsonElement> statements = PublicPolicyStatements.StatementsOf(document.RootElement);
        var publicStatements = statements
            .Select((statement, index) => (statement, index))
            .Where(item => PublicPolicyStatements.IsPublic(item.statement))
            .Select(item => PublicPolicyStatements.Describe(item.statement, item.index))
            .ToArray();

        if (publicStatements.Length == 0)
        {
            checks.Add($"bucket policy: no public statement among {statements.Count}");
            return true;
        }

        checks.Add($"bucket policy: public statement(s) {string.Join(", ", publicStatements)}");
        return false;
    }

    private static bool CheckAcl(S3AccessControlList acl, List<string> checks)
    {
        var publicGrants = (acl.Grants ?? []).Where(PublicAclGrants.IsPublic).Select(PublicAclGrants.Describe).ToArray();
        if (publicGrants.Length == 0)
        {
            checks.Add("bucket ACL: no grant to AllUsers or AuthenticatedUsers");
            return true;
        }

        checks.Add($"bucket ACL: grants {string.Join(", ", publicGrants)}");
        return false;
    }
}
