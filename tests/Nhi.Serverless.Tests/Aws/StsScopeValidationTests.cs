using Amazon.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.Iam;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Aws;

// ValidateScope makes no call, so this broker points at an address nothing listens on and is never contacted.
public sealed class StsScopeValidationTests : IDisposable
{
    private const string BucketArn = "arn:aws:s3:::nhi-test-scope";

    private readonly HttpClient _http = new();
    private readonly IamQueryClient _iam;
    private readonly S3ClientFactory _s3Clients;
    private readonly StsGrantBroker _broker;

    public StsScopeValidationTests()
    {
        var options = new AwsOptions
        {
            Region = "us-east-1",
            StsEndpoint = "http://127.0.0.1:9",
            S3Endpoint = "http://127.0.0.1:9",
            IamEndpoint = "http://127.0.0.1:9",
            RoleName = "nhi-remediation",
            RoleArn = "arn:aws:iam::123456789012:role/nhi-remediation",
            RoleId = "AROAEXAMPLEROLEID",
            AccessKeyId = "AKIDEXAMPLE",
            SecretAccessKey = "not-a-secret",
        };
        _iam = new IamQueryClient(_http, options.ResolveIamEndpoint(), "us-east-1", () => new AnonymousAWSCredentials(), TimeProvider.System);
        _s3Clients = new S3ClientFactory(options, _http, TimeProvider.System);
        _broker = new StsGrantBroker(
            options,
            ServiceCollectionExtensions.CreateStsClient(options),
            _iam,
            _s3Clients,
            new TestFingerprinter(),
            TimeProvider.System,
            NullLogger<StsGrantBroker>.Instance);
    }

    [Fact]
    public void OneBucketWithS3Actions_IsAccepted()
    {
        _broker.ValidateScope(Scope.Create("aws", BucketArn, ["s3:GetBucketAcl", "s3:PutBucketAcl", "s3:GetObject"]));
    }

    [Theory]
    [InlineData("arn:aws:s3:::nhi-test-*")]
    [InlineData("arn:aws:s3:::*")]
    [InlineData("arn:aws:s3:::nhi-test-?")]
    [InlineData("arn:aws:s3:::nhi-test-scope/*")]
    [InlineData("arn:aws:s3:::nhi-test-scope/key")]
    [InlineData("*")]
    public void WildcardOrObjectResource_IsRejected(string resource)
    {
        Assert.Throws<ScopeNotSupportedException>(() => _broker.ValidateScope(Scope.Create("aws", resource, ["s3:GetBucketAcl"])));
    }

    [Theory]
    [InlineData("arn:aws:s3:::bucket-one,arn:aws:s3:::bucket-two")]
    [InlineData("arn:aws:s3:::bucket-one arn:aws:s3:::bucket-two")]
    [InlineData("[\"arn:aws:s3:::bucket-one\",\"arn:aws:s3:::bucket-two\"]")]
    public void TwoBuckets_AreRejected(string resource)
    {
        Assert.Throws<ScopeNotSupportedException>(() => _broker.ValidateScope(Scope.Create("aws", resource, ["s3:GetBucketAcl"])));
    }

    [Theory]
    [InlineData("iam:PutRolePolicy")]
    [InlineData("sts:AssumeRole")]
    [InlineData("s3:*")]
    [InlineData("s3:Get*")]
    [InlineData("*")]
    [InlineData("s3:ListAllMyBuckets")]
    public void OtherServiceOrWildcardAction_IsRejected(string permission)
    {
        Assert.Throws<ScopeNotSupportedException>(() => _broker.ValidateScope(Scope.Create("aws", BucketArn, ["s3:GetBucketAcl", permission])));
    }

    [Fact]
    public void OtherProvider_IsRejected()
    {
        Assert.Throws<ScopeNotSupportedException>(() => _broker.ValidateScope(Scope.Create("azure", BucketArn, ["s3:GetBucketAcl"])));
    }

    [Fact]
    public void OtherPartition_IsRejected()
    {
        Assert.Throws<ScopeNotSupportedException>(() => _broker.ValidateScope(Scope.Create("aws", "arn:aws-cn:s3:::nhi-test-scope", ["s3:GetBucketAcl"])));
    }

    [Fact]
    public void NoPermissions_AreRejected()
    {
        Assert.Throws<ScopeNotSupportedException>(() => _broker.ValidateScope(Scope.Create("aws", BucketArn, [])));
    }

    public void Dispose()
    {
        _iam.Dispose();
        _s3Clients.Dispose();
        _http.Dispose();
    }
}
