using System.Text.Json;
using DurableTask.AzureStorage;
using DurableTask.Core.History;
using Microsoft.DurableTask;
using Nhi.Serverless.Orchestration.Workflows;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Tests.Workflows;
using Nhi.Serverless.Workflows;
using Xunit.Abstractions;

namespace Nhi.Serverless.Tests.Replay;

/// <summary>
/// Replays histories of workflow runs made now on the Azure Storage backend: a managed run (the claims sample) and the
/// three ways a brokered step ends (done, cancel, window closed). Set NHI_RECORD_HISTORIES=1 to check them in.
/// </summary>
public sealed class WorkflowReplayTests(ITestOutputHelper output)
{
    private readonly string _taskHub = "NhiWfReplay" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task WorkflowRuns_Replay()
    {
        var histories = new Dictionary<string, string>();
        await using (WorkflowTestHost host = await WorkflowTestHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["Durable:TaskHubName"] = _taskHub,
                ["Workflows:ClaimsContainer"] = LocalStack.Get("NHI_CLAIMS_CONTAINER"),
                ["Workflows:DeployWindow"] = "00:00:05",
            },
            backend: "AzureStorage"))
        {
            string claims = await host.StartRunAsync("claims", new Dictionary<string, string> { ["claimId"] = "CLM-2001", ["memberId"] = "M-1001" });
            Assert.Equal(WorkflowOutcomes.Completed, (await host.WaitAsync(claims, TimeSpan.FromSeconds(120))).Outcome);
            histories["managed"] = await ReadHistoryAsync(claims);

            // The claim's event without a hand-out: replay needs only the run's side of the step.
            string done = await StartDeployAsync(host);
            await host.Client.RaiseEventAsync(done, WorkflowEvents.Claimed(CicdStep), new BrokeredGrantsClaimed([], DateTimeOffset.UtcNow, "replay-test"));
            await host.Client.RaiseEventAsync(done, WorkflowEvents.Done(CicdStep), new BrokeredStepDone(true, ["reported by the test"], null, null));
            Assert.Equal(WorkflowOutcomes.Completed, (await host.WaitAsync(done, TimeSpan.FromSeconds(120))).Outcome);
            histories["brokered-done"] = await ReadHistoryAsync(done);

            string cancelled = await StartDeployAsync(host);
            await host.Client.RaiseEventAsync(cancelled, WorkflowEvents.Cancel, new WorkflowCancel("replay-test", "recorded history"));
            Assert.Equal(WorkflowOutcomes.Cancelled, (await host.WaitAsync(cancelled, TimeSpan.FromSeconds(120))).Outcome);
            histories["brokered-cancelled"] = await ReadHistoryAsync(cancelled);

            string closed = await StartDeployAsync(host);
            WorkflowResult result = await host.WaitAsync(closed, TimeSpan.FromSeconds(120));
            Assert.Equal("window-closed", Assert.Single(result.Steps).EndedBy);
            histories["brokered-window-closed"] = await ReadHistoryAsync(closed);
        }

        foreach ((string path, string json) in histories)
        {
            List<HistoryEvent> history = HistoryReplayer.Parse(json);
            ReplayOutcome outcome = HistoryReplayer.Replay(history);
            Assert.True(outcome.Completed, $"The {path} workflow run did not replay: {outcome.Failure}");
            Record(path, json);
        }
    }

    private const string CicdStep = "deploy";

    // The brokered deploy step, started without the HTTP edge: the test raises the caller's events itself.
    private static async Task<string> StartDeployAsync(WorkflowTestHost host)
    {
        var request = new WorkflowRequest(
            "wf-replay-" + Guid.NewGuid().ToString("N"), "cicd", "test", "repo:nhi-demo/app:ref:refs/heads/main",
            new Dictionary<string, string> { ["commit"] = "3f9c2a1b7d4e" }, DateTimeOffset.UtcNow);
        await host.Client.ScheduleNewOrchestrationInstanceAsync(RunWorkflowOrchestrator.Name, request, new StartOrchestrationOptions(request.RunId));

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while ((await host.Client.GetInstanceAsync(request.RunId, getInputsAndOutputs: true, timeout.Token))?.SerializedCustomStatus is null)
        {
            await Task.Delay(100, timeout.Token);
        }

        return request.RunId;
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

    private void Record(string path, string json)
    {
        if (Environment.GetEnvironmentVariable("NHI_RECORD_HISTORIES") != "1")
        {
            return;
        }

        string file = Path.Combine(LocalStack.RepositoryRoot, "tests", "Nhi.Serverless.Tests", "Replay", "Histories", $"{RunWorkflowOrchestrator.Name}-{path}.json");
        using JsonDocument document = JsonDocument.Parse(json);
        File.WriteAllText(file, JsonSerializer.Serialize(document.RootElement, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        output.WriteLine($"Recorded {file}");
    }
}
