using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Hosting.Sweeper;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>Maps the HTTP API of hosts built on ASP.NET Core (the local host and tests).</summary>
public static class EndpointRouteBuilderExtensions
{
    public static IEndpointRouteBuilder MapNhiEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/api/alerts/{source}", (HttpContext context, string source, AlertEndpoint alerts, DurableTaskClient client) =>
            alerts.HandleAsync(context, source, client));

        endpoints.MapGet("/api/runs/{runId}", (HttpContext context, string runId, DurableTaskClient client) =>
            RunStatusEndpoint.HandleAsync(context, runId, client));

        endpoints.MapGet("/.well-known/jwks.json", AuditEndpoints.GetJwks);
        endpoints.MapGet("/api/audit/runs/{runId}/records", AuditEndpoints.RunRecordsAsync);
        endpoints.MapAuditorEndpoints();

        endpoints.MapNhiEdgeEndpoints();
        endpoints.MapGrantSafetyEndpoints();

        endpoints.MapGet("/healthz", () => Results.Text("ok"));
        return endpoints;
    }
}
