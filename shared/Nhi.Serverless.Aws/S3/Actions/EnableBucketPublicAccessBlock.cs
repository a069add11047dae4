using Amazon.S3.Model;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Aws.S3.Actions;

/// <summary>Turns on all four settings of the bucket's public access block.</summary>
/// <remarks>
/// Runs after the policy and ACL actions. Once BlockPublicPolicy is on, Ceph RGW 16.2 (like AWS) rejects with 403 any
/// PutBucketPolicy whose policy it considers public, and its idea of public need not match
/// <see cref="PublicPolicyStatements"/>, so the policy is rewritten while the block is still off.
/// </remarks>
public sealed class EnableBucketPublicAccessBlock : IS3RemediationAction
{
    public const string Name = "s3.enable-bucket-public-access-block";

    public RemediationActionDescriptor Descriptor { get; } = new(
        Name,
        "Turns on BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy and RestrictPublicBuckets for the bucket.",
        ["s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"]);

    public async Task<string> ApplyAsync(ScopedS3Client client, string bucket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);

        PublicAccessBlockConfiguration? current = await client.GetPublicAccessBlockAsync(bucket, cancellationToken);
        IReadOnlyList<string> off = SettingsOff(current);
        if (off.Count == 0)
        {
            return "nothing to change: all four public access block settings are on";
        }

        var all = new PublicAccessBlockConfiguration
        {
            BlockPublicAcls = true,
            IgnorePublicAcls = true,
            BlockPublicPolicy = true,
            RestrictPublicBuckets = true,
        };
        await client.PutPublicAccessBlockAsync(bucket, all, cancellationToken);

        return $"turned on {string.Join(", ", off)}";
    }

    /// <summary>Returns the names of the settings that are off; all four when there is no configuration.</summary>
    public static IReadOnlyList<string> SettingsOff(PublicAccessBlockConfiguration? configuration)
    {
        var off = new List<string>();
        if (configuration?.BlockPublicAcls != true)
        {
            off.Add("BlockPublicAcls");
        }

        if (configuration?.IgnorePublicAcls != true)
        {
            off.Add("IgnorePublicAcls");
        }

        if (configuration?.BlockPublicPolicy != true)
        {
            off.Add("BlockPublicPolicy");
        }

        if (configuration?.RestrictPublicBuckets != true)
        {
            off.Add("RestrictPublicBuckets");
        }

        return off;
    }
}
