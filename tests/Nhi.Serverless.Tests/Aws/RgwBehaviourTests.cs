using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Aws;

// Pins the Ceph RGW and AWSSDK.S3 behaviours the adapter is built around, so a change in either shows up here first.
public sealed class RgwBehaviourTests : IDisposable
{
    private readonly AwsTestStack _stack = new();

    private StsGrantBroker Broker => _stack.Get<StsGrantBroker>();

    [Fact]
    public async Task PublicAccessBlockActions_AreEnforcedByName()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            string arn = _stack.BucketArn(bucket);
            GrantRequest withPut = _stack.NewGrant(Scope.Create("aws", arn, ["s3:PutBucketPublicAccessBlock"]));
            GrantRequest withoutPut = _stack.NewGrant(Scope.Create("aws", arn, ["s3:GetBucketPublicAccessBlock", "s3:PutBucketPolicy", "s3:PutBucketAcl"]));
            Lease<AwsSessionCredential> allowedLease = await Broker.IssueAsync(withPut, CancellationToken.None);
            Lease<AwsSessionCredential> deniedLease = await Broker.IssueAsync(withoutPut, CancellationToken.None);
            using AmazonS3Client allowed = ClientFor(allowedLease);
            using AmazonS3Client denied = ClientFor(deniedLease);

            HttpStatusCode deniedStatus = await PutBlockStatusAsync(denied, bucket);
            HttpStatusCode allowedStatus = await PutBlockStatusAsync(allowed, bucket);
            await Broker.RevokeAsync(withPut, pruneExpired: false, CancellationToken.None);
            await Broker.RevokeAsync(withoutPut, pruneExpired: false, CancellationToken.None);

            Assert.Equal(HttpStatusCode.Forbidden, deniedStatus);
            Assert.Equal(HttpStatusCode.OK, allowedStatus);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task SdkGetPublicAccessBlock_ReadsNoConfiguration()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            await _stack.Owner.PutPublicAccessBlockAsync(new PutPublicAccessBlockRequest
            {
                BucketName = bucket,
                PublicAccessBlockConfiguration = new PublicAccessBlockConfiguration
                {
                    BlockPublicAcls = true,
                    IgnorePublicAcls = true,
                    BlockPublicPolicy = true,
                    RestrictPublicBuckets = true,
                },
            });

            GetPublicAccessBlockResponse response = await _stack.Owner.GetPublicAccessBlockAsync(new GetPublicAccessBlockRequest { BucketName = bucket });

            Assert.Equal(HttpStatusCode.OK, response.HttpStatusCode);
            Assert.Null(response.PublicAccessBlockConfiguration);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task BlockPublicPolicy_RejectsPublicPolicyOnly()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            await _stack.Owner.PutPublicAccessBlockAsync(new PutPublicAccessBlockRequest
            {
                BucketName = bucket,
                PublicAccessBlockConfiguration = new PublicAccessBlockConfiguration { BlockPublicPolicy = true },
            });
            string privatePolicy = $$"""{"Version":"2012-10-17","Statement":[{{_stack.PrivateStatement(bucket)}}]}""";

            var rejected = await Assert.ThrowsAsync<AmazonS3Exception>(() => _stack.MakePublicAsync(bucket, withPrivateStatement: false));
            PutBucketPolicyResponse accepted = await _stack.Owner.PutBucketPolicyAsync(new PutBucketPolicyRequest { BucketName = bucket, Policy = privatePolicy });

            Assert.Equal(HttpStatusCode.Forbidden, rejected.StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, accepted.HttpStatusCode);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task SdkGetBucketPolicy_DoesNotThrowOn404()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            GetBucketPolicyResponse response = await _stack.Owner.GetBucketPolicyAsync(new GetBucketPolicyRequest { BucketName = bucket });

            Assert.Equal(HttpStatusCode.NotFound, response.HttpStatusCode);
            Assert.Contains("<Code>NoSuchBucketPolicy</Code>", response.Policy);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task SdkAclBody_IsRejected()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            GetBucketAclResponse acl = await _stack.Owner.GetBucketAclAsync(new GetBucketAclRequest { BucketName = bucket });
            var request = new PutBucketAclRequest
            {
                BucketName = bucket,
                AccessControlPolicy = new S3AccessControlList { Owner = acl.Owner, Grants = acl.Grants },
            };

            var exception = await Assert.ThrowsAsync<AmazonS3Exception>(() => _stack.Owner.PutBucketAclAsync(request));

            Assert.Equal("InvalidArgument", exception.ErrorCode);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    public void Dispose() => _stack.Dispose();

    private AmazonS3Client ClientFor(Lease<AwsSessionCredential> lease) =>
        _stack.S3Clients.CreateClient(new SessionAWSCredentials(lease.Credential.AccessKeyId, lease.Credential.SecretAccessKey, lease.Credential.SessionToken));

    private static async Task<HttpStatusCode> PutBlockStatusAsync(AmazonS3Client client, string bucket)
    {
        try
        {
            PutPublicAccessBlockResponse response = await client.PutPublicAccessBlockAsync(new PutPublicAccessBlockRequest
            {
                BucketName = bucket,
                PublicAccessBlockConfiguration = new PublicAccessBlockConfiguration { BlockPublicAcls = true },
            });
            return response.HttpStatusCode;
        }
        catch (AmazonS3Exception exception)
        {
            return exception.StatusCode;
        }
    }
}
