using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Hosting.Http;

namespace Nhi.Serverless.Functions;

/// <summary>The SOAR API as HTTP triggers: start, status, list, approve or reject, cancel.</summary>
public sealed class SoarFunctions(SoarEndpoints soar)
{
    [Function("SoarStartRun")]
    public async Task<IActionResult> StartAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "soar/runs")] HttpRequest request,
        [DurableClient] DurableTaskClient client)
    {
        await soar.StartAsync(request.HttpContext, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("SoarListRuns")]
    public async Task<IActionResult> ListAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "soar/runs")] HttpRequest request,
        [DurableClient] DurableTaskClient client)
    {
        await soar.ListAsync(request.HttpContext, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("SoarGetRun")]
    public async Task<IActionResult> GetAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "soar/runs/{runId}")] HttpRequest request,
        string runId,
        [DurableClient] DurableTaskClient client)
    {
        await soar.GetAsync(request.HttpContext, runId, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("SoarApproveRun")]
    public async Task<IActionResult> ApproveAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "soar/runs/{runId}/approval")] HttpRequest request,
        string runId,
        [DurableClient] DurableTaskClient client)
    {
        await soar.ApproveAsync(request.HttpContext, runId, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("SoarCancelRun")]
    public async Task<IActionResult> CancelAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "soar/runs/{runId}/cancel")] HttpRequest request,
        string runId,
        [DurableClient] DurableTaskClient client)
    {
        await soar.CancelAsync(request.HttpContext, runId, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }
}
