using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Nhi.Serverless.Tests.Identity;

/// <summary>An OIDC issuer's JWKS endpoint on 127.0.0.1, served by Kestrel, that counts its requests and can be
/// made to fail or stall.</summary>
public sealed class JwksServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private JwksServer(WebApplication app, string document)
    {
        _app = app;
        Document = document;
    }

    public Uri JwksUrl => new(new Uri(_app.Urls.First()), "/.well-known/jwks");

    /// <summary>The JWKS document served; a test may replace it to rotate keys.</summary>
    public string Document { get; set; }

    /// <summary>The status code served; 200 serves <see cref="Document"/>.</summary>
    public int Status { get; set; } = StatusCodes.Status200OK;

    /// <summary>How long each response is held back.</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.Zero;

    public int Requests => Volatile.Read(ref _requests);

    public static async Task<JwksServer> StartAsync(string document)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        WebApplication app = builder.Build();
        var server = new JwksServer(app, document);
        app.MapGet("/.well-known/jwks", async (HttpContext context) =>
        {
            Interlocked.Increment(ref server._requests);
            if (server.Delay > TimeSpan.Zero)
            {
                await Task.Delay(server.Delay, context.RequestAborted);
            }

            return server.Status == StatusCodes.Status200OK
                ? Results.Text(server.Document, "application/json")
                : Results.StatusCode(server.Status);
        });
        await app.StartAsync();
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
