using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Orchestration;

/// <summary>Whole runs through the local host's HTTP API, on Ceph RGW and Azurite.</summary>
public sealed class RemediationRunTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private readonly List<string> _buckets = [];
    private NhiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await NhiTestHost.StartAsync();

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        foreach (string bucket in _buckets)
        {
            await _aws.DeleteBucketAsync(bucket);
        }

        _aws.Dispose();
    }

    [Fact]
    public async Task PublicBucketIsRemediatedEndToEnd()
    {
        string bucket = await PublicBucketAsync();
        Assert.Equal(HttpStatusCode.OK, await AnonymousGetAsync(bucket));

        string runId = await PostSingleRunAsync(FindingSamples.SecurityHubFor(bucket));
        RunResult result = await _host.WaitForRunAsync(runId);

        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        ExecutionAttempt attempt = Assert.Single(result.Attempts);
        ExecutionReport report = Assert.IsType<ExecutionReport>(attempt.Report);
        Assert.True(report.Verification.Passed, string.Join("; ", report.Verification.Checks));
        Assert.True(report.ScopeProbe?.Denied, report.ScopeProbe?.Evidence);
        Assert.True(report.Revocation.Proven, report.Revocation.Evidence);
        Assert.NotNull(attempt.Revocation.RevokedAt);
        Assert.Equal(HttpStatusCode.Forbidden, await AnonymousGetAsync(bucket));
        Assert.All(report.Calls.Where(call => call.Purpose is "remediate" or "verify"),
            call => Assert.Equal(_aws.BucketArn(bucket), call.Resource));
    }

    [Fact]
    public async Task RunAuditRecordsVerifyAgainstJwks()
    {
        string bucket = await PublicBucketAsync();
        string runId = await PostSingleRunAsync(FindingSamples.SecurityHubFor(bucket));
        RunResult result = await _host.WaitForRunAsync(runId);

        var store = (TableAuditStore)_host.Services.GetService(typeof(TableAuditStore))!;
        IReadOnlyList<SignedAuditRecord> records = await store.ReadRunAsync(runId, CancellationToken.None);
        Jwks jwks = Jwks.Parse(await _host.Http.GetStringAsync("/.well-known/jwks.json"));

        Assert.Equal(result.AuditRecordIds, records.OrderBy(record => record.Seq).Select(record => record.Id));
        Assert.True(AuditVerifier.VerifyChain(records, jwks).Valid);
        Assert.Equal(result.AuditKeyId, records[0].KeyId);
    }

    [Fact]
    public async Task RedeliveryStartsNoSecondRun()
    {
        string bucket = await PublicBucketAsync();
        string finding = FindingSamples.SecurityHubFor(bucket);

        string firstRun = await PostSingleRunAsync(finding);
        JsonNode[] concurrent = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => PostAsync(finding)));
        await _host.WaitForRunAsync(firstRun);
        JsonNode afterCompletion = await PostAsync(finding);

        foreach (JsonNode response in concurrent.Append(afterCompletion))
        {
            JsonNode run = Assert.Single(response["runs"]!.AsArray())!;
            Assert.Equal(firstRun, run["runId"]!.GetValue<string>());
            Assert.True(run["duplicate"]!.GetValue<bool>());
        }
    }

    [Fact]
    public async Task NewFindingVersionStartsNewRun()
    {
        string bucket = await PublicBucketAsync();
        string findingGuid = Guid.NewGuid().ToString();

        string first = await PostSingleRunAsync(FindingSamples.SecurityHubFor(bucket, findingGuid));
        await _host.WaitForRunAsync(first);
        string second = await PostSingleRunAsync(FindingSamples.SecurityHubFor(bucket, findingGuid, DateTimeOffset.Parse("2026-05-15T10:00:00Z")));

        Assert.NotEqual(first, second);
        RunResult later = await _host.WaitForRunAsync(second);
        Assert.Equal(RunOutcomes.Remediated, later.Outcome);
    }

    [Fact]
    public async Task EventWithSeveralFindingsRunsEachOnce()
    {
        string first = await PublicBucketAsync();
        string second = await PublicBucketAsync();
        JsonNode alert = JsonNode.Parse(FindingSamples.SecurityHubFor(first))!;
        JsonNode other = JsonNode.Parse(FindingSamples.SecurityHubFor(second))!["detail"]!["findings"]![0]!.DeepClone();
        JsonNode passed = other.DeepClone();
        passed["Id"] = "passed-" + Guid.NewGuid();
        passed["Compliance"]!["Status"] = "PASSED";
        alert["detail"]!["findings"]!.AsArray().Add(other);
        alert["detail"]!["findings"]!.AsArray().Add(passed);

        JsonNode response = await PostAsync(alert.ToJsonString());

        JsonArray runs = response["runs"]!.AsArray();
        Assert.Equal(2, runs.Count);
        Assert.Single(response["skipped"]!.AsArray());
        foreach (JsonNode? run in runs)
        {
            RunResult result = await _host.WaitForRunAsync(run!["runId"]!.GetValue<string>());
            Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        }
    }

    [Fact]
    public async Task FailingStepEndsWithEveryGrantRevoked()
    {
        // No such bucket: the grant is issued, then the first call of the step fails on every attempt.
        string missing = "nhi-test-missing-" + Guid.NewGuid().ToString("N")[..8];

        string runId = await PostSingleRunAsync(FindingSamples.SecurityHubFor(missing));
        RunResult result = await _host.WaitForRunAsync(runId);

        Assert.Equal(RunOutcomes.Failed, result.Outcome);
        Assert.Equal(2, result.Attempts.Count);
        Assert.NotEqual(result.Attempts[0].GrantId, result.Attempts[1].GrantId);
        foreach (ExecutionAttempt attempt in result.Attempts)
        {
            ExecutionReport report = Assert.IsType<ExecutionReport>(attempt.Report);
            Assert.NotNull(report.Error);
            Assert.Equal(report.Error, attempt.Error);
            Assert.NotEmpty(report.Calls);
            Assert.NotNull(report.Revocation.RevokedAt);
            Assert.NotNull(attempt.Revocation.RevokedAt);
            Assert.Null(attempt.Revocation.Error);
            string policy = await _aws.Iam.GetRolePolicyAsync(_aws.Options.RoleName, "nhi-revoke-nhi-" + attempt.GrantId, CancellationToken.None);
            Assert.Contains(attempt.GrantId, policy, StringComparison.Ordinal);
        }

        Assert.Equal(2, _host.IssuedCredentials.Count);
    }

    [Fact]
    public async Task RunLeavesNoCredentialInOutputs()
    {
        string bucket = await PublicBucketAsync();
        string runId = await PostSingleRunAsync(FindingSamples.SecurityHubFor(bucket));
        RunResult result = await _host.WaitForRunAsync(runId);
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);

        var store = (TableAuditStore)_host.Services.GetService(typeof(TableAuditStore))!;
        IReadOnlyList<SignedAuditRecord> records = await store.ReadRunAsync(runId, CancellationToken.None);
        Microsoft.DurableTask.Client.OrchestrationMetadata metadata = (await _host.Client.GetInstanceAsync(runId, getInputsAndOutputs: true))!;
        string[] outputs =
        [
            .. _host.Logs.Lines,
            .. records.Select(record => record.Json),
            metadata.SerializedInput ?? "",
            metadata.SerializedOutput ?? "",
            await _host.Http.GetStringAsync($"/api/runs/{runId}"),
        ];

        Assert.NotEmpty(_host.IssuedCredentials);
        foreach (Amazon.SecurityToken.Model.Credentials credential in _host.IssuedCredentials)
        {
            foreach (string secret in new[] { credential.AccessKeyId, credential.SecretAccessKey, credential.SessionToken })
            {
                Assert.DoesNotContain(outputs, output => output.Contains(secret, StringComparison.Ordinal));
            }
        }
    }

    private async Task<string> PublicBucketAsync()
    {
        string bucket = await _aws.CreateBucketAsync();
        _buckets.Add(bucket);
        await _aws.MakePublicAsync(bucket, withPrivateStatement: true);
        return bucket;
    }

    private async Task<HttpStatusCode> AnonymousGetAsync(string bucket)
    {
        using var anonymous = new HttpClient();
        using HttpResponseMessage response = await anonymous.GetAsync($"{_aws.Options.S3Endpoint!.TrimEnd('/')}/{bucket}/hello.txt");
        return response.StatusCode;
    }

    private async Task<JsonNode> PostAsync(string body)
    {
        using HttpResponseMessage response = await _host.Http.PostAsync("/api/alerts/securityhub", FindingSamples.Json(body));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK, $"HTTP {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    private async Task<string> PostSingleRunAsync(string body)
    {
        JsonNode response = await PostAsync(body);
        JsonNode run = Assert.Single(response["runs"]!.AsArray())!;
        Assert.False(run["duplicate"]!.GetValue<bool>());
        return run["runId"]!.GetValue<string>();
    }
}
