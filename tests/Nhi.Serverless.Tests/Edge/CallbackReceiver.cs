using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>A local HTTP server on 127.0.0.1 that plays the part of a Logic App's callback URL and keeps what it receives.</summary>
public sealed class CallbackReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<(string PathAndQuery, string Body)> _received = new();
    private int _failuresLeft;

    private CallbackReceiver(WebApplication app) => _app = app;

    public Uri BaseAddress => new(_app.Urls.First());

    public IReadOnlyCollection<(string PathAndQuery, string Body)> Received => _received;

    /// <param name="failFirst">How many callbacks to answer 500 before answering 200.</param>
    public static async Task<CallbackReceiver> StartAsync(int failFirst = 0)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        WebApplication app = builder.Build();
        var receiver = new CallbackReceiver(app) { _failuresLeft = failFirst };
        app.MapPost("/callback/{id}", async (HttpContext context) =>
        {
            if (Interlocked.Decrement(ref receiver._failuresLeft) >= 0)
            {
                return Results.StatusCode(500);
            }

            using var reader = new StreamReader(context.Request.Body);
            receiver._received.Enqueue((context.Request.Path + context.Request.QueryString, await reader.ReadToEndAsync()));
            return Results.Ok();
        });
        await app.StartAsync();
        return receiver;
    }

    /// <summary>Waits until a callback whose path contains <paramref name="marker"/> arrived; fails after the timeout.</summary>
    public async Task<string> WaitForAsync(string marker, TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        while (true)
        {
            foreach ((string path, string body) in _received)
            {
                if (path.Contains(marker, StringComparison.Ordinal))
                {
                    return body;
                }
            }

            await Task.Delay(100, cancellation.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
