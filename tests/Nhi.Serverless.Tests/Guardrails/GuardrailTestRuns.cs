using System.Net;
using System.Text.Json.Nodes;
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

    /// <summary>Posts a JSON body and returns the status code and the parsed response.</summary>
    public static async Task<(HttpStatusCode Status, JsonNode Body)> PostJsonAsync(NhiTestHost host, string path, string json)
    {
        using HttpResponseMessage response = await host.Http.PostAsync(path, FindingSamples.Json(json));
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }
}
