using System.Net;
using System.Text.Json;
using DurableTask.AzureStorage;
using DurableTask.Core.History;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Orchestration;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Orchestration.Workflows;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Guardrails;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Tests.Ledger;
using Xunit.Abstractions;

namespace Nhi.Serverless.Tests.Replay;

/// <summary>
/// Replays orchestration histories through the current orchestrator code to catch non-determinism: the checked-in
/// histories of every orchestrator version (recorded from real runs), and histories of runs made now on the Azure
/// Storage backend. Set NHI_RECORD_HISTORIES=1 to write the histories of the runs made now into Replay/Histories.
/// </summary>
public sealed class ReplayTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private readonly LedgerTables _tables = new();
    private readonly List<string> _buckets = [];
    private readonly string _taskHub = "NhiReplay" + Guid.NewGuid().ToString("N")[..10];

    private static string HistoriesFolder => Path.Combine(LocalStack.RepositoryRoot, "tests", "Nhi.Serverless.Tests", "Replay", "Histories");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (string bucket in _buckets)
        {
            await _aws.DeleteBucketAsync(bucket);
        }

        await _tables.DisposeAsync();
        _aws.Dispose();
    }

    [Fact]
    public void RecordedHistoriesCoverEveryVersion()
    {
        string[] names = RecordedHistories().Select(file => HistoryReplayer.OrchestratorName(HistoryReplayer.Parse(File.ReadAllText(file)))).Distinct().ToArray();

        foreach (string version in RemediationOrchestrators.All.Append(RunWorkflowOrchestrator.Name))
        {
            Assert.Contains(version, names);
        }
    }

    [Fact]
    public void RecordedHistoriesReplay()
    {
        string[] files = RecordedHistories();
        Assert.NotEmpty(files);

        foreach (string file in files)
        {
            ReplayOutcome outcome = HistoryReplayer.Replay(HistoryReplayer.Parse(File.ReadAllText(file)));
            output.WriteLine($"{Path.GetFileName(file)}: {(outcome.Completed ? "replayed" : outcome.Failure)}");
            Assert.True(outcome.Completed, $"{Path.GetFileName(file)} did not replay: {outcome.Failure}");
        }
    }

    [Fact]
    public void ChangedStepsFailReplay()
    {
        // Version 1's code on a version 2 history: the steps differ, which is why a change of steps needs a new version.
        string file = Path.Combine(HistoriesFolder, RemediateFindingOrchestratorV2.Name + "-remediated.json");
        List<HistoryEvent> history = HistoryReplayer.Parse(File.ReadAllText(file));

        ReplayOutcome outcome = HistoryReplayer.Replay(history, new RemediateFindingOrchestrator());

        Assert.False(outcome.Completed);
        Assert.NotNull(outcome.Failure);
    }

    [Fact]
    public async Task LiveRunsReplay()
    {
        Dictionary<string, string> histories = [];
        string remediated = await PublicBucketAsync();
        string refused = await PublicBucketAsync();
        string approved = await PublicBucketAsync();
        string rejected = await PublicBucketAsync();
        string timedOut = await PublicBucketAsync();
        string cancelled = await PublicBucketAsync();

        Dictionary<string, string?> settings = _tables.HostSettings();
        settings["Guardrails:ProtectedResources:NamePatterns:0"] = refused;
        settings["Guardrails:RequireApproval:NamePatterns:0"] = approved;
        settings["Guardrails:RequireApproval:NamePatterns:1"] = rejected;
        settings["Guardrails:RequireApproval:NamePatterns:2"] = timedOut;
        settings["Guardrails:RequireApproval:NamePatterns:3"] = cancelled;
        settings["Guardrails:ApprovalTimeoutSeconds"] = "8";
        await using (NhiTestHost host = await NhiTestHost.StartAsync("AzureStorage", _taskHub, settings))
        {
            histories["remediated"] = await RunAsync(host, remediated, RunOutcomes.Remediated);
            histories["refused"] = await RunAsync(host, refused, GuardrailOutcomes.Refused);
            histories["approved"] = await RunAsync(host, approved, RunOutcomes.Remediated, "approve");
            histories["rejected"] = await RunAsync(host, rejected, GuardrailOutcomes.Rejected, "reject");
            histories["approval-timed-out"] = await RunAsync(host, timedOut, GuardrailOutcomes.Rejected);
            histories["cancelled"] = await RunAsync(host, cancelled, RunOutcomes.Cancelled, "cancel");
            AssertNoCredential(host, histories.Values);
        }

        Dictionary<string, string?> dryRun = _tables.HostSettings();
        dryRun["Guardrails:DryRun"] = "true";
        await using (NhiTestHost host = await NhiTestHost.StartAsync("AzureStorage", _taskHub, dryRun))
        {
            histories["dry-run"] = await RunAsync(host, await PublicBucketAsync(), GuardrailOutcomes.DryRun);
            histories["version-1-remediated"] = await RunVersionOneAsync(host, await PublicBucketAsync());
            AssertNoCredential(host, histories.Values);
        }

        foreach ((string path, string json) in histories)
        {
            List<HistoryEvent> history = HistoryReplayer.Parse(json);
            ReplayOutcome outcome = HistoryReplayer.Replay(history);
            Assert.True(outcome.Completed, $"The {path} run did not replay: {outcome.Failure}");
            Record(HistoryReplayer.OrchestratorName(history), path, json);
        }
    }

    /// <param name="decision">"approve" or "reject" to decide the approval the run waits for, "cancel" to cancel it
    /// while it waits, or null for a run that needs no decision.</param>
    private async Task<string> RunAsync(NhiTestHost host, string bucket, string expectedOutcome, string? decision = null)
    {
        string runId = await GuardrailTestRuns.PostFindingAsync(host, bucket);
        if (decision is not null)
        {
            await WaitForApprovalStateAsync(host, runId);
            string path = decision == "cancel" ? $"/api/soar/runs/{runId}/cancel" : $"/api/runs/{runId}/{decision}";
            (HttpStatusCode status, _) = await GuardrailTestRuns.PostJsonAsync(host, path, """{"by": "replay-test", "reason": "recorded history"}""");
            Assert.Equal(HttpStatusCode.Accepted, status);
        }

        RunResult result = await host.WaitForRunAsync(runId, TimeSpan.FromSeconds(120));
        Assert.Equal(expectedOutcome, result.Outcome);
        return await ReadHistoryAsync(runId);
    }

    private async Task<string> RunVersionOneAsync(NhiTestHost host, string bucket)
    {
        using JsonDocument alert = JsonDocument.Parse(FindingSamples.SecurityHubFor(bucket));
        Finding finding = new SecurityHubAlertParser().Parse(alert.RootElement).Actionable[0];
        var request = new RemediationRequest(RunIds.ForFinding(finding), finding, "securityhub", DateTimeOffset.UtcNow);

        await host.Client.ScheduleNewOrchestrationInstanceAsync(RemediateFindingOrchestrator.Name, request, new StartOrchestrationOptions(request.RunId));
        RunResult result = await host.WaitForRunAsync(request.RunId, TimeSpan.FromSeconds(120));
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        return await ReadHistoryAsync(request.RunId);
    }

    private async Task<string> ReadHistoryAsync(string runId)
    {
        var service = new AzureStorageOrchestrationService(new AzureStorageOrchestrationServiceSettings
        {
            StorageAccountClientProvider = new StorageAccountClientProvider(LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING")),
            TaskHubName = _taskHub,
        });

        return await service.GetOrchestrationHistoryAsync(runId, executionId: null);
    }

    private static async Task WaitForApprovalStateAsync(NhiTestHost host, string runId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            OrchestrationMetadata? run = await host.Client.GetInstanceAsync(runId, getInputsAndOutputs: true, timeout.Token);
            if (run?.SerializedCustomStatus is not null && run.ReadCustomStatusAs<RunWaitStatus>()?.State == RunWaitStates.AwaitingApproval)
            {
                return;
            }

            await Task.Delay(100, timeout.Token);
        }
    }

    private static void AssertNoCredential(NhiTestHost host, IEnumerable<string> histories)
    {
        string[] texts = histories.ToArray();
        foreach (Amazon.SecurityToken.Model.Credentials credential in host.IssuedCredentials)
        {
            foreach (string secret in new[] { credential.AccessKeyId, credential.SecretAccessKey, credential.SessionToken })
            {
                Assert.DoesNotContain(texts, text => text.Contains(secret, StringComparison.Ordinal));
            }
        }
    }

    private void Record(string orchestrator, string path, string json)
    {
        if (Environment.GetEnvironmentVariable("NHI_RECORD_HISTORIES") != "1")
        {
            return;
        }

        string name = path.StartsWith("version-1-", StringComparison.Ordinal) ? path["version-1-".Length..] : path;
        string file = Path.Combine(HistoriesFolder, $"{orchestrator}-{name}.json");
        Directory.CreateDirectory(HistoriesFolder);
        using JsonDocument document = JsonDocument.Parse(json);
        File.WriteAllText(file, JsonSerializer.Serialize(document.RootElement, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        output.WriteLine($"Recorded {file}");
    }

    private static string[] RecordedHistories() =>
        Directory.Exists(HistoriesFolder) ? Directory.GetFiles(HistoriesFolder, "*.json").Order(StringComparer.Ordinal).ToArray() : [];

    private async Task<string> PublicBucketAsync()
    {
        string bucket = await _aws.CreateBucketAsync();
        _buckets.Add(bucket);
        await _aws.MakePublicAsync(bucket, withPrivateStatement: false);
        return bucket;
    }
}
