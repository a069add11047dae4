using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>
/// A stand-in Splunk HTTP Event Collector on 127.0.0.1 with a free port: it records every request and
/// returns the scripted responses in order, then 200 Success.
/// </summary>
internal sealed class HecReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<(int Status, string Body)> _responses = new();

    private HecReceiver(WebApplication app)
    {
        _app = app;
    }

    /// <summary>The requests received, in order.</summary>
    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    /// <summary>The base URL, such as http://127.0.0.1:41234.</summary>
    public string Url { get; private set; } = "";

    public static async Task<HecReceiver> StartAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        WebApplication app = builder.Build();
        var receiver = new HecReceiver(app);
        app.Run(receiver.HandleAsync);

        await app.StartAsync();
        receiver.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return receiver;
    }

    /// <summary>Queues a response for the next request that has none scripted yet.</summary>
    public void Respond(int status, string body) => _responses.Enqueue((status, body));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        string body = await reader.ReadToEndAsync(context.RequestAborted);
        Requests.Enqueue(new ReceivedRequest(
            context.Request.Method,
            context.Request.Path.Value ?? "",
            context.Request.Headers.Authorization.ToString(),
            context.Request.Headers["X-Splunk-Request-Channel"].ToString(),
            context.Request.ContentType ?? "",
            body));

        (int status, string responseBody) = _responses.TryDequeue(out var scripted) ? scripted : (200, """{"text":"Success","code":0}""");
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(responseBody, context.RequestAborted);
    }
}

/// <summary>One request as the receiver saw it.</summary>
internal sealed record ReceivedRequest(string Method, string Path, string Authorization, string Channel, string ContentType, string Body);
