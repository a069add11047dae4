using System.Text.Json.Nodes;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>The Logic Apps asynchronous request-reply and webhook-action patterns, with a callback server on 127.0.0.1.</summary>
public sealed class LogicAppsTests : IAsyncLifetime
{
    private const string CallbackSignature = "sig=callback-signature-0123456789abcdef";

    private readonly AwsTestStack _aws = new();
    private NhiTestHost _host = null!;
    private CallbackReceiver _receiver = null!;
    private string _bucket = null!;

    public async Task InitializeAsync()
    {
        _receiver = await CallbackReceiver.StartAsync(failFirst: 1);
        Dictionary<string, string?> settings = EdgeRequests.SecuredSettings();
        settings["Edge:LogicApps:AllowHttpCallbacks"] = "true";
        settings["Edge:LogicApps:CallbackAllowedHosts"] = "127.0.0.1";
        settings["Edge:LogicApps:CallbackPollMilliseconds"] = "200";
        settings["Edge:LogicApps:RetryAfterSeconds"] = "1";
        _host = await NhiTestHost.StartAsync(settings: settings);
        _bucket = await _aws.CreateBucketAsync();
        await _aws.MakePublicAsync(_bucket, withPrivateStatement: false);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _receiver.DisposeAsync();
        await _aws.DeleteBucketAsync(_bucket);
        _aws.Dispose();
    }

    [Fact]
    public async Task AsyncPatternPollsToResult()
    {
        string runId = "logicapp-" + Guid.NewGuid().ToString("N");

        (int status, _, HttpResponseMessage accepted) = await SendAsync(HttpMethod.Post, "/api/logicapps/runs", SoarApiTests.RequestFor(_bucket, runId));

        Assert.Equal(202, status);
        Assert.Equal(TimeSpan.FromSeconds(1), accepted.Headers.RetryAfter!.Delta);
        Uri location = accepted.Headers.Location!;
        JsonNode? final = null;
        for (int poll = 0; poll < 120 && final is null; poll++)
        {
            (int pollStatus, JsonNode? body, HttpResponseMessage response) = await SendAsync(HttpMethod.Get, location.PathAndQuery, null);
            if (pollStatus == 200)
            {
                final = body;
                break;
            }

            Assert.Equal(202, pollStatus);
            Assert.NotNull(response.Headers.Location);
            await Task.Delay(250);
        }

        Assert.NotNull(final);
        Assert.Equal("remediated", final["outcome"]!.GetValue<string>());
    }

    [Fact]
    public async Task WebhookPatternPostsResult()
    {
        string runId = "logicapp-" + Guid.NewGuid().ToString("N");
        string callbackUrl = $"{_receiver.BaseAddress}callback/{runId}?api-version=2016-06-01&{CallbackSignature}";
        var subscribe = new JsonObject { ["callbackUrl"] = callbackUrl, ["request"] = JsonNode.Parse(SoarApiTests.RequestFor(_bucket, runId)) };

        (int status, JsonNode? body, _) = await SendAsync(HttpMethod.Post, "/api/logicapps/subscriptions", subscribe.ToJsonString());

        Assert.Equal(201, status);
        Assert.Equal(runId, body!["runId"]!.GetValue<string>());
        JsonNode result = JsonNode.Parse(await _receiver.WaitForAsync(runId, TimeSpan.FromSeconds(60)))!;
        Assert.Equal("remediated", result["outcome"]!.GetValue<string>());
        Assert.DoesNotContain(_host.Logs.Lines, line => line.Contains(CallbackSignature, StringComparison.Ordinal));
    }

    [Fact]
    public async Task CallbackHostMustBeAllowed()
    {
        var subscribe = new JsonObject
        {
            ["callbackUrl"] = "https://collector.example/callback?" + CallbackSignature,
            ["request"] = JsonNode.Parse(SoarApiTests.RequestFor(_bucket, "logicapp-" + Guid.NewGuid().ToString("N"))),
        };

        (int status, JsonNode? problem, _) = await SendAsync(HttpMethod.Post, "/api/logicapps/subscriptions", subscribe.ToJsonString());

        Assert.Equal(400, status);
        Assert.Equal("callbackUrl", problem!["field"]!.GetValue<string>());
        Assert.DoesNotContain(CallbackSignature, problem.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnsubscribeStopsCallback()
    {
        string runId = "logicapp-" + Guid.NewGuid().ToString("N");
        var subscribe = new JsonObject
        {
            ["callbackUrl"] = $"{_receiver.BaseAddress}callback/{runId}?{CallbackSignature}",
            ["request"] = JsonNode.Parse(SoarApiTests.RequestFor(_bucket, runId)),
        };
        (_, JsonNode? created, _) = await SendAsync(HttpMethod.Post, "/api/logicapps/subscriptions", subscribe.ToJsonString());

        (int status, _, _) = await SendAsync(HttpMethod.Delete, $"/api/logicapps/subscriptions/{created!["subscriptionId"]!.GetValue<string>()}", null);

        Assert.Equal(200, status);
        await _host.WaitForRunAsync(runId);
        await Task.Delay(1500);
        Assert.DoesNotContain(_receiver.Received, received => received.PathAndQuery.Contains(runId, StringComparison.Ordinal));
    }

    [Fact]
    public async Task RequestFieldIsNamed()
    {
        var subscribe = new JsonObject { ["callbackUrl"] = $"{_receiver.BaseAddress}callback/x?{CallbackSignature}", ["request"] = new JsonObject { ["playbook"] = "s3-bucket-public-access" } };

        (int status, JsonNode? problem, _) = await SendAsync(HttpMethod.Post, "/api/logicapps/subscriptions", subscribe.ToJsonString());

        Assert.Equal(400, status);
        Assert.Equal("request.requestedBy", problem!["field"]!.GetValue<string>());
    }

    private Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, string? body) =>
        EdgeRequests.SendAsync(_host.Http, EdgeRequests.WithToken(method, path, body, "Authorization", EdgeRequests.LogicAppsToken));
}
