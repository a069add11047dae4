using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Azure.Runs;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>Hosts that share one run registry: a run another host accepted lately is a duplicate here, even when this
/// host's orchestration store does not have it, as with two hosts on the in-memory backend.</summary>
public sealed class SharedRegistryTests : IAsyncLifetime
{
    private const string ThisHost = "edge-b";

    private static readonly string ConnectionString = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING");

    private readonly string _runsTable = "NhiRunsShared" + Guid.NewGuid().ToString("N")[..10];
    private NhiTestHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await NhiTestHost.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Runs:TableName"] = _runsTable,
            ["Runs:HostId"] = ThisHost,
        });
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await new TableServiceClient(ConnectionString).DeleteTableAsync(_runsTable);
    }

    [Fact]
    public async Task RunAcceptedElsewhereIsDuplicate()
    {
        (string body, string runId) = await AcceptedByAsync("edge-a", DateTimeOffset.UtcNow);

        JsonNode answer = await PostAsync(body);

        Assert.Equal(runId, answer["runs"]![0]!["runId"]!.GetValue<string>());
        Assert.True(answer["runs"]![0]!["duplicate"]!.GetValue<bool>());
        Assert.Null(await _host.Client.GetInstanceAsync(runId));
    }

    [Fact]
    public async Task StaleStartElsewhereIsTakenOver()
    {
        (string body, string runId) = await AcceptedByAsync("edge-a", DateTimeOffset.UtcNow - TimeSpan.FromMinutes(10));

        JsonNode answer = await PostAsync(body);

        Assert.False(answer["runs"]![0]!["duplicate"]!.GetValue<bool>());
        Assert.NotNull(await _host.Client.GetInstanceAsync(runId));
    }

    [Fact]
    public async Task OwnLostRunStartsAgain()
    {
        (string body, string runId) = await AcceptedByAsync(ThisHost, DateTimeOffset.UtcNow);

        JsonNode answer = await PostAsync(body);

        Assert.False(answer["runs"]![0]!["duplicate"]!.GetValue<bool>());
        Assert.NotNull(await _host.Client.GetInstanceAsync(runId));
    }

    /// <summary>Registers a Security Hub finding as another host would, and returns its body and run id. Control S3.1
    /// has no playbook, so a run that starts is planned and skipped without touching AWS.</summary>
    private async Task<(string Body, string RunId)> AcceptedByAsync(string hostId, DateTimeOffset acceptedAt)
    {
        string body = FindingSamples.SecurityHubFor("nhi-shared-registry", Guid.NewGuid().ToString())
            .Replace("S3.2", "S3.1", StringComparison.Ordinal);
        using JsonDocument document = JsonDocument.Parse(body);
        Finding finding = new SecurityHubAlertParser().Parse(document.RootElement).Actionable[0];
        var request = new RemediationRequest(RunIds.ForFinding(finding), finding, "securityhub", acceptedAt);

        var otherHost = TableRunRegistry.FromConnectionString(ConnectionString, _runsTable, hostId: hostId);
        Assert.True((await otherHost.RegisterAsync(request, CancellationToken.None)).IsNew);
        return (body, request.RunId);
    }

    private async Task<JsonNode> PostAsync(string body)
    {
        using HttpResponseMessage response = await _host.Http.PostAsync("/api/alerts/securityhub", FindingSamples.Json(body));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == 202, $"Expected 202, got {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }
}
