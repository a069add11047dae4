using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.OAuth;

namespace Nhi.Serverless.Tests.Brokers;

/// <summary>
/// A partner API on Kestrel (127.0.0.1, a free port) acting as an OAuth resource server. It checks each bearer token by
/// RFC 7662 introspection with its own client. It returns 401 for a missing, inactive or other-audience token, and 403
/// (insufficient_scope) when the token lacks the route's scope.
/// </summary>
public sealed class PartnerApi : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _client;

    private PartnerApi(WebApplication app)
    {
        _app = app;
        _client = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(15) };
    }

    /// <param name="audience">The resource indicator tokens must carry as aud.</param>
    /// <param name="routes">Each path and the scope a token needs for it.</param>
    public static async Task<PartnerApi> StartAsync(OAuthTestServer server, string audience, IReadOnlyDictionary<string, string> routes)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        WebApplication app = builder.Build();
        var introspection = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Uri introspectionEndpoint = await server.IntrospectionEndpointAsync();

        foreach ((string path, string requiredScope) in routes)
        {
            app.MapGet(path, async (HttpContext context) =>
            {
                string? header = context.Request.Headers.Authorization;
                if (header is null || !header.StartsWith("Bearer ", StringComparison.Ordinal))
                {
                    context.Response.Headers.WWWAuthenticate = "Bearer";
                    return Results.StatusCode(401);
                }

                using var request = new HttpRequestMessage(HttpMethod.Post, introspectionEndpoint)
                {
                    Content = new FormUrlEncodedContent([new("token", header["Bearer ".Length..])]),
                };
                request.Headers.Authorization = new AuthenticationHeaderValue(
                    "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{server.PartnerClientId}:{server.PartnerClientSecret}")));
                using HttpResponseMessage response = await introspection.SendAsync(request);
                using JsonDocument result = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                JsonElement root = result.RootElement;

                bool active = root.TryGetProperty("active", out JsonElement value) && value.ValueKind == JsonValueKind.True;
                string? tokenAudience = root.TryGetProperty("aud", out JsonElement aud) ? aud.ToString() : null;
                if (!active || tokenAudience != audience)
                {
                    context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
                    return Results.StatusCode(401);
                }

                IReadOnlyList<string> scopes = OAuthScopes.Parse(root.TryGetProperty("scope", out JsonElement scope) ? scope.GetString() : null);
                if (!scopes.Contains(requiredScope))
                {
                    context.Response.Headers.WWWAuthenticate = $"Bearer error=\"insufficient_scope\", scope=\"{requiredScope}\"";
                    return Results.StatusCode(403);
                }

                return Results.Ok(new { audience, path });
            });
        }

        await app.StartAsync();
        return new PartnerApi(app);
    }

    /// <summary>Returns the HTTP status of GET <paramref name="path"/> with the token, or without one when null.</summary>
    public async Task<int> GetStatusAsync(string path, OAuthAccessToken? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
        {
            request.Headers.Authorization = token.AuthorizationHeader();
        }

        using HttpResponseMessage response = await _client.SendAsync(request);
        return (int)response.StatusCode;
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
