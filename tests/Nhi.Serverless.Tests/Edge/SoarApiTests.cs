using System.Text.Json.Nodes;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Intake;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Findings;
using Nhi.Serverless.Tests.Guardrails;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>The SOAR API: idempotent start, status, list, approval and cancel, signed with the soar secret.</summary>
public sealed class SoarApiTests : IAsyncLifetime
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);

    private readonly AwsTestStack _aws = new();
    private readonly List<string> _approvalBuckets = [];
    private NhiTestHost _host = null!;
    private string _bucket = null!;

    public async Task InitializeAsync()
    {
        _bucket = await _aws.CreateBucketAsync();
        await _aws.MakePublicAsync(_bucket, withPrivateStatement: false);

        // Runs on buckets whose names start with this prefix wait for approval.
        Dictionary<string, string?> settings = EdgeRequests.SecuredSettings();
        settings["Guardrails:RequireApproval:NamePatterns:0"] = ApprovalBucketPrefix + "*";
        _host = await NhiTestHost.StartAsync(settings: settings);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _aws.DeleteBucketAsync(_bucket);
        foreach (string bucket in _approvalBuckets)
        {
            await _aws.DeleteBucketAsync(bucket);
        }

        _aws.Dispose();
    }

    private string ApprovalBucketPrefix => _bucket + "-a";

    [Fact]
    public async Task StartedRunRemediates()
    {
        string runId = NewRunId();

        (int status, JsonNode? body, HttpResponseMessage response) = await SendAsync(HttpMethod.Post, "/api/soar/runs", RequestFor(_bucket, runId));

        Assert.Equal(202, status);
        Assert.Equal(runId, body!["runId"]!.GetValue<string>());
        Assert.EndsWith($"/api/soar/runs/{runId}", response.Headers.Location!.ToString(), StringComparison.Ordinal);
        RunResult result = await _host.WaitForRunAsync(runId);
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
    }

    [Fact]
    public async Task RepeatedStartReturnsSameRun()
    {
        string runId = NewRunId();
        await SendAsync(HttpMethod.Post, "/api/soar/runs", RequestFor(_bucket, runId));

        (int status, JsonNode? body, _) = await SendAsync(HttpMethod.Post, "/api/soar/runs", RequestFor(_bucket, runId));

        Assert.Equal(200, status);
        Assert.True(body!["duplicate"]!.GetValue<bool>());
    }

    [Fact]
    public async Task ReusedRunIdIsConflict()
    {
        string runId = NewRunId();
        await SendAsync(HttpMethod.Post, "/api/soar/runs", RequestFor(_bucket, runId));

        (int status, JsonNode? problem, _) = await SendAsync(HttpMethod.Post, "/api/soar/runs", RequestFor("nhi-some-other-bucket", runId));

        Assert.Equal(409, status);
        Assert.Equal("runId", problem!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task IdempotencyKeyNamesRun()
    {
        string runId = NewRunId();
        JsonNode request = JsonNode.Parse(RequestFor(_bucket, runId))!;
        request.AsObject().Remove("runId");
        HttpRequestMessage message = EdgeRequests.Signed(HttpMethod.Post, "/api/soar/runs", request.ToJsonString(), EdgeRequests.SoarSecret);
        message.Headers.Add("Idempotency-Key", runId);

        (int status, JsonNode? body, _) = await EdgeRequests.SendAsync(_host.Http, message);

        Assert.Equal(202, status);
        Assert.Equal(runId, body!["runId"]!.GetValue<string>());
    }

    [Fact]
    public async Task UnknownPlaybookIsUnprocessable()
    {
        JsonNode request = JsonNode.Parse(RequestFor(_bucket, NewRunId()))!;
        request["playbook"] = "rotate-everything";

        (int status, JsonNode? problem, _) = await SendAsync(HttpMethod.Post, "/api/soar/runs", request.ToJsonString());

        Assert.Equal(422, status);
        Assert.Contains("s3-bucket-public-access", problem!["expected"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidRequestNamesField()
    {
        JsonNode request = JsonNode.Parse(RequestFor(_bucket, NewRunId()))!;
        request["resource"]!["accountId"] = "12";

        (int status, JsonNode? problem, _) = await SendAsync(HttpMethod.Post, "/api/soar/runs", request.ToJsonString());

        Assert.Equal(400, status);
        Assert.Equal("resource.accountId", problem!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task StatusShowsOutcome()
    {
        string runId = NewRunId();
        await SendAsync(HttpMethod.Post, "/api/soar/runs", RequestFor(_bucket, runId));
        await _host.WaitForRunAsync(runId);

        (int status, JsonNode? body, _) = await SendAsync(HttpMethod.Get, $"/api/soar/runs/{runId}", "");

        Assert.Equal(200, status);
        Assert.Equal("Completed", body!["status"]!.GetValue<string>());
        Assert.Equal(RunOutcomes.Remediated, body["outcome"]!.GetValue<string>());
    }

    [Fact]
    public async Task ListIncludesRun()
    {
        string runId = NewRunId();
        await SendAsync(HttpMethod.Post, "/api/soar/runs", RequestFor(_bucket, runId));
        await _host.WaitForRunAsync(runId);

        (int status, JsonNode? body, _) = await SendAsync(HttpMethod.Get, "/api/soar/runs?status=Completed&pageSize=200", "");

        Assert.Equal(200, status);
        Assert.Contains(body!["runs"]!.AsArray(), run => run!["runId"]!.GetValue<string>() == runId);
    }

    [Fact]
    public async Task ListRejectsUnknownStatus()
    {
        (int status, JsonNode? problem, _) = await SendAsync(HttpMethod.Get, "/api/soar/runs?status=Sleeping", "");

        Assert.Equal(400, status);
        Assert.Equal("status", problem!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task ApprovalReachesWaitingRun()
    {
        (string runId, string bucket) = await ApprovalRunAsync();

        (int status, JsonNode? body, _) = await SendAsync(HttpMethod.Post, $"/api/soar/runs/{runId}/approval", "{\"approved\": true, \"by\": \"analyst@example.com\", \"reason\": \"owner confirmed\"}");
        RunResult result = await _host.WaitForRunAsync(runId, Prompt);

        Assert.Equal(202, status);
        Assert.Equal("approved", body!["decision"]!.GetValue<string>());
        Assert.Equal("soar", body["channel"]!.GetValue<string>());
        Assert.EndsWith($"/api/soar/runs/{runId}", body["statusUrl"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        Assert.Equal(403, await _aws.AnonymousGetStatusAsync(bucket));
        JsonNode decision = await ReadDecisionRecordAsync(runId);
        Assert.Equal(GrantAuditEvents.ApprovalGranted, decision["nhi"]!["event"]!.GetValue<string>());
        Assert.Equal("analyst@example.com", decision["nhi"]!["decided_by"]!.GetValue<string>());
        Assert.Equal("soar", decision["nhi"]!["channel"]!.GetValue<string>());
        Assert.Equal("owner confirmed", decision["nhi"]!["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task RejectionEndsWaitingRun()
    {
        (string runId, string bucket) = await ApprovalRunAsync();

        (int status, _, _) = await SendAsync(HttpMethod.Post, $"/api/soar/runs/{runId}/approval", "{\"approved\": false, \"by\": \"analyst@example.com\"}");
        RunResult result = await _host.WaitForRunAsync(runId, Prompt);

        Assert.Equal(202, status);
        Assert.Equal(GuardrailOutcomes.Rejected, result.Outcome);
        Assert.StartsWith("rejected by analyst@example.com through soar at ", result.SkipReason, StringComparison.Ordinal);
        Assert.Equal(200, await _aws.AnonymousGetStatusAsync(bucket));
        Assert.Equal(GrantAuditEvents.ApprovalRejected, (await ReadDecisionRecordAsync(runId))["nhi"]!["event"]!.GetValue<string>());
    }

    [Fact]
    public async Task ApprovalOfUnknownRunIsNotFound()
    {
        (int status, JsonNode? problem, HttpResponseMessage response) = await SendAsync(HttpMethod.Post, "/api/soar/runs/xsoar-unknown/approval", "{\"approved\": true, \"by\": \"analyst@example.com\"}");

        Assert.Equal(404, status);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("runId", problem!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task ApprovalOfFinishedRunIsConflict()
    {
        string runId = NewRunId();
        await SendAsync(HttpMethod.Post, "/api/soar/runs", RequestFor(_bucket, runId));
        await _host.WaitForRunAsync(runId);

        (int status, JsonNode? problem, HttpResponseMessage response) = await SendAsync(HttpMethod.Post, $"/api/soar/runs/{runId}/approval", "{\"approved\": false, \"by\": \"analyst@example.com\"}");

        Assert.Equal(409, status);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("runId", problem!["field"]!.GetValue<string>());
        Assert.Contains("Completed", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApprovalNeedsDecision()
    {
        (int status, JsonNode? problem, _) = await SendAsync(HttpMethod.Post, "/api/soar/runs/any-run/approval", "{\"approved\": \"yes\", \"by\": \"a\"}");

        Assert.Equal(400, status);
        Assert.Equal("approved", problem!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task CancelTerminatesEarlierVersionRun()
    {
        string runId = await PendingRunAsync();

        (int status, JsonNode? body, _) = await SendAsync(HttpMethod.Post, $"/api/soar/runs/{runId}/cancel", "{\"by\": \"analyst@example.com\", \"reason\": \"false positive\"}");

        Assert.Equal(202, status);
        Assert.True(body!["terminated"]!.GetValue<bool>());
        OrchestrationMetadata? metadata = await _host.Client.WaitForInstanceCompletionAsync(runId, new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        Assert.Equal(OrchestrationRuntimeStatus.Terminated, metadata!.RuntimeStatus);
        IReadOnlyList<IntakeRecord> records = await _host.Services.GetRequiredService<IIntakeJournal>().ListForFindingAsync("request:" + runId, CancellationToken.None);
        Assert.Equal(IntakeOutcomes.Cancelled, Assert.Single(records).Outcome);
    }

    [Fact]
    public async Task UnsignedStartIsRejected()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/soar/runs") { Content = FindingSamples.Json(RequestFor(_bucket, NewRunId())) };

        (int status, _, _) = await EdgeRequests.SendAsync(_host.Http, request);

        Assert.Equal(401, status);
    }

    /// <summary>Starts a run through the SOAR API on a fresh public bucket that requires approval, and waits until the run waits for it.</summary>
    private async Task<(string RunId, string Bucket)> ApprovalRunAsync()
    {
        string bucket = await _aws.CreateBucketAsync(ApprovalBucketPrefix + Guid.NewGuid().ToString("N")[..6]);
        _approvalBuckets.Add(bucket);
        await _aws.MakePublicAsync(bucket, withPrivateStatement: false);
        string runId = NewRunId();
        (int status, _, _) = await SendAsync(HttpMethod.Post, "/api/soar/runs", RequestFor(bucket, runId));
        Assert.Equal(202, status);

        await GuardrailTestRuns.WaitForApprovalStateAsync(_host, runId);
        return (runId, bucket);
    }

    private async Task<JsonNode> ReadDecisionRecordAsync(string runId)
    {
        IReadOnlyList<SignedAuditRecord> records = await _host.Services.GetRequiredService<TableAuditStore>().ReadRunAsync($"approval-{runId}-decision", CancellationToken.None);
        return JsonNode.Parse(Assert.Single(records).Json)!;
    }

    /// <summary>Schedules a run of the first orchestrator version, which does not wait for approval or listen for cancel requests.</summary>
    private async Task<string> PendingRunAsync()
    {
        string runId = NewRunId();
        RunRequest request = RunRequestParser.Parse(RequestFor(_bucket, runId));
        var remediation = new RemediationRequest(runId, request.ToFinding(runId, DateTimeOffset.UtcNow), "soar", DateTimeOffset.UtcNow);
        await _host.Client.ScheduleNewOrchestrationInstanceAsync(
            RemediateFindingOrchestrator.Name, remediation, new StartOrchestrationOptions(runId, DateTimeOffset.UtcNow.AddHours(1)));
        return runId;
    }

    private Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, string body) =>
        EdgeRequests.SendAsync(_host.Http, EdgeRequests.Signed(method, path, body, EdgeRequests.SoarSecret));

    private static string NewRunId() => "xsoar-" + Guid.NewGuid().ToString("N");

    public static string RequestFor(string bucket, string runId)
    {
        JsonNode request = SampleFiles.Node(SampleFiles.RunRequest);
        request["runId"] = runId;
        request["resource"]!["arn"] = "arn:aws:s3:::" + bucket;
        return request.ToJsonString();
    }
}
