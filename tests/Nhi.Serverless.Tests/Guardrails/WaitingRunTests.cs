using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Tests.Ledger;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>
/// Runs that wait for approval or for a concurrency slot: the status endpoints show the wait with its deadline and
/// reasons.
/// </summary>
public sealed class WaitingRunTests : IAsyncLifetime
{
    private const string Playbook = "s3-bucket-public-access";
    private static readonly ConcurrencyLimit PlaybookSlot = new($"playbook:{Playbook}", 1);

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

    private async Task<string> PublicBucketAsync()
    {
        string bucket = await _aws.CreateBucketAsync();
        _buckets.Add(bucket);
        await _aws.MakePublicAsync(bucket, withPrivateStatement: false);
        return bucket;
    }
}
