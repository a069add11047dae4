using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Hosting.Http;

namespace Nhi.Serverless.Functions;

/// <summary>HTTP triggers for alert intake and run status, over the shared HTTP edge.</summary>
/// <remarks>Function keys authenticate callers (AuthorizationLevel.Function); a source with configured secrets must
/// also be signed. The handlers write the response themselves.</remarks>
public sealed class AlertFunctions(AlertEndpoint alerts)
{
    [Function("PostAlert")]
    public async Task<IActionResult> PostAlertAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "alerts/{source}")] HttpRequest request,
        string source,
        [DurableClient] DurableTaskClient client)
    {
        await alerts.HandleAsync(request.HttpContext, source, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("GetRun")]
    public static async Task<IActionResult> GetRunAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "runs/{runId}")] HttpRequest request,
        string runId,
        [DurableClient] DurableTaskClient client)
    {
        await RunStatusEndpoint.HandleAsync(request.HttpContext, runId, client);
        return new EmptyResult();
    }
}
