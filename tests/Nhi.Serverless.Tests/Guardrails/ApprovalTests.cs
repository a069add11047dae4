using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Cli.Runs;
using Nhi.Serverless.Functions;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Tests.Ledger;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>
/// Runs that wait for approval before their grant is issued, decided through the HTTP API, the CLI and the Functions
/// trigger. The approval timeout is 10 minutes, so a run that ends within seconds ended because its timer was cancelled.
/// </summary>
public sealed class ApprovalTests : IAsyncLifetime
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);

    private readonly AwsTestStack _aws = new();
    private readonly LedgerTables _tables = new();
    private readonly List<string> _buckets = [];
    private NhiTestHost _host = null!;

    public async Task InitializeAsync()
    {
        Dictionary<string, string?> settings = _tables.HostSettings();
        settings["Guardrails:RequireApproval:Playbooks:0"] = "s3-bucket-public-access";
        settings["Guardrails:ApprovalTimeoutSeconds"] = "600";
        _host = await NhiTestHost.StartAsync(settings: settings);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        foreach (string bucket in _buckets)
        {
            await _aws.DeleteBucketAsync(bucket);
        }

        await _tables.DisposeAsync();
        _aws.Dispose();
    }

    [Fact]
    public async Task RunWaitsWithoutCredential()
    {
        string bucket = await PublicBucketAsync();
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, bucket);

        RunWaitStatus wait = await WaitForApprovalStateAsync(runId);

        Assert.Equal(RunWaitStates.AwaitingApproval, wait.State);
        Assert.Contains("Guardrails:RequireApproval:Playbooks", Assert.Single(wait.Reasons), StringComparison.Ordinal);
        Assert.Equal(wait.Since.AddSeconds(600), wait.Until);
        Assert.Empty(_host.IssuedCredentials);
        Assert.Empty(await _host.Services.GetRequiredService<IGrantLedger>().ListByRunAsync(runId, CancellationToken.None));
        await ApproveAsync(runId);
    }

    [Fact]
    public async Task ApprovalOverHttpEndsRunPromptly()
    {
        string bucket = await PublicBucketAsync();
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, bucket);
        await WaitForApprovalStateAsync(runId);

        var watch = Stopwatch.StartNew();
        (HttpStatusCode status, JsonNode body) = await GuardrailTestRuns.PostJsonAsync(
            _host, $"/api/runs/{runId}/approve", """{"by": "alice@example.com", "reason": "change ticket CHG-1"}""");
        RunResult result = await _host.WaitForRunAsync(runId, Prompt);
        watch.Stop();

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.Equal("approved", body["decision"]!.GetValue<string>());
        Assert.Equal("api", body["channel"]!.GetValue<string>());
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        Assert.True(watch.Elapsed < Prompt, $"The run took {watch.Elapsed.TotalSeconds} s after approval.");
        Assert.Equal(403, await _aws.AnonymousGetStatusAsync(bucket));

        SignedAuditRecord decision = await ReadDecisionRecordAsync(runId);
        Assert.Equal(GrantAuditEvents.ApprovalGranted, decision.Event);
        JsonNode nhi = JsonNode.Parse(decision.Json)!["nhi"]!;
        Assert.Equal("alice@example.com", nhi["decided_by"]!.GetValue<string>());
        Assert.Equal("api", nhi["channel"]!.GetValue<string>());
        Assert.Equal("change ticket CHG-1", nhi["reason"]!.GetValue<string>());
        DateTimeOffset decidedAt = body["at"]!.GetValue<DateTimeOffset>();
        Assert.Equal(
            DateTimeOffset.FromUnixTimeMilliseconds(decidedAt.ToUnixTimeMilliseconds()),
            DateTimeOffset.Parse(nhi["decided_at"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(runId, nhi["subject_run_id"]!.GetValue<string>());
    }

    [Fact]
    public async Task ApprovalRecordsVerify()
    {
        string bucket = await PublicBucketAsync();
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, bucket);
        await WaitForApprovalStateAsync(runId);
        await ApproveAsync(runId);
        await _host.WaitForRunAsync(runId, Prompt);

        var store = _host.Services.GetRequiredService<TableAuditStore>();
        var jwks = _host.Services.GetRequiredService<Jwks>();
        IReadOnlyList<SignedAuditRecord> requested = await store.ReadRunAsync($"approval-{runId}-requested", CancellationToken.None);
        IReadOnlyList<SignedAuditRecord> decided = await store.ReadRunAsync($"approval-{runId}-decision", CancellationToken.None);
        IReadOnlyList<SignedAuditRecord> run = await store.ReadRunAsync(runId, CancellationToken.None);

        Assert.Equal(GrantAuditEvents.ApprovalRequested, Assert.Single(requested).Event);
        Assert.True(AuditVerifier.VerifyChain(requested, jwks, requireRunCompleted: false).Valid);
        Assert.True(AuditVerifier.VerifyChain(decided, jwks, requireRunCompleted: false).Valid);
        Assert.True(AuditVerifier.VerifyChain(run, jwks).Valid);
    }

    [Fact]
    public async Task RejectionFromCliEndsRunWithoutCredential()
    {
        string bucket = await PublicBucketAsync();
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, bucket);
        await WaitForApprovalStateAsync(runId);
        var printed = new StringWriter();

        using (var cli = new RunsClient(_host.Http.BaseAddress!, printed, TextWriter.Null))
        {
            Assert.Equal(0, await cli.DecideAsync(runId, approve: false, "bob@example.com", "not during the freeze", CancellationToken.None));
        }

        RunResult result = await _host.WaitForRunAsync(runId, Prompt);
        Assert.Equal(GuardrailOutcomes.Rejected, result.Outcome);
        Assert.StartsWith("rejected by bob@example.com through cli at ", result.SkipReason, StringComparison.Ordinal);
        Assert.EndsWith(": not during the freeze", result.SkipReason, StringComparison.Ordinal);
        Assert.Contains($"Run {runId} rejected by bob@example.com through cli", printed.ToString(), StringComparison.Ordinal);
        Assert.Empty(await _host.Services.GetRequiredService<IGrantLedger>().ListByRunAsync(runId, CancellationToken.None));
        Assert.Equal(200, await _aws.AnonymousGetStatusAsync(bucket));
        Assert.Equal(GrantAuditEvents.ApprovalRejected, (await ReadDecisionRecordAsync(runId)).Event);
    }

    [Fact]
    public async Task FunctionsTriggerApprovesRun()
    {
        string bucket = await PublicBucketAsync();
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, bucket);
        await WaitForApprovalStateAsync(runId);
        var functions = new ApprovalFunctions(_host.Services.GetRequiredService<RunApprovals>());
        DefaultHttpContext context = NewContext("""{"by": "logic-app-approver", "channel": "logic-apps"}""");

        await functions.ApproveAsync(context.Request, runId, _host.Client);

        Assert.Equal(StatusCodes.Status202Accepted, context.Response.StatusCode);
        RunResult result = await _host.WaitForRunAsync(runId, Prompt);
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        Assert.Equal("logic-apps", JsonNode.Parse((await ReadDecisionRecordAsync(runId)).Json)!["nhi"]!["channel"]!.GetValue<string>());
    }

    [Fact]
    public async Task UnknownRunIsNotFound()
    {
        (HttpStatusCode status, JsonNode body) = await GuardrailTestRuns.PostJsonAsync(_host, "/api/runs/run-unknown/approve", """{"by": "alice"}""");

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("runId", body["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task FinishedRunIsConflict()
    {
        string bucket = await PublicBucketAsync();
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, bucket);
        await WaitForApprovalStateAsync(runId);
        await ApproveAsync(runId);
        await _host.WaitForRunAsync(runId, Prompt);

        (HttpStatusCode status, JsonNode body) = await GuardrailTestRuns.PostJsonAsync(_host, $"/api/runs/{runId}/reject", """{"by": "alice"}""");

        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Contains("Completed", body["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"by": ""}""", "by")]
    [InlineData("""{"reason": "no approver"}""", "by")]
    [InlineData("""{"by": "alice", "channel": "email"}""", "channel")]
    [InlineData("""{"by": "alice", "channel": "timeout"}""", "channel")]
    [InlineData("""[1, 2]""", "$")]
    [InlineData("""{"by": """, "$")]
    public async Task InvalidDecisionNamesField(string json, string field)
    {
        (HttpStatusCode status, JsonNode body) = await GuardrailTestRuns.PostJsonAsync(_host, "/api/runs/run-unknown/approve", json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(field, body["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task NonJsonDecisionIsUnsupported()
    {
        using var content = new StringContent("by=alice", Encoding.UTF8, "application/x-www-form-urlencoded");
        using HttpResponseMessage response = await _host.Http.PostAsync("/api/runs/run-unknown/approve", content);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    private async Task ApproveAsync(string runId)
    {
        (HttpStatusCode status, _) = await GuardrailTestRuns.PostJsonAsync(_host, $"/api/runs/{runId}/approve", """{"by": "alice@example.com"}""");
        Assert.Equal(HttpStatusCode.Accepted, status);
    }

    private async Task<RunWaitStatus> WaitForApprovalStateAsync(string runId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            OrchestrationMetadata? run = await _host.Client.GetInstanceAsync(runId, getInputsAndOutputs: true, timeout.Token);
            if (run?.SerializedCustomStatus is not null && run.ReadCustomStatusAs<RunWaitStatus>() is { State: RunWaitStates.AwaitingApproval } wait)
            {
                return wait;
            }

            Assert.False(run?.IsCompleted ?? false, $"Run {runId} finished without waiting for approval.");
            await Task.Delay(100, timeout.Token);
        }
    }

    private async Task<SignedAuditRecord> ReadDecisionRecordAsync(string runId) =>
        Assert.Single(await _host.Services.GetRequiredService<TableAuditStore>().ReadRunAsync($"approval-{runId}-decision", CancellationToken.None));

    private async Task<string> PublicBucketAsync()
    {
        string bucket = await _aws.CreateBucketAsync();
        _buckets.Add(bucket);
        await _aws.MakePublicAsync(bucket, withPrivateStatement: false);
        return bucket;
    }

    private static DefaultHttpContext NewContext(string body)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("127.0.0.1", 7071);
        context.Request.ContentType = "application/json";
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body));
        context.Response.Body = new MemoryStream();
        return context;
    }
}
