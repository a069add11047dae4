using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Hosting.Http;

namespace Nhi.Serverless.Hosting.Sweeper;

/// <summary>The grant ledger over HTTP: a run's grants, and a sweep on demand.</summary>
/// <remarks>NOTE: like the audit endpoints these have no authentication of their own, so hosts bind them to loopback only.</remarks>
public static class GrantEndpoints
{
    /// <summary>POST /api/grants/sweep: sweeps once now and returns the report.</summary>
    public static async Task SweepAsync(HttpContext context, IServiceProvider services, DurableTaskClient client)
    {
        SweepReport report = await GrantSweepers.Create(services, client).SweepAsync(context.RequestAborted);
        await context.Response.WriteAsJsonAsync(report, HttpJson.Options, context.RequestAborted);
    }

    /// <summary>GET /api/runs/{runId}/grants: the run's grants as the ledger records them; an empty list for an unknown run.</summary>
    public static async Task RunGrantsAsync(HttpContext context, string runId, IGrantLedger ledger)
    {
        if (runId.Length > 200 || runId.Any(character => character is '/' or '\\' or '#' or '?' || char.IsControl(character)))
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-run-id", "Invalid run id",
                "The run id is not one the service issues.", "runId", "at most 200 characters without '/', '\\', '#', '?' or control characters");
            return;
        }

        IReadOnlyList<GrantRecord> grants = await ledger.ListByRunAsync(runId, context.RequestAborted);
        await context.Response.WriteAsJsonAsync(new { runId, grants }, HttpJson.Options, context.RequestAborted);
    }
}

/// <summary>Maps the approval and grant ledger endpoints.</summary>
public static class GrantEndpointRouteBuilderExtensions
{
    /// <summary>Maps POST /api/runs/{runId}/approve and /reject, GET /api/runs/{runId}/grants and POST /api/grants/sweep.</summary>
    public static IEndpointRouteBuilder MapGrantSafetyEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/api/runs/{runId}/approve", ApprovalEndpoints.ApproveAsync);
        endpoints.MapPost("/api/runs/{runId}/reject", ApprovalEndpoints.RejectAsync);
        endpoints.MapGet("/api/runs/{runId}/grants", GrantEndpoints.RunGrantsAsync);
        endpoints.MapPost("/api/grants/sweep", (HttpContext context, DurableTaskClient client) =>
            GrantEndpoints.SweepAsync(context, context.RequestServices, client));
        return endpoints;
    }
}
