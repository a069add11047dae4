using System.Net;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.DynamoDb.Grants;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Lambda;

/// <summary>
/// The sweeper function invoked as the Lambda runtime does with a scheduled event, on grants with real STS
/// credentials from Ceph RGW recorded in the DynamoDB ledger as a crashed run would leave them.
/// </summary>
[Collection(LambdaFunctionCollection.Name)]
public sealed class SweeperHandlerTests(LambdaFunctionFixture function) : IAsyncLifetime
{
    private const string ScheduledEvent =
        """{"version":"0","id":"5f0e1c7a-2b7d-4d3e-9d35-0a6c1f7d2b11","detail-type":"Scheduled Event","source":"aws.scheduler","account":"123456789012","time":"2026-05-14T10:05:00Z","region":"us-east-1","resources":["arn:aws:scheduler:us-east-1:123456789012:schedule/default/nhi-grant-sweeper"],"detail":{}}""";

    private DynamoDbGrantLedger _ledger = null!;
    private string _bucket = null!;

    public async Task InitializeAsync()
    {
        _ledger = new DynamoDbGrantLedger(function.Tables.Client, function.Tables.Options);
        _bucket = await function.Aws.CreateBucketAsync();
    }

    public async Task DisposeAsync() => await function.Aws.DeleteBucketAsync(_bucket);

    [Fact]
    public async Task GrantPastStepDeadlineIsRevoked()
    {
        (GrantRecord grant, Lease<AwsSessionCredential> lease) = await OpenGrantAsync(maxStepTime: TimeSpan.Zero);
        using AmazonS3Client client = ClientFor(lease);
        Assert.Equal(HttpStatusCode.OK, await AclStatusAsync(client));

        JsonNode report = JsonNode.Parse(await function.InvokeAsync(LambdaFunctionFixture.SweeperHandler, ScheduledEvent))!;

        Assert.True(SweptEntry(report, grant.GrantId)?["verified"]?.GetValue<bool>());
        Assert.Equal(HttpStatusCode.Forbidden, await AclStatusAsync(client));
        GrantRecord? stored = await _ledger.GetAsync(grant.GrantId, CancellationToken.None);
        Assert.Equal(GrantStatuses.Verified, stored?.Status);
        Assert.Equal(GrantRevokers.Sweeper, stored?.RevokedBy);
        Assert.Equal(StsGrantBroker.RevocationMethod, stored?.RevocationMethod);
    }

    [Fact]
    public async Task GrantOfEndedRunIsRevoked()
    {
        (GrantRecord grant, Lease<AwsSessionCredential> lease) = await OpenGrantAsync(maxStepTime: TimeSpan.FromMinutes(10));
        await _ledger.RecordRunEndedAsync(grant.RunId, DateTimeOffset.UtcNow, CancellationToken.None);
        using AmazonS3Client client = ClientFor(lease);

        JsonNode report = JsonNode.Parse(await function.InvokeAsync(LambdaFunctionFixture.SweeperHandler, ScheduledEvent))!;

        Assert.True(SweptEntry(report, grant.GrantId)?["verified"]?.GetValue<bool>());
        Assert.Equal(HttpStatusCode.Forbidden, await AclStatusAsync(client));
        Assert.False((await _ledger.GetAsync(grant.GrantId, CancellationToken.None))?.IsOpen);
    }

    [Fact]
    public async Task RunningGrantIsLeftAlone()
    {
        (GrantRecord grant, Lease<AwsSessionCredential> lease) = await OpenGrantAsync(maxStepTime: TimeSpan.FromMinutes(10));
        using AmazonS3Client client = ClientFor(lease);

        JsonNode report = JsonNode.Parse(await function.InvokeAsync(LambdaFunctionFixture.SweeperHandler, ScheduledEvent))!;

        Assert.Null(SweptEntry(report, grant.GrantId));
        Assert.Equal(HttpStatusCode.OK, await AclStatusAsync(client));
        Assert.Equal(GrantStatuses.Issued, (await _ledger.GetAsync(grant.GrantId, CancellationToken.None))?.Status);
        await function.Aws.Get<StsGrantBroker>().RevokeAsync(grant.ToRequest(), CancellationToken.None);
    }

    // Issues a real credential for the test bucket and records it as issued, as a run does before its step.
    private async Task<(GrantRecord Grant, Lease<AwsSessionCredential> Lease)> OpenGrantAsync(TimeSpan maxStepTime)
    {
        GrantRequest request = function.Aws.NewGrant(function.Aws.PlaybookScope(_bucket));
        GrantRecord grant = GrantRecord.Requested(StsGrantBroker.BrokerName, request, maxStepTime);
        Assert.True(await _ledger.RecordRequestedAsync(grant, CancellationToken.None));

        Lease<AwsSessionCredential> lease = await function.Aws.Get<StsGrantBroker>().IssueAsync(request, CancellationToken.None);
        await _ledger.RecordIssuedAsync(lease.Grant, CancellationToken.None);
        return (grant, lease);
    }

    private static JsonNode? SweptEntry(JsonNode report, string grantId) =>
        report["swept"]!.AsArray().FirstOrDefault(entry => entry!["grantId"]!.GetValue<string>() == grantId);

    private AmazonS3Client ClientFor(Lease<AwsSessionCredential> lease) =>
        function.Aws.S3Clients.CreateClient(
            new SessionAWSCredentials(lease.Credential.AccessKeyId, lease.Credential.SecretAccessKey, lease.Credential.SessionToken));

    private async Task<HttpStatusCode> AclStatusAsync(AmazonS3Client client)
    {
        try
        {
            GetBucketAclResponse response = await client.GetBucketAclAsync(new GetBucketAclRequest { BucketName = _bucket });
            return response.HttpStatusCode;
        }
        catch (AmazonS3Exception exception)
        {
            return exception.StatusCode;
        }
    }
}
