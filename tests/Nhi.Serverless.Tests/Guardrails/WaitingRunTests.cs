using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Tests.Ledger;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>
/// Runs that wait for approval or for a concurrency slot: the status endpoints show the wait with its deadline and
/// reasons, and a cancel request ends the run through its orchestrator with the outcome "cancelled".
/// </summary>
public sealed class WaitingRunTests : IAsyncLifetime
{
    private const string Playbook = "s3-bucket-public-access";
    private static readonly ConcurrencyLimit PlaybookSlot = new($"playbook:{Playbook}", 1);
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);

    private readonly AwsTestStack _aws = new();
    private readonly LedgerTables _tables = new();
    private readonly List<string> _buckets = [];
    private NhiTestHost _host = null!;
    private string _approvalBucket = null!;

    public async Task InitializeAsync()
    {
        _approvalBucket = await PublicBucketAsync();

        Dictionary<string, string?> settings = _tables.HostSettings();
        settings["Guardrails:RequireApproval:NamePatterns:0"] = _approvalBucket;
        settings["Guardrails:ApprovalTimeoutSeconds"] = "600";
        settings["Guardrails:Concurrency:PerPlaybook"] = "1";
        settings["Guardrails:Concurrency:RetrySeconds"] = "1";
        settings["Guardrails:Concurrency:MaxRetrySeconds"] = "1";
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
    public async Task StatusShowsApprovalWait()
    {
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, _approvalBucket);

        JsonNode status = await WaitForStatusAsync(runId, RunWaitStates.AwaitingApproval);
        JsonNode soar = await GetJsonAsync($"/api/soar/runs/{runId}");
        JsonNode list = await GetJsonAsync("/api/soar/runs?status=Running&pageSize=200");

        JsonNode wait = status["wait"]!;
        Assert.Equal(RunWaitStates.AwaitingApproval, wait["state"]!.GetValue<string>());
        Assert.Equal(wait["since"]!.GetValue<DateTimeOffset>().AddSeconds(600), wait["deadline"]!.GetValue<DateTimeOffset>());
        Assert.Contains($"'arn:aws:s3:::{_approvalBucket}' requires approval under Guardrails:RequireApproval", Assert.Single(wait["reasons"]!.AsArray())!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(RunWaitStates.AwaitingApproval, soar["status"]!.GetValue<string>());
        Assert.Equal(wait["deadline"]!.GetValue<DateTimeOffset>(), soar["wait"]!["deadline"]!.GetValue<DateTimeOffset>());
        JsonNode listed = Assert.Single(list["runs"]!.AsArray(), run => run!["runId"]!.GetValue<string>() == runId)!;
        Assert.Equal(RunWaitStates.AwaitingApproval, listed["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task StatusShowsCapacityWait()
    {
        string holderId = await HoldPlaybookSlotAsync();
        string bucket = await PublicBucketAsync();
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, bucket);

        JsonNode status = await WaitForStatusAsync(runId, RunWaitStates.AwaitingCapacity);
        JsonNode soar = await GetJsonAsync($"/api/soar/runs/{runId}");
        await ReleasePlaybookSlotAsync(holderId);
        RunResult result = await _host.WaitForRunAsync(runId, TimeSpan.FromSeconds(60));
        JsonNode finished = await GetJsonAsync($"/api/runs/{runId}");

        JsonNode wait = status["wait"]!;
        Assert.Equal(RunWaitStates.AwaitingCapacity, wait["state"]!.GetValue<string>());
        Assert.Null(wait["deadline"]);
        Assert.Contains($"playbook:{Playbook} (limit 1)", wait["reasons"]!.AsArray().Select(reason => reason!.GetValue<string>()));
        Assert.Equal(RunWaitStates.AwaitingCapacity, soar["status"]!.GetValue<string>());
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        Assert.Equal("Completed", finished["status"]!.GetValue<string>());
        Assert.Null(finished["wait"]);
    }

    [Fact]
    public async Task CancelEndsApprovalWait()
    {
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, _approvalBucket);
        await WaitForStatusAsync(runId, RunWaitStates.AwaitingApproval);

        await CancelAsync(runId);
        RunResult result = await _host.WaitForRunAsync(runId, Prompt);

        await AssertCancelledBeforeActingAsync(result, _approvalBucket);
    }

    [Fact]
    public async Task CancelEndsCapacityWait()
    {
        string holderId = await HoldPlaybookSlotAsync();
        string bucket = await PublicBucketAsync();
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, bucket);
        await WaitForStatusAsync(runId, RunWaitStates.AwaitingCapacity);

        await CancelAsync(runId);
        RunResult result = await _host.WaitForRunAsync(runId, Prompt);
        await ReleasePlaybookSlotAsync(holderId);

        await AssertCancelledBeforeActingAsync(result, bucket);
    }

    [Fact]
    public async Task CancelOfFinishedRunIsConflict()
    {
        string runId = await GuardrailTestRuns.PostFindingAsync(_host, _approvalBucket);
        await WaitForStatusAsync(runId, RunWaitStates.AwaitingApproval);
        await CancelAsync(runId);
        await _host.WaitForRunAsync(runId, Prompt);

        (HttpStatusCode status, JsonNode problem) = await GuardrailTestRuns.PostJsonAsync(
            _host, $"/api/soar/runs/{runId}/cancel", """{"by": "analyst@example.com"}""");

        Assert.Equal(HttpStatusCode.Conflict, status);
        Assert.Equal("runId", problem["field"]!.GetValue<string>());
    }

    /// <summary>
    /// Takes the playbook's only slot in the name of a run that waits for approval. That run has no slot of its own
    /// yet, but it is running, so the slot store does not take the slot back.
    /// </summary>
    private async Task<string> HoldPlaybookSlotAsync()
    {
        string holderId = await GuardrailTestRuns.PostFindingAsync(_host, _approvalBucket);
        await WaitForStatusAsync(holderId, RunWaitStates.AwaitingApproval);

        bool acquired = await _host.Services.GetRequiredService<IRunSlots>().TryAcquireAsync(
            holderId, [PlaybookSlot], DateTimeOffset.UtcNow.AddHours(1), CancellationToken.None);
        Assert.True(acquired, "The playbook slot was taken before the test could take it.");
        return holderId;
    }

    private Task ReleasePlaybookSlotAsync(string holderId) =>
        _host.Services.GetRequiredService<IRunSlots>().ReleaseAsync(holderId, [PlaybookSlot], CancellationToken.None);

    private async Task CancelAsync(string runId)
    {
        (HttpStatusCode status, JsonNode body) = await GuardrailTestRuns.PostJsonAsync(
            _host, $"/api/soar/runs/{runId}/cancel", """{"by": "analyst@example.com", "reason": "false positive"}""");

        Assert.Equal(HttpStatusCode.Accepted, status);
        Assert.False(body["terminated"]!.GetValue<bool>());
    }

    /// <summary>Polls GET /api/runs/{runId} until its status is the wait state, and returns that body.</summary>
    private async Task<JsonNode> WaitForStatusAsync(string runId, string state)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            JsonNode status = await GetJsonAsync($"/api/runs/{runId}");
            if (status["status"]!.GetValue<string>() == state)
            {
                return status;
            }

            Assert.NotEqual("Completed", status["status"]!.GetValue<string>());
            await Task.Delay(100, timeout.Token);
        }
    }

    private async Task<JsonNode> GetJsonAsync(string path)
    {
        using HttpResponseMessage response = await _host.Http.GetAsync(path);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: HTTP {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>
    /// Checks a run cancelled while it waited: the outcome and reason, a bucket left as it was, no grant in the ledger
    /// (so none is open), and a run-completed audit record with the outcome "cancelled".
    /// </summary>
    private async Task AssertCancelledBeforeActingAsync(RunResult result, string bucket)
    {
        Assert.Equal(RunOutcomes.Cancelled, result.Outcome);
        Assert.StartsWith("cancelled by analyst@example.com through soar at ", result.SkipReason, StringComparison.Ordinal);
        Assert.EndsWith(": false positive", result.SkipReason, StringComparison.Ordinal);
        Assert.Empty(result.Attempts);
        Assert.Equal(200, await _aws.AnonymousGetStatusAsync(bucket));
        Assert.Empty(await _host.Services.GetRequiredService<IGrantLedger>().ListByRunAsync(result.RunId, CancellationToken.None));

        IReadOnlyList<SignedAuditRecord> records = await _host.Services.GetRequiredService<TableAuditStore>().ReadRunAsync(result.RunId, CancellationToken.None);
        JsonNode completed = JsonNode.Parse(records[^1].Json)!;
        Assert.Equal(AuditEvents.RunCompleted, records[^1].Event);
        Assert.Equal(RunOutcomes.Cancelled, completed["nhi"]!["outcome"]!.GetValue<string>());
        Assert.Equal("Other", completed["status"]!.GetValue<string>());
        Assert.Equal(result.SkipReason, completed["nhi"]!["skip_reason"]!.GetValue<string>());
    }

    private async Task<string> PublicBucketAsync()
    {
        string bucket = await _aws.CreateBucketAsync();
        _buckets.Add(bucket);
        await _aws.MakePublicAsync(bucket, withPrivateStatement: false);
        return bucket;
    }
}
