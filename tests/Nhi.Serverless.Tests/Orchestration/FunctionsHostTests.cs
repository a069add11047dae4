using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Functions;
using Nhi.Serverless.Hosting.Http;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Orchestration;

/// <summary>The Functions app's HTTP trigger methods, called with a real Durable Task client on the local sidecar.</summary>
public sealed class FunctionsHostTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private NhiTestHost _host = null!;
    private string _bucket = null!;

    public async Task InitializeAsync()
    {
        _host = await NhiTestHost.StartAsync();
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
    public async Task PostAlertTriggerStartsRun()
    {
        var functions = new AlertFunctions(_host.Services.GetRequiredService<AlertEndpoint>());
        HttpContext context = NewContext("POST", FindingSamples.SecurityHubFor(_bucket));

        await functions.PostAlertAsync(context.Request, "securityhub", _host.Client);
        JsonNode accepted = ReadBody(context);

        Assert.Equal(StatusCodes.Status202Accepted, context.Response.StatusCode);
        string runId = accepted["runs"]![0]!["runId"]!.GetValue<string>();
        RunResult result = await _host.WaitForRunAsync(runId);
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);

        HttpContext status = NewContext("GET", null);
        await AlertFunctions.GetRunAsync(status.Request, runId, _host.Client);
        Assert.Equal("Completed", ReadBody(status)["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task PostAlertTriggerRejectsBadInput()
    {
        var functions = new AlertFunctions(_host.Services.GetRequiredService<AlertEndpoint>());
        HttpContext context = NewContext("POST", "[1, 2");

        await functions.PostAlertAsync(context.Request, "securityhub", _host.Client);

        Assert.Equal((int)HttpStatusCode.BadRequest, context.Response.StatusCode);
        Assert.Equal("$", ReadBody(context)["field"]!.GetValue<string>());
    }

    private static DefaultHttpContext NewContext(string method, string? body)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("127.0.0.1", 7071);
        context.Request.Path = "/api/alerts/securityhub";
        if (body is not null)
        {
            context.Request.ContentType = "application/json";
            context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body));
        }

        context.Response.Body = new MemoryStream();
        return context;
    }

    private static JsonNode ReadBody(HttpContext context)
    {
        context.Response.Body.Position = 0;
        return JsonNode.Parse(new StreamReader(context.Response.Body).ReadToEnd())!;
    }
}
