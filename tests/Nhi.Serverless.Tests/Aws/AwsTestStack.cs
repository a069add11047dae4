using System.Collections.Concurrent;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Amazon.SecurityToken;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.Iam;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Aws;

/// <summary>
/// The adapter wired against the local Ceph RGW, plus the bucket owner's client that tests use to set buckets up
/// and inspect them. Every setting comes from <see cref="LocalStack"/>, so a missing stack fails the test with
/// the command that starts it.
/// </summary>
public sealed class AwsTestStack : IDisposable
{
    private readonly ServiceProvider _services;
    private readonly ConcurrentBag<string> _grantIds = [];

    static AwsTestStack()
    {
        // Keeps the SDK from ever asking the EC2 instance metadata endpoint for credentials or a region.
        Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
    }

    public AwsTestStack(Action<IServiceCollection>? configure = null)
    {
        Options = ReadOptions();
        RequireReachable(new Uri(Options.S3Endpoint!));
        Logs = new CapturingLoggerProvider();
        Fingerprinter = new TestFingerprinter();

        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddProvider(Logs).SetMinimumLevel(LogLevel.Trace));
        services.AddSingleton<ICredentialFingerprinter>(Fingerprinter);
        services.AddAwsRemediation(Options);
        services.AddSingleton<IAmazonSecurityTokenService>(_ => new RecordingStsClient(Options, IssuedCredentials));
        configure?.Invoke(services);
        _services = services.BuildServiceProvider();

