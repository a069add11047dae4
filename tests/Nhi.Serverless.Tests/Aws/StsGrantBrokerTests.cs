using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.Iam;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Xunit.Abstractions;

namespace Nhi.Serverless.Tests.Aws;

// Runs against Ceph RGW from infra/local/stack.sh; every test creates and deletes its own nhi-test-* buckets.
public sealed class StsGrantBrokerTests(ITestOutputHelper output) : IDisposable
{
    private readonly AwsTestStack _stack = new();

    private StsGrantBroker Broker => _stack.Get<StsGrantBroker>();

    [Fact]
    public async Task Lease_CannotAssumeTheRoleAgain()
    {
        // A session that could assume the role again would get a session without the grant's scope, which the
        // grant's revocation would not reach.
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            GrantRequest grant = _stack.NewGrant(Scope.Create("aws", _stack.BucketArn(bucket), ["s3:GetObject", "s3:ListBucket"]));
            Lease<AwsSessionCredential> lease = await Broker.IssueAsync(grant, CancellationToken.None);
            try
            {
                using var sts = new Amazon.SecurityToken.AmazonSecurityTokenServiceClient(
                    new SessionAWSCredentials(lease.Credential.AccessKeyId, lease.Credential.SecretAccessKey, lease.Credential.SessionToken),
                    new Amazon.SecurityToken.AmazonSecurityTokenServiceConfig
                    {
                        ServiceURL = _stack.Options.ResolveStsEndpoint().ToString(),
                        AuthenticationRegion = _stack.Options.Region,
                        IgnoreConfiguredEndpointUrls = true,
                    });

                await Assert.ThrowsAnyAsync<AmazonServiceException>(() => sts.AssumeRoleAsync(new Amazon.SecurityToken.Model.AssumeRoleRequest
                {
                    RoleArn = _stack.Options.RoleArn,
                    RoleSessionName = "nhi-chain-probe",
                    DurationSeconds = 900,
                }));
            }
            finally
            {
                await Broker.RevokeAsync(grant, CancellationToken.None);
            }
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task Lease_IsDeniedOnAnotherBucket()
    {
        string bucket = await _stack.CreateBucketAsync();
        string other = await _stack.CreateBucketAsync();
        try
        {
            GrantRequest grant = _stack.NewGrant(_stack.PlaybookScope(bucket));
            Lease<AwsSessionCredential> lease = await Broker.IssueAsync(grant, CancellationToken.None);
            using AmazonS3Client client = ClientFor(lease);

            GetBucketAclResponse own = await client.GetBucketAclAsync(new GetBucketAclRequest { BucketName = bucket });
            var onOther = await Assert.ThrowsAsync<AmazonS3Exception>(() => client.GetBucketAclAsync(new GetBucketAclRequest { BucketName = other }));
            var listAll = await Assert.ThrowsAsync<AmazonS3Exception>(() => client.ListBucketsAsync(new ListBucketsRequest()));

            Assert.Equal(HttpStatusCode.OK, own.HttpStatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, onOther.StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, listAll.StatusCode);

            await Broker.RevokeAsync(grant, CancellationToken.None);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
            await _stack.DeleteBucketAsync(other);
        }
    }

    [Fact]
    public async Task Lease_HasPublicFactsOnly()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            GrantRequest grant = _stack.NewGrant(_stack.PlaybookScope(bucket));
            Lease<AwsSessionCredential> lease = await Broker.IssueAsync(grant, CancellationToken.None);
            await Broker.RevokeAsync(grant, CancellationToken.None);

            Assert.Equal($"{_stack.Options.RoleId}:{SessionNames.For(grant.GrantId)}", lease.Grant.Principal);
            Assert.Equal("aws-sts", lease.Grant.Broker);
            Assert.StartsWith("hmac-sha256:", lease.Grant.CredentialFingerprint);
            Assert.DoesNotContain(lease.Credential.AccessKeyId, lease.Grant.CredentialFingerprint);
            Assert.InRange(lease.Grant.ExpiresAt - lease.Grant.IssuedAt, TimeSpan.FromMinutes(14), TimeSpan.FromMinutes(16));
            Assert.DoesNotContain(lease.Credential.SecretAccessKey, lease.ToString());
            Assert.DoesNotContain(lease.Credential.SecretAccessKey, lease.Credential.ToString());
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task Revoke_CutsOnlyThatSession()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            Scope scope = _stack.PlaybookScope(bucket);
            GrantRequest revokedGrant = _stack.NewGrant(scope);
            GrantRequest otherGrant = _stack.NewGrant(scope);
            Lease<AwsSessionCredential>[] leases = await Task.WhenAll(
                Broker.IssueAsync(revokedGrant, CancellationToken.None),
                Broker.IssueAsync(otherGrant, CancellationToken.None));
            using AmazonS3Client revokedClient = ClientFor(leases[0]);
            using AmazonS3Client otherClient = ClientFor(leases[1]);

            Assert.Equal(HttpStatusCode.OK, await AclStatusAsync(revokedClient, bucket));
            Assert.Equal(HttpStatusCode.OK, await AclStatusAsync(otherClient, bucket));

            RevocationOutcome revocation = await Broker.RevokeAsync(revokedGrant, CancellationToken.None);

            Assert.Null(revocation.Error);
            Assert.Equal(HttpStatusCode.Forbidden, await AclStatusAsync(revokedClient, bucket));
            Assert.Equal(HttpStatusCode.OK, await AclStatusAsync(otherClient, bucket));

            RevocationOutcome otherRevocation = await Broker.RevokeAsync(otherGrant, CancellationToken.None);
            Assert.Equal(HttpStatusCode.Forbidden, await AclStatusAsync(otherClient, bucket));
            Assert.Null(otherRevocation.Error);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task ProveRevoked_RecordsDenial()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            GrantRequest grant = _stack.NewGrant(_stack.PlaybookScope(bucket));
            Lease<AwsSessionCredential> lease = await Broker.IssueAsync(grant, CancellationToken.None);
            var calls = new ApiCallLog();

            RevocationOutcome revocation = await Broker.RevokeAsync(grant, pruneExpired: false, CancellationToken.None);
            RevocationOutcome proof = await Broker.ProveRevokedAsync(lease, revocation, calls, CancellationToken.None);
            output.WriteLine(proof.Evidence);

            Assert.True(proof.Proven, proof.Evidence);
            Assert.Equal("iam-deny-session-policy", proof.Method);
            Assert.Equal(proof.ProvenAt, proof.ValidUntil);
            Assert.Null(proof.Error);
            Assert.Contains("s3:GetBucketAcl", proof.Evidence);
            ApiCall last = calls.Snapshot()[^1];
            Assert.Equal(ApiCallPurposes.RevocationProbe, last.Purpose);
            Assert.Equal(ApiCallOutcomes.Denied, last.Outcome);
            Assert.Equal(403, last.StatusCode);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task ProveRevoked_ObjectRead_UsesListBucket()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            Scope scope = Scope.Create("aws", _stack.BucketArn(bucket), ["s3:GetObject", "s3:ListBucket"]);
            GrantRequest grant = _stack.NewGrant(scope);
            Lease<AwsSessionCredential> lease = await Broker.IssueAsync(grant, CancellationToken.None);
            using AmazonS3Client client = ClientFor(lease);
            using GetObjectResponse read = await client.GetObjectAsync(bucket, "hello.txt");
            Assert.Equal(HttpStatusCode.OK, read.HttpStatusCode);
            var calls = new ApiCallLog();

            RevocationOutcome revocation = await Broker.RevokeAsync(grant, pruneExpired: false, CancellationToken.None);
            RevocationOutcome proof = await Broker.ProveRevokedAsync(lease, revocation, calls, CancellationToken.None);
            output.WriteLine(proof.Evidence);

            Assert.True(proof.Proven, proof.Evidence);
            Assert.Contains("s3:ListBucket", proof.Evidence);
            ApiCall last = calls.Snapshot()[^1];
            Assert.Equal("s3:ListBucket", last.Action);
            Assert.Equal(ApiCallOutcomes.Denied, last.Outcome);
            var afterRevocation = await Assert.ThrowsAsync<AmazonS3Exception>(() => client.GetObjectAsync(bucket, "hello.txt"));
            Assert.Equal(HttpStatusCode.Forbidden, afterRevocation.StatusCode);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task Revoke_NeverIssuedGrant_Succeeds()
    {
        GrantRequest grant = _stack.NewGrant(_stack.PlaybookScope("nhi-test-never-issued"));

        RevocationOutcome first = await Broker.RevokeAsync(grant, CancellationToken.None);
        RevocationOutcome second = await Broker.RevokeAsync(grant, CancellationToken.None);
        (bool present, _) = await Broker.ConfirmDenyPolicyAsync(grant, CancellationToken.None);

        Assert.NotNull(first.RevokedAt);
        Assert.Null(first.Error);
        Assert.NotNull(second.RevokedAt);
        Assert.Null(second.Error);
        Assert.True(present);
        Assert.Equal(Broker.LatestPossibleExpiry(grant), first.ValidUntil);
    }

    [Fact]
    public async Task Issue_StaleRequest_IsRejected()
    {
        GrantRequest fresh = _stack.NewGrant(_stack.PlaybookScope("nhi-test-stale"));
        GrantRequest stale = fresh with { RequestedAt = DateTimeOffset.UtcNow - _stack.Options.ClockSkewAllowance - TimeSpan.FromMinutes(1) };

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Broker.IssueAsync(stale, CancellationToken.None));

        Assert.Contains("too long ago", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LatestExpiry_FollowsRequestedLifetime()
    {
        GrantRequest grant = _stack.NewGrant(_stack.PlaybookScope("nhi-test-expiry"));

        DateTimeOffset latest = Broker.LatestPossibleExpiry(grant);

        Assert.Equal(grant.RequestedAt + TimeSpan.FromMinutes(15) + (2 * _stack.Options.ClockSkewAllowance), latest);
    }

    [Fact]
    public async Task RevokedGrant_CannotBeIssuedAfterwards()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            GrantRequest grant = _stack.NewGrant(_stack.PlaybookScope(bucket));
            await Broker.RevokeAsync(grant, CancellationToken.None);

            Lease<AwsSessionCredential> lease = await Broker.IssueAsync(grant, CancellationToken.None);
            using AmazonS3Client client = ClientFor(lease);

            Assert.Equal(HttpStatusCode.Forbidden, await AclStatusAsync(client, bucket));
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task Revoker_ConfirmsDenyPolicyWithoutProof()
    {
        GrantRequest grant = _stack.NewGrant(_stack.PlaybookScope("nhi-test-revoker"));

        RevocationOutcome outcome = await _stack.Get<IGrantRevoker>().EnsureRevokedAsync("aws-sts", grant, CancellationToken.None);

        Assert.NotNull(outcome.RevokedAt);
        Assert.False(outcome.Proven);
        Assert.Null(outcome.Error);
        Assert.Contains("present on role", outcome.Evidence);
        Assert.Equal(Broker.LatestPossibleExpiry(grant), outcome.ValidUntil);
    }

    [Fact]
    public async Task Revoker_RejectsOtherBroker()
    {
        GrantRequest grant = _stack.NewGrant(_stack.PlaybookScope("nhi-test-revoker"));

        await Assert.ThrowsAsync<ArgumentException>(() => _stack.Get<IGrantRevoker>().EnsureRevokedAsync("azure-sas", grant, CancellationToken.None));
    }

    [Fact]
    public async Task Revoke_PrunesExpiredDenyPolicies()
    {
        string expiredName = RevocationPolicy.NameFor("nhi-test" + Guid.NewGuid().ToString("N"));
        string liveName = RevocationPolicy.NameFor("nhi-test" + Guid.NewGuid().ToString("N"));
        string roleName = _stack.Options.RoleName;
        await _stack.Iam.PutRolePolicyAsync(roleName, expiredName, RevocationPolicy.Create("role:expired", DateTimeOffset.UtcNow.AddMinutes(-1)), CancellationToken.None);
        await _stack.Iam.PutRolePolicyAsync(roleName, liveName, RevocationPolicy.Create("role:live", DateTimeOffset.UtcNow.AddHours(1)), CancellationToken.None);

        await Broker.RevokeAsync(_stack.NewGrant(_stack.PlaybookScope("nhi-test-prune")), CancellationToken.None);
        IReadOnlyList<string> remaining = await _stack.Iam.ListRolePoliciesAsync(roleName, CancellationToken.None);

        Assert.DoesNotContain(expiredName, remaining);
        Assert.Contains(liveName, remaining);
        await _stack.Iam.DeleteRolePolicyAsync(roleName, liveName, CancellationToken.None);
    }

    [Fact]
    public async Task Issue_TooOldRequest_IsRejected()
    {
        GrantRequest grant = _stack.NewGrant(_stack.PlaybookScope("nhi-test-old")) with { RequestedAt = DateTimeOffset.UtcNow.AddHours(-2) };

        var exception = await Assert.ThrowsAsync<InvalidOperationException>(() => Broker.IssueAsync(grant, CancellationToken.None));

        Assert.Contains("request a new grant", exception.Message);
    }

    [Fact]
    public async Task Logs_HoldNoCredential()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            GrantRequest grant = _stack.NewGrant(_stack.PlaybookScope(bucket));
            Lease<AwsSessionCredential> lease = await Broker.IssueAsync(grant, CancellationToken.None);
            RevocationOutcome revocation = await Broker.RevokeAsync(grant, CancellationToken.None);
            await Broker.ProveRevokedAsync(lease, revocation, CancellationToken.None);

            string logs = string.Join("\n", _stack.Logs.Lines);
            Assert.Contains(grant.GrantId, logs);
            Assert.DoesNotContain(lease.Credential.AccessKeyId, logs);
            Assert.DoesNotContain(lease.Credential.SecretAccessKey, logs);
            Assert.DoesNotContain(lease.Credential.SessionToken, logs);
            Assert.DoesNotContain(_stack.Options.SecretAccessKey!, logs);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    public void Dispose() => _stack.Dispose();

    private AmazonS3Client ClientFor(Lease<AwsSessionCredential> lease) =>
        _stack.S3Clients.CreateClient(new SessionAWSCredentials(lease.Credential.AccessKeyId, lease.Credential.SecretAccessKey, lease.Credential.SessionToken));

    private static async Task<HttpStatusCode> AclStatusAsync(AmazonS3Client client, string bucket)
    {
        try
        {
            GetBucketAclResponse response = await client.GetBucketAclAsync(new GetBucketAclRequest { BucketName = bucket });
            return response.HttpStatusCode;
        }
        catch (AmazonS3Exception exception)
        {
            return exception.StatusCode;
        }
    }
}
