using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Functions;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Hosting.Http;
using Nhi.Serverless.Tests.Findings;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>HMAC signatures and tokens per source on the real host: what passes, what gets 401, and that no secret leaks.</summary>
public sealed class WebhookAuthenticationTests : IAsyncLifetime
{
    private NhiTestHost _host = null!;

    public async Task InitializeAsync() => _host = await NhiTestHost.StartAsync(settings: EdgeRequests.SecuredSettings());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task SignedAlertIsAccepted()
    {
        (int status, _, _) = await EdgeRequests.SendAsync(_host.Http, EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", SkippedWizIssue(), EdgeRequests.WizSecret));

        Assert.Equal(200, status);
    }

    [Fact]
    public async Task RotatedSecretIsAccepted()
    {
        (int status, _, _) = await EdgeRequests.SendAsync(_host.Http, EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", SkippedWizIssue(), EdgeRequests.WizRotatedSecret));

        Assert.Equal(200, status);
    }

    [Fact]
    public async Task UnsignedAlertIsRejected()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/alerts/wiz") { Content = FindingSamples.Json(SkippedWizIssue()) };

        (int status, JsonNode? problem, HttpResponseMessage response) = await EdgeRequests.SendAsync(_host.Http, request);

        Assert.Equal(401, status);
        Assert.Equal(WebhookAuthenticator.SignatureHeader, problem!["field"]!.GetValue<string>());
        Assert.NotEmpty(response.Headers.WwwAuthenticate);
    }

    [Fact]
    public async Task StaleTimestampIsRejected()
    {
        HttpRequestMessage request = EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", SkippedWizIssue(), EdgeRequests.WizSecret, DateTimeOffset.UtcNow.AddMinutes(-6));

        (int status, JsonNode? problem, _) = await EdgeRequests.SendAsync(_host.Http, request);

        Assert.Equal(401, status);
        Assert.Equal(WebhookAuthenticator.TimestampHeader, problem!["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task FutureTimestampIsRejected()
    {
        HttpRequestMessage request = EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", SkippedWizIssue(), EdgeRequests.WizSecret, DateTimeOffset.UtcNow.AddMinutes(6));

        (int status, _, _) = await EdgeRequests.SendAsync(_host.Http, request);

        Assert.Equal(401, status);
    }

    [Fact]
    public async Task TamperedBodyIsRejected()
    {
        string body = SkippedWizIssue();
        HttpRequestMessage request = EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", body, EdgeRequests.WizSecret);
        request.Content = FindingSamples.Json(body.Replace("RESOLVED", "OPEN", StringComparison.Ordinal));

        (int status, _, _) = await EdgeRequests.SendAsync(_host.Http, request);

        Assert.Equal(401, status);
    }

    [Fact]
    public async Task OtherSourceSecretIsRejected()
    {
        (int status, _, _) = await EdgeRequests.SendAsync(_host.Http, EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", SkippedWizIssue(), EdgeRequests.SoarSecret));

        Assert.Equal(401, status);
    }

    [Fact]
    public async Task MalformedSignatureIsRejected()
    {
        HttpRequestMessage request = EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", SkippedWizIssue(), EdgeRequests.WizSecret);
        request.Headers.Remove(WebhookAuthenticator.SignatureHeader);
        request.Headers.Add(WebhookAuthenticator.SignatureHeader, "v1=zz");

        (int status, _, _) = await EdgeRequests.SendAsync(_host.Http, request);

        Assert.Equal(401, status);
    }

    [Fact]
    public async Task WrongTokenIsRejected()
    {
        HttpRequestMessage request = EdgeRequests.WithToken(HttpMethod.Get, "/api/logicapps/runs/req-unknown", null, "Authorization", "not-the-token-0123456789");

        (int status, _, _) = await EdgeRequests.SendAsync(_host.Http, request);

        Assert.Equal(401, status);
    }

    [Fact]
    public async Task RightTokenIsAccepted()
    {
        HttpRequestMessage request = EdgeRequests.WithToken(HttpMethod.Get, "/api/logicapps/runs/req-unknown", null, "Authorization", EdgeRequests.LogicAppsToken);

        (int status, _, _) = await EdgeRequests.SendAsync(_host.Http, request);

        Assert.Equal(404, status);
    }

    [Fact]
    public async Task UnconfiguredSourceRejectsLoopback()
    {
        NhiTestHost host = await NhiTestHost.StartAsync(settings: new Dictionary<string, string?> { ["Edge:AllowUnsignedLoopback"] = "false" });
        await using (host)
        {
            (int status, JsonNode? problem, _) = await EdgeRequests.SendAsync(
                host.Http, new HttpRequestMessage(HttpMethod.Post, "/api/alerts/wiz") { Content = FindingSamples.Json(SkippedWizIssue()) });

            Assert.Equal(401, status);
            Assert.Contains("Edge:Sources:wiz:Secrets", problem!["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task UnsignedLoopback_WarnsAtStart()
    {
        NhiTestHost open = await NhiTestHost.StartAsync(settings: new Dictionary<string, string?> { ["Edge:AllowUnsignedLoopback"] = "true" });
        await using (open)
        {
            Assert.Contains(open.Logs.Lines, line => line.Contains("Edge:AllowUnsignedLoopback is on", StringComparison.Ordinal));
        }

        NhiTestHost closed = await NhiTestHost.StartAsync(settings: new Dictionary<string, string?> { ["Edge:AllowUnsignedLoopback"] = "false" });
        await using (closed)
        {
            Assert.DoesNotContain(closed.Logs.Lines, line => line.Contains("Edge:AllowUnsignedLoopback is on", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task FunctionsCallerNeedsNoSecret()
    {
        NhiTestHost host = await NhiTestHost.StartAsync(settings: new Dictionary<string, string?> { ["Edge:AllowUnsignedLoopback"] = "false" });
        await using (host)
        {
            var functions = new AlertFunctions(host.Services.GetRequiredService<AlertEndpoint>());
            DefaultHttpContext context = FunctionsContext(SkippedWizIssue());

            await functions.PostAlertAsync(context.Request, "wiz", host.Client);

            Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        }
    }

    [Fact]
    public async Task FunctionsCallerStillNeedsConfiguredSignature()
    {
        var functions = new AlertFunctions(_host.Services.GetRequiredService<AlertEndpoint>());
        DefaultHttpContext context = FunctionsContext(SkippedWizIssue());

        await functions.PostAlertAsync(context.Request, "wiz", _host.Client);

        Assert.Equal(StatusCodes.Status401Unauthorized, context.Response.StatusCode);
    }

    [Fact]
    public async Task SecretsAppearInNoLogOrResponse()
    {
        List<string> answers = [];
        foreach (HttpRequestMessage request in new[]
        {
            EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", SkippedWizIssue(), EdgeRequests.SoarSecret),
            EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", SkippedWizIssue(), EdgeRequests.WizSecret, DateTimeOffset.UtcNow.AddHours(-1)),
            EdgeRequests.WithToken(HttpMethod.Get, "/api/logicapps/runs/req-x", null, "Authorization", EdgeRequests.WizSecret),
            EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", SkippedWizIssue(), EdgeRequests.WizSecret),
        })
        {
            (_, JsonNode? body, HttpResponseMessage response) = await EdgeRequests.SendAsync(_host.Http, request);
            answers.Add(body?.ToJsonString() ?? "");
            answers.Add(response.Headers.ToString());
        }

        string[] secrets = [EdgeRequests.WizSecret, EdgeRequests.WizRotatedSecret, EdgeRequests.SoarSecret, EdgeRequests.LogicAppsToken, EdgeRequests.AdminSecret, EdgeRequests.EventGridToken];
        foreach (string secret in secrets)
        {
            Assert.DoesNotContain(_host.Logs.Lines, line => line.Contains(secret, StringComparison.Ordinal));
            Assert.DoesNotContain(answers, answer => answer.Contains(secret, StringComparison.Ordinal));
        }
    }

    private static string SkippedWizIssue()
    {
        JsonNode issue = SampleFiles.Node(SampleFiles.WizIssue);
        issue["issue"]!["id"] = Guid.NewGuid().ToString();
        issue["issue"]!["status"] = "RESOLVED";
        return issue.ToJsonString();
    }

    private static DefaultHttpContext FunctionsContext(string body)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Scheme = "https";
        context.Request.Host = new HostString("nhi.example", 443);
        context.Request.Path = "/api/alerts/wiz";
        context.Request.ContentType = "application/json";
        context.Request.Body = new MemoryStream(Encoding.UTF8.GetBytes(body));
        context.Response.Body = new MemoryStream();
        return context;
    }
}
