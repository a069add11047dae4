using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Findings;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>Event Grid delivery in both schemas, the validation handshakes, and token authentication.</summary>
public sealed class EventGridTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private NhiTestHost _host = null!;
    private string _bucket = null!;

    public async Task InitializeAsync()
    {
        _host = await NhiTestHost.StartAsync(settings: EdgeRequests.SecuredSettings());
        _bucket = await _aws.CreateBucketAsync();
        await _aws.MakePublicAsync(_bucket, withPrivateStatement: false);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _aws.DeleteBucketAsync(_bucket);
        _aws.Dispose();
    }

    [Fact]
    public async Task ValidationEventIsAnswered()
    {
        (int status, JsonNode? body) = await PostAsync("securityhub", SampleFiles.Read("eventgrid/subscription-validation.json"), token: null);

        Assert.Equal(200, status);
        Assert.Equal("512d38b6-c7b8-40c8-89fe-f46f9e9622b6", body!["validationResponse"]!.GetValue<string>());
    }

    [Fact]
    public async Task AbuseProtectionRequestIsAnswered()
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, "/api/eventgrid/wiz");
        request.Headers.Add("WebHook-Request-Origin", "eventgrid.azure.net");

        using HttpResponseMessage response = await _host.Http.SendAsync(request);

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("eventgrid.azure.net", response.Headers.GetValues("WebHook-Allowed-Origin").Single());
    }

    [Fact]
    public async Task UnknownOriginIsRefused()
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, "/api/eventgrid/wiz");
        request.Headers.Add("WebHook-Request-Origin", "attacker.example");

        using HttpResponseMessage response = await _host.Http.SendAsync(request);

        Assert.Equal(403, (int)response.StatusCode);
    }

    [Fact]
    public async Task EventGridSchemaStartsRun()
    {
        JsonNode batch = SampleFiles.Node("eventgrid/eventgrid-securityhub.json");
        batch[0]!["data"] = JsonNode.Parse(FindingSamples.SecurityHubFor(_bucket));

        (int status, JsonNode? body) = await PostAsync("securityhub", batch.ToJsonString(), EdgeRequests.EventGridToken);

        Assert.Equal(202, status);
        RunResult result = await _host.WaitForRunAsync(body!["runs"]![0]!["runId"]!.GetValue<string>());
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
    }

    [Fact]
    public async Task SingleCloudEventStartsRun()
    {
        JsonNode cloudEvent = SampleFiles.Node("eventgrid/cloudevent-wiz.json");
        cloudEvent["data"] = JsonNode.Parse(EdgeIntakeTests.WizIssueFor(_bucket, Guid.NewGuid().ToString()));

        (int status, JsonNode? body) = await PostAsync("wiz", cloudEvent.ToJsonString(), EdgeRequests.EventGridToken, "application/cloudevents+json");

        Assert.Equal(202, status);
        Assert.Single(body!["runs"]!.AsArray());
    }

    [Fact]
    public async Task CloudEventsBatchStartsEachRun()
    {
        JsonNode batch = SampleFiles.Node("eventgrid/cloudevents-wiz-batch.json");
        JsonNode second = batch[0]!.DeepClone();
        second["id"] = Guid.NewGuid().ToString();
        batch.AsArray().Add(second);
        batch[0]!["data"] = JsonNode.Parse(EdgeIntakeTests.WizIssueFor(_bucket, Guid.NewGuid().ToString()));
        batch[1]!["data"] = JsonNode.Parse(EdgeIntakeTests.WizIssueFor(_bucket, Guid.NewGuid().ToString()));

        (int status, JsonNode? body) = await PostAsync("wiz", batch.ToJsonString(), EdgeRequests.EventGridToken, "application/cloudevents-batch+json");

        Assert.Equal(202, status);
        Assert.Equal(2, body!["runs"]!.AsArray().Count);
    }

    [Fact]
    public async Task BinaryCloudEventStartsRun()
    {
        string issue = EdgeIntakeTests.WizIssueFor(_bucket, Guid.NewGuid().ToString());

        (int status, JsonNode? body) = await PostAsync("wiz", issue, EdgeRequests.EventGridToken, headers: BinaryModeHeaders());

        Assert.Equal(202, status);
        RunResult result = await _host.WaitForRunAsync(Assert.Single(body!["runs"]!.AsArray())!["runId"]!.GetValue<string>());
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
    }

    [Theory]
    [InlineData("ce-id")]
    [InlineData("ce-source")]
    [InlineData("ce-type")]
    public async Task BinaryCloudEventNeedsAttribute(string header)
    {
        Dictionary<string, string> headers = BinaryModeHeaders();
        headers.Remove(header);

        (int status, JsonNode? problem) = await PostAsync("wiz", EdgeIntakeTests.WizIssueFor(_bucket, Guid.NewGuid().ToString()), EdgeRequests.EventGridToken, headers: headers);

        Assert.Equal(400, status);
        Assert.Equal(header, problem!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task BinaryCloudEventOfOtherVersionIsRejected()
    {
        Dictionary<string, string> headers = BinaryModeHeaders();
        headers["ce-specversion"] = "0.3";

        (int status, JsonNode? problem) = await PostAsync("wiz", EdgeIntakeTests.WizIssueFor(_bucket, Guid.NewGuid().ToString()), EdgeRequests.EventGridToken, headers: headers);

        Assert.Equal(400, status);
        Assert.Equal("ce-specversion", problem!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task BinaryCloudEventDataFieldIsNamed()
    {
        JsonNode issue = JsonNode.Parse(EdgeIntakeTests.WizIssueFor(_bucket, Guid.NewGuid().ToString()))!;
        issue["issue"]!.AsObject().Remove("id");

        (int status, JsonNode? problem) = await PostAsync("wiz", issue.ToJsonString(), EdgeRequests.EventGridToken, headers: BinaryModeHeaders());

        Assert.Equal(400, status);
        Assert.Equal("issue.id", problem!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task BinaryCloudEventWithoutTokenIsRejected()
    {
        (int status, _) = await PostAsync("wiz", EdgeIntakeTests.WizIssueFor(_bucket, Guid.NewGuid().ToString()), token: null, headers: BinaryModeHeaders());

        Assert.Equal(401, status);
    }

    [Fact]
    public async Task EventWithoutTokenIsRejected()
    {
        (int status, _) = await PostAsync("wiz", SampleFiles.Read("eventgrid/cloudevents-wiz-batch.json"), token: null, "application/cloudevents-batch+json");

        Assert.Equal(401, status);
    }

    [Fact]
    public async Task InvalidEventDataIsNamed()
    {
        JsonNode batch = SampleFiles.Node("eventgrid/cloudevents-wiz-batch.json");
        batch[0]!["data"]!["issue"]!.AsObject().Remove("id");

        (int status, JsonNode? problem) = await PostAsync("wiz", batch.ToJsonString(), EdgeRequests.EventGridToken, "application/cloudevents-batch+json");

        Assert.Equal(400, status);
        Assert.Equal("[0].data.issue.id", problem!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task EventWithoutSpecVersionIsRejected()
    {
        (int status, JsonNode? problem) = await PostAsync("wiz", "{\"id\": \"1\", \"data\": {}}", EdgeRequests.EventGridToken);

        Assert.Equal(400, status);
        Assert.Equal("$", problem!["field"]!.GetValue<string>());
    }

    /// <summary>The attribute headers of a Wiz issue event in CloudEvents 1.0 HTTP binary content mode.</summary>
    private static Dictionary<string, string> BinaryModeHeaders() => new()
    {
        ["ce-specversion"] = "1.0",
        ["ce-id"] = Guid.NewGuid().ToString(),
        ["ce-source"] = "/wiz/automation-rules/4c1d2b3a-7e55-4a0e-9d8e-51f1e4b8a201",
        ["ce-type"] = "com.wiz.issue.created",
        ["ce-time"] = "2026-05-14T09:41:03Z",
    };

    private async Task<(int Status, JsonNode? Body)> PostAsync(
        string source, string body, string? token, string mediaType = "application/json", IReadOnlyDictionary<string, string>? headers = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/eventgrid/{source}") { Content = new StringContent(body, Encoding.UTF8) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        if (token is not null)
        {
            request.Headers.Add("X-Delivery-Token", token);
        }

        foreach ((string name, string value) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.Add(name, value);
        }

        (int status, JsonNode? answer, _) = await EdgeRequests.SendAsync(_host.Http, request);
        return (status, answer);
    }
}
