using System.Text.Json.Nodes;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Tests.Workflows;

/// <summary>Workflow requests for tests: the trigger samples under samples/workflows, and the checks of a rejected request.</summary>
public static class WorkflowTestRequests
{
    /// <summary>Returns the request of samples/workflows/{name}.json, as a trigger would deliver it.</summary>
    public static WorkflowRequest Sample(string name)
    {
        JsonNode sample = JsonNode.Parse(FindingSamples.Read($"workflows/{name}.json"))!;
        Dictionary<string, string> parameters = sample["parameters"]!.AsObject().ToDictionary(pair => pair.Key, pair => pair.Value!.GetValue<string>());
        return new WorkflowRequest("wf-sample-" + name, sample["workflow"]!.GetValue<string>(), "test", "test-caller", parameters, DateTimeOffset.UtcNow);
    }

    /// <summary>Runs the request and fails unless it is rejected for <paramref name="field"/> before any grant is issued.</summary>
    public static async Task AssertRejectedAsync(WorkflowTestHost host, string workflow, IReadOnlyDictionary<string, string> parameters, string field)
    {
        ArgumentNullException.ThrowIfNull(host);
        string runId = await host.StartRunAsync(workflow, parameters);
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Rejected, result.Outcome);
        Assert.StartsWith($"field '{field}': expected ", Assert.Single(result.Reasons), StringComparison.Ordinal);
        Assert.Empty(result.Steps);
        Assert.Empty(host.IssuedSecrets);
    }
}