        S3Clients = Get<S3ClientFactory>();
        Owner = S3Clients.CreateClient(new BasicAWSCredentials(LocalStack.Get("NHI_OWNER_ACCESS_KEY_ID"), LocalStack.Get("NHI_OWNER_SECRET_ACCESS_KEY")));
    }

    public AwsOptions Options { get; }

    public CapturingLoggerProvider Logs { get; }

    public TestFingerprinter Fingerprinter { get; }

    /// <summary>Every credential STS issued through the adapter, so tests can search outputs for its values.</summary>
    public List<Amazon.SecurityToken.Model.Credentials> IssuedCredentials { get; } = [];

    public S3ClientFactory S3Clients { get; }

    /// <summary>The bucket owner's S3 client.</summary>
    public AmazonS3Client Owner { get; }

    public IamQueryClient Iam => Get<IamQueryClient>();

    public T Get<T>()
        where T : notnull => _services.GetRequiredService<T>();

    public static AwsOptions ReadOptions() => new()
    {
        Region = LocalStack.Get("NHI_AWS_REGION"),
        Partition = LocalStack.Get("NHI_AWS_PARTITION"),
        S3Endpoint = LocalStack.Get("NHI_S3_ENDPOINT"),
        StsEndpoint = LocalStack.Get("NHI_STS_ENDPOINT"),
        IamEndpoint = LocalStack.Get("NHI_IAM_ENDPOINT"),
        ForcePathStyle = true,
        RoleName = LocalStack.Get("NHI_REMEDIATION_ROLE_NAME"),
        RoleArn = LocalStack.Get("NHI_REMEDIATION_ROLE_ARN"),
        RoleId = LocalStack.Get("NHI_REMEDIATION_ROLE_ID"),
        AccessKeyId = LocalStack.Get("NHI_SERVICE_ACCESS_KEY_ID"),
        SecretAccessKey = LocalStack.Get("NHI_SERVICE_SECRET_ACCESS_KEY"),
    };

    // Fails at once with the command that starts the stack, instead of with a connection error deep in a test.
    private static void RequireReachable(Uri endpoint)
    {
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            if (client.ConnectAsync(endpoint.Host, endpoint.Port).Wait(TimeSpan.FromSeconds(3)))
            {
                return;
            }
        }
        catch (AggregateException)
        {
            // Connection refused; reported below.
        }

        throw new InvalidOperationException(
            $"Ceph RGW is not reachable at {endpoint}. Start the local stack with `infra/local/stack.sh up`.");
    }

    public string BucketArn(string bucket) => S3BucketArn.Format(Options.Partition, bucket);

    public Scope PlaybookScope(string bucket) =>
        AwsPlaybooks.S3BucketPublicAccess.ScopeFor(
            new CloudResource("aws", Options.Partition, "", Options.Region, "AwsS3Bucket", BucketArn(bucket), bucket));

    /// <summary>Returns a grant request with a fresh id; <see cref="Dispose"/> deletes the deny policy revoking it, if any.</summary>
    public GrantRequest NewGrant(Scope scope)
    {
        var grant = new GrantRequest(Guid.NewGuid().ToString(), "run-test-" + Guid.NewGuid().ToString("N")[..8], scope, TimeSpan.FromMinutes(15), DateTimeOffset.UtcNow);
        _grantIds.Add(grant.GrantId);
        return grant;
    }

    public RemediationPlan Plan(Scope scope, IReadOnlyList<string>? actions = null, string? outOfScopeProbe = null) => new(
        "run-test-" + Guid.NewGuid().ToString("N")[..8],
        AwsPlaybooks.S3BucketPublicAccessName,
        actions ?? AwsPlaybooks.S3BucketPublicAccess.Actions.Select(action => action.Name).ToArray(),
        scope,
        "aws-sts",
        TimeSpan.FromMinutes(15),
        1,
        Options.Region,
        outOfScopeProbe);

    /// <summary>Creates a private bucket with one object, hello.txt.</summary>
    /// <param name="name">The bucket name; a fresh name nhi-test-{random} when null.</param>
    public async Task<string> CreateBucketAsync(string? name = null)
    {
        string bucket = name ?? "nhi-test-" + Guid.NewGuid().ToString("N")[..12];
        await Owner.PutBucketAsync(new PutBucketRequest { BucketName = bucket });
        await Owner.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "hello.txt", ContentBody = "hello" });
        return bucket;
    }

    /// <summary>
    /// Makes a bucket public: a public-read canned ACL and a policy whose public statement lets anyone read objects.
    /// With <paramref name="withPrivateStatement"/>, the policy also has a statement that is not public and must survive.
    /// </summary>
    public async Task<string> MakePublicAsync(string bucket, bool withPrivateStatement)
    {
        await Owner.PutBucketAclAsync(new PutBucketAclRequest { BucketName = bucket, ACL = S3CannedACL.PublicRead });

        string publicStatement =
            $$"""{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"{{BucketArn(bucket)}}/*"}""";
        string statements = withPrivateStatement ? publicStatement + "," + PrivateStatement(bucket) : publicStatement;
        string policy = $$"""{"Version":"2012-10-17","Statement":[{{statements}}]}""";
        await Owner.PutBucketPolicyAsync(new PutBucketPolicyRequest { BucketName = bucket, Policy = policy });
        return policy;
    }

    /// <summary>A statement that names anyone but is restricted to a private network, so it is not public.</summary>
    public string PrivateStatement(string bucket) =>
        $$"""{"Sid":"OfficeNetworkRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"{{BucketArn(bucket)}}/*","""
        + "\"Condition\":{\"IpAddress\":{\"aws:SourceIp\":\"10.20.0.0/16\"}}}";

    /// <summary>Deletes the bucket's objects and the bucket; a bucket that is already gone is fine.</summary>
    public async Task DeleteBucketAsync(string bucket)
    {
        try
        {
            ListObjectsV2Response listing = await Owner.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });
            foreach (S3Object item in listing.S3Objects ?? [])
            {
                await Owner.DeleteObjectAsync(bucket, item.Key);
            }

            await Owner.DeleteBucketAsync(bucket);
        }
        catch (AmazonS3Exception exception) when (exception.ErrorCode == "NoSuchBucket")
        {
        }
    }

    /// <summary>Returns the HTTP status of an unsigned GET of the bucket's hello.txt.</summary>
    public async Task<int> AnonymousGetStatusAsync(string bucket)
    {
        using var http = new HttpClient();
        using HttpResponseMessage response = await http.GetAsync(new Uri(new Uri(Options.S3Endpoint!), $"/{bucket}/hello.txt"));
        return (int)response.StatusCode;
    }

    /// <summary>Returns the HTTP status of an unsigned ListObjects of the bucket.</summary>
    public async Task<int> AnonymousListStatusAsync(string bucket)
    {
        using var http = new HttpClient();
        using HttpResponseMessage response = await http.GetAsync(S3Clients.BucketUri(bucket, "list-type=2"));
        return (int)response.StatusCode;
    }

    // Deletes the deny policies of this test's grants, so test runs do not fill the shared role with them. That makes
    // the revoked test sessions valid again until they expire, but their credentials never leave this process.
    public void Dispose()
    {
        foreach (string grantId in _grantIds)
        {
            try
            {
                Iam.DeleteRolePolicyAsync(Options.RoleName, RevocationPolicy.NameFor(SessionNames.For(grantId)), CancellationToken.None).GetAwaiter().GetResult();
            }
            catch (IamServiceException exception) when (exception.IsNoSuchEntity)
            {
                // This grant was never revoked.
            }
        }

        Owner.Dispose();
        _services.Dispose();
    }
}
