using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Orchestration;

/// <summary>Bad input at the HTTP edge: problem+json that names the field, and no run started.</summary>
public sealed class HttpEdgeTests : IAsyncLifetime
{
    private NhiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await NhiTestHost.StartAsync(settings: new Dictionary<string, string?> { ["Intake:MaxBodyBytes"] = "65536" });

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task MalformedJsonNamesRoot()
    {
        JsonNode problem = await PostProblemAsync("securityhub", "{\"detail\": [", "application/json", HttpStatusCode.BadRequest);

        Assert.Equal("$", problem["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task MissingFieldIsNamed()
    {
        JsonNode alert = JsonNode.Parse(FindingSamples.SecurityHubFor("nhi-test-edge"))!;
        alert["detail"]!["findings"]![0]!.AsObject().Remove("UpdatedAt");

        JsonNode problem = await PostProblemAsync("securityhub", alert.ToJsonString(), "application/json", HttpStatusCode.BadRequest);

        Assert.Equal("detail.findings[0].UpdatedAt", problem["field"]!.GetValue<string>());
        Assert.Equal("https://nhi-serverless.dev/problems/invalid-alert", problem["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task WrongContentTypeIsRejected()
    {
        JsonNode problem = await PostProblemAsync("securityhub", "{}", "text/plain", HttpStatusCode.UnsupportedMediaType);

        Assert.Equal("Content-Type", problem["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task JsonLinesNeedsLinesParser()
    {
        JsonNode problem = await PostProblemAsync("securityhub", "{}\n{}", "application/x-ndjson", HttpStatusCode.UnsupportedMediaType);

        Assert.Equal("application/json", problem["expected"]!.GetValue<string>());
    }

    [Fact]
    public async Task OversizedBodyIsRejected()
    {
        string body = "{\"padding\":\"" + new string('a', 70_000) + "\"}";

        JsonNode problem = await PostProblemAsync("securityhub", body, "application/json", HttpStatusCode.RequestEntityTooLarge);

        Assert.Equal("body", problem["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task UnknownSourceListsKnownOnes()
    {
        JsonNode problem = await PostProblemAsync("nosuchsource", "{}", "application/json", HttpStatusCode.NotFound);

        Assert.Contains("securityhub", problem["expected"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownRunIsNotFound()
    {
        using HttpResponseMessage response = await _host.Http.GetAsync("/api/runs/run-00000000000000000000000000000000");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task OnlySkippedFindingsAnswerOk()
    {
        JsonNode alert = JsonNode.Parse(FindingSamples.SecurityHubFor("nhi-test-edge"))!;
        alert["detail"]!["findings"]![0]!["Compliance"]!["Status"] = "PASSED";

        using HttpResponseMessage response = await _host.Http.PostAsync("/api/alerts/securityhub", FindingSamples.Json(alert.ToJsonString()));
        JsonNode body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(body["runs"]!.AsArray());
        Assert.Contains("PASSED", body["skipped"]![0]!["reason"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RejectedAlertStartsNoRun()
    {
        JsonNode alert = JsonNode.Parse(FindingSamples.SecurityHubFor("nhi-test-edge"))!;
        alert["detail"]!["findings"]![0]!["AwsAccountId"] = "AKIAEXAMPLESECRET";

        JsonNode problem = await PostProblemAsync("securityhub", alert.ToJsonString(), "application/json", HttpStatusCode.BadRequest);
        var instances = _host.Client.GetAllInstancesAsync();

        Assert.DoesNotContain("AKIAEXAMPLESECRET", problem.ToJsonString(), StringComparison.Ordinal);
        Assert.False(await instances.GetAsyncEnumerator().MoveNextAsync());
    }

    [Fact]
    public async Task InvalidTextNeverAnswersBare500()
    {
        // A lone surrogate escape is valid JSON syntax but not valid text for the parsers to read.
        string alert = FindingSamples.SecurityHubFor("nhi-test-edge").Replace("\"Title\": \"", "\"Title\": \"\\ud800", StringComparison.Ordinal);

        using HttpResponseMessage response = await _host.Http.PostAsync("/api/alerts/securityhub", FindingSamples.Json(alert));

        Assert.True((int)response.StatusCode is 400 or 500, $"HTTP {(int)response.StatusCode}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    private async Task<JsonNode> PostProblemAsync(string source, string body, string contentType, HttpStatusCode expected)
    {
        using var content = new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);

        using HttpResponseMessage response = await _host.Http.PostAsync($"/api/alerts/{source}", content);
        string text = await response.Content.ReadAsStringAsync();

        Assert.True(expected == response.StatusCode, $"Expected {(int)expected}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(text)!;
    }
}
