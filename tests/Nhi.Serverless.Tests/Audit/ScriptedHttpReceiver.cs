using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>One scripted response: status, body and extra headers.</summary>
internal sealed record ScriptedResponse(int Status, string Body = "", IReadOnlyDictionary<string, string>? Headers = null);

/// <summary>One request as a receiver saw it, with every header.</summary>
internal sealed record CapturedRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>
/// An HTTP server on 127.0.0.1 with a free port that records every request and returns the scripted
/// responses in order, then the default response.
/// </summary>
internal sealed class ScriptedHttpReceiver : IAsyncDisposable
{
    private readonly ConcurrentQueue<ScriptedResponse> _responses = new();
    private readonly ScriptedResponse _default;
    private LoopbackServer? _server;

    private ScriptedHttpReceiver(ScriptedResponse defaultResponse)
    {
        _default = defaultResponse;
    }

    public ConcurrentQueue<CapturedRequest> Requests { get; } = new();

    /// <summary>The base URL, such as http://127.0.0.1:41234.</summary>
    public string Url => _server!.Url;

    public static async Task<ScriptedHttpReceiver> StartAsync(ScriptedResponse defaultResponse)
    {
        var receiver = new ScriptedHttpReceiver(defaultResponse);
        receiver._server = await LoopbackServer.StartAsync(receiver.HandleAsync);
        return receiver;
    }

    public void Respond(ScriptedResponse response) => _responses.Enqueue(response);

    public async ValueTask DisposeAsync()
    {
        await _server!.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        string body = await reader.ReadToEndAsync(context.RequestAborted);
        Requests.Enqueue(new CapturedRequest(
            context.Request.Method,
            context.Request.Path.Value ?? "",
            context.Request.QueryString.Value ?? "",
            context.Request.Headers.ToDictionary(header => header.Key, header => header.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            body));

        ScriptedResponse response = _responses.TryDequeue(out ScriptedResponse? scripted) ? scripted : _default;
        context.Response.StatusCode = response.Status;
        foreach ((string name, string value) in response.Headers ?? new Dictionary<string, string>())
        {
            context.Response.Headers[name] = value;
        }

        if (response.Body.Length > 0)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(response.Body, context.RequestAborted);
        }
    }
}
