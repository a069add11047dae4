using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Hosting.Http;
using Nhi.Serverless.Orchestration.Approvals;

namespace Nhi.Serverless.Functions;

/// <summary>
/// Approve and reject triggers for runs that wait for approval, over the same handler as the local host. A Logic
/// Apps approval step calls them with channel "logic-apps", a SOAR tool with "soar".
/// </summary>
/// <remarks>Function keys authenticate callers (AuthorizationLevel.Function); the handler writes the response.</remarks>
public sealed class ApprovalFunctions(RunApprovals approvals)
{
    [Function("ApproveRun")]
    public async Task<IActionResult> ApproveAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "runs/{runId}/approve")] HttpRequest request,
        string runId,
        [DurableClient] DurableTaskClient client)
    {
        await ApprovalEndpoints.HandleAsync(request.HttpContext, runId, approve: true, approvals, client);
        return new EmptyResult();
    }

    [Function("RejectRun")]
    public async Task<IActionResult> RejectAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "runs/{runId}/reject")] HttpRequest request,
        string runId,
        [DurableClient] DurableTaskClient client)
    {
        await ApprovalEndpoints.HandleAsync(request.HttpContext, runId, approve: false, approvals, client);
        return new EmptyResult();
    }
}
