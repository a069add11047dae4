using System.Net;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.DurableTask;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Ledger;

/// <summary>The ledger as whole runs and the execute step write it, through the local host on the real stack.</summary>
public sealed class GrantLedgerRunTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private readonly LedgerTables _tables = new();
    private NhiTestHost _host = null!;
    private string _bucket = null!;

    private IGrantLedger Ledger => _host.Services.GetRequiredService<IGrantLedger>();

    public async Task InitializeAsync()
    {
        _host = await NhiTestHost.StartAsync(settings: _tables.HostSettings());
        _bucket = await _aws.CreateBucketAsync();
        await _aws.MakePublicAsync(_bucket, withPrivateStatement: false);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _aws.DeleteBucketAsync(_bucket);
        await _tables.DisposeAsync();
        _aws.Dispose();
    }

    [Fact]
    public async Task RunRecordsWholeLifecycle()
    {
        using HttpResponseMessage response = await _host.Http.PostAsync("/api/alerts/securityhub", FindingSamples.Json(FindingSamples.SecurityHubFor(_bucket)));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        string runId = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["runs"]![0]!["runId"]!.GetValue<string>();

        RunResult result = await _host.WaitForRunAsync(runId);

        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        GrantRecord grant = Assert.Single(await Ledger.ListByRunAsync(runId, CancellationToken.None));
        Assert.Equal(result.Attempts[0].GrantId, grant.GrantId);
        Assert.Equal(GrantStatuses.Verified, grant.Status);
        Assert.Equal(GrantRevokers.Run, grant.RevokedBy);
        Assert.Equal(result.Plan!.Scope, grant.Scope);
        Assert.NotNull(grant.IssuedAt);
        Assert.NotNull(grant.UsedAt);
        Assert.NotNull(grant.RevokedAt);
        Assert.NotNull(grant.VerifiedAt);
        Assert.True(grant.IssuedAt <= grant.UsedAt);
        Assert.True(grant.UsedAt <= grant.RevokedAt);
        Assert.Equal(result.CompletedAt, grant.RunEndedAt);
        Assert.Equal(result.Attempts[0].Report!.Grant.CredentialFingerprint, grant.CredentialFingerprint);
    }

    [Fact]
    public async Task RunGrantsEndpointListsLedger()
    {
        using HttpResponseMessage response = await _host.Http.PostAsync("/api/alerts/securityhub", FindingSamples.Json(FindingSamples.SecurityHubFor(_bucket)));
        string runId = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["runs"]![0]!["runId"]!.GetValue<string>();
        RunResult result = await _host.WaitForRunAsync(runId);

        JsonNode body = JsonNode.Parse(await _host.Http.GetStringAsync($"/api/runs/{runId}/grants"))!;

        JsonNode grant = Assert.Single(body["grants"]!.AsArray())!;
        Assert.Equal(result.Attempts[0].GrantId, grant["grantId"]!.GetValue<string>());
        Assert.Equal(GrantStatuses.Verified, grant["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task RetriedStepRevokesEarlierCredential()
    {
        // The first execution recorded its grant and got a credential, then its host died before revoking it.
        RemediationPlan plan = _aws.Plan(_aws.PlaybookScope(_bucket));
        var request = new GrantRequest(RunIds.GrantIdFor(plan.RunId, Guid.NewGuid()), plan.RunId, plan.Scope, plan.GrantLifetime, DateTimeOffset.UtcNow);
        await Ledger.RecordRequestedAsync(GrantRecord.Requested(plan.Broker, request, TimeSpan.FromMinutes(5)), CancellationToken.None);
        Lease<AwsSessionCredential> earlier = await _host.Services.GetRequiredService<StsGrantBroker>().IssueAsync(request, CancellationToken.None);
        int issuedBefore = _host.IssuedCredentials.Count;

        var step = ActivatorUtilities.CreateInstance<ExecuteWithGrantActivity>(_host.Services);
        await Assert.ThrowsAsync<GrantAlreadyRequestedException>(
            () => step.RunAsync(new TestActivityContext(nameof(ExecuteWithGrantActivity), plan.RunId), new ExecuteWithGrantInput(plan, request)));

        Assert.Equal(issuedBefore, _host.IssuedCredentials.Count);
        Assert.Equal(403, await ProbeStatusAsync(earlier));
        GrantRecord stored = (await Ledger.GetAsync(request.GrantId, CancellationToken.None))!;
        Assert.Equal(GrantRevokers.Retry, stored.RevokedBy);
        Assert.Equal(GrantStatuses.Verified, stored.Status);
    }

    private async Task<int> ProbeStatusAsync(Lease<AwsSessionCredential> lease)
    {
        using AmazonS3Client client = _aws.S3Clients.CreateClient(
            new SessionAWSCredentials(lease.Credential.AccessKeyId, lease.Credential.SecretAccessKey, lease.Credential.SessionToken));
        try
        {
            await client.GetBucketAclAsync(new GetBucketAclRequest { BucketName = _bucket });
            return 200;
        }
        catch (AmazonS3Exception denied)
        {
            return (int)denied.StatusCode;
        }
    }

    private sealed class TestActivityContext(string name, string instanceId) : TaskActivityContext
    {
        public override TaskName Name { get; } = name;

        public override string InstanceId { get; } = instanceId;
    }
}
