using Amazon.S3;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Aws.S3.Actions;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Tests.Aws;

/// <summary>An action that reads the ACL and then fails, standing in for any step that throws mid-run.</summary>
public sealed class FailingAction : IS3RemediationAction
{
    public const string Name = "test.fail-after-read";

    public RemediationActionDescriptor Descriptor { get; } = new(Name, "Reads the bucket ACL, then throws.", ["s3:GetBucketAcl"]);

    public async Task<string> ApplyAsync(ScopedS3Client client, string bucket, CancellationToken cancellationToken)
    {
        await client.GetBucketAclAsync(bucket, cancellationToken);
        throw new InvalidOperationException("Injected failure after reading the bucket ACL.");
    }
}

/// <summary>An action that deletes the bucket with the owner's credentials, so later steps find it gone.</summary>
public sealed class DeleteBucketAction(Func<string, Task> deleteBucket) : IS3RemediationAction
{
    public const string Name = "test.delete-bucket";

    public RemediationActionDescriptor Descriptor { get; } = new(Name, "Deletes the bucket as its owner.", []);

    public async Task<string> ApplyAsync(ScopedS3Client client, string bucket, CancellationToken cancellationToken)
    {
        await deleteBucket(bucket);
        return "deleted the bucket";
    }
}

/// <summary>An action that calls DeleteBucketPolicy while declaring only GetBucketAcl.</summary>
public sealed class UndeclaredCallAction : IS3RemediationAction
{
    public const string Name = "test.undeclared-call";

    public RemediationActionDescriptor Descriptor { get; } = new(Name, "Declares GetBucketAcl but deletes the policy.", ["s3:GetBucketAcl"]);

    public async Task<string> ApplyAsync(ScopedS3Client client, string bucket, CancellationToken cancellationToken)
    {
        await client.DeleteBucketPolicyAsync(bucket, cancellationToken);
        return "deleted the policy";
    }
}

internal static class AmazonS3ExceptionExtensions
{
    public static bool IsDenied(this AmazonS3Exception exception) => exception.StatusCode == System.Net.HttpStatusCode.Forbidden;
}
