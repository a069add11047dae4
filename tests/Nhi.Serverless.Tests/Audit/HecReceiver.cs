using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>
/// A stand-in Splunk HTTP Event Collector on 127.0.0.1 with a free port: it records every request and
/// returns the scripted responses in order, then 200 Success.
/// </summary>
internal sealed class HecReceiver : IAsyncDisposable
{
    private readonly ConcurrentQueue<(int Status, string Body)> _responses = new();
    private LoopbackServer? _server;

    /// <summary>The requests received, in order.</summary>
    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    /// <summary>The base URL, such as http://127.0.0.1:41234.</summary>
    public string Url => _server!.Url;

    public static async Task<HecReceiver> StartAsync()
    {
        var receiver = new HecReceiver();
        receiver._server = await LoopbackServer.StartAsync(receiver.HandleAsync);
        return receiver;
    }

    /// <summary>Queues a response for the next request that has none scripted yet.</summary>
    public void Respond(int status, string body) => _responses.Enqueue((status, body));

    public async ValueTask DisposeAsync()
    {
        await _server!.DisposeAsync();
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
