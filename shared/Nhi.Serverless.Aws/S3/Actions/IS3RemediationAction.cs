using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Aws.S3.Actions;

/// <summary>One remediation step on one S3 bucket, with a stable name and the exact IAM actions it calls.</summary>
public interface IS3RemediationAction
{
    /// <summary>The step's name and declared permissions; the grant's session policy is generated from these.</summary>
    RemediationActionDescriptor Descriptor { get; }

    /// <summary>Applies the step and returns one line saying what changed, or "nothing to change".</summary>
    Task<string> ApplyAsync(ScopedS3Client client, string bucket, CancellationToken cancellationToken);
}
