using System.Net;
using System.Text.Json.Nodes;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>Helpers that post findings and JSON bodies to a test host and parse its responses.</summary>
internal static class GuardrailTestRuns
{
    /// <summary>Posts the Security Hub sample aimed at the bucket and returns the id of its one run.</summary>
    public static async Task<string> PostFindingAsync(NhiTestHost host, string bucket)
    {
        using HttpResponseMessage response = await host.Http.PostAsync("/api/alerts/securityhub", FindingSamples.Json(FindingSamples.SecurityHubFor(bucket)));
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"HTTP {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!["runs"]![0]!["runId"]!.GetValue<string>();
    }

    /// <summary>Polls the run's custom status until it waits for approval; fails the test when the run finishes first or after 60 seconds.</summary>
    public static async Task<RunWaitStatus> WaitForApprovalStateAsync(NhiTestHost host, string runId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            OrchestrationMetadata? run = await host.Client.GetInstanceAsync(runId, getInputsAndOutputs: true, timeout.Token);
            if (run?.SerializedCustomStatus is not null && run.ReadCustomStatusAs<RunWaitStatus>() is { State: RunWaitStates.AwaitingApproval } wait)
            {
                return wait;
            }

            Assert.False(run?.IsCompleted ?? false, $"Run {runId} finished without waiting for approval.");
            await Task.Delay(100, timeout.Token);
        }
    }

    /// <summary>Posts a JSON body and returns the status code and the parsed response.</summary>
    public static async Task<(HttpStatusCode Status, JsonNode Body)> PostJsonAsync(NhiTestHost host, string path, string json)
    {
        using HttpResponseMessage response = await host.Http.PostAsync(path, FindingSamples.Json(json));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }
}
