using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>
/// GET /api/runs/{runId}: the run's status and, once finished, its result. While the run waits, the status is
/// "awaiting-approval" or "awaiting-capacity", and "wait" contains the deadline and the reasons.
/// </summary>
public static class RunStatusEndpoint
{
    public static async Task HandleAsync(HttpContext context, string runId, DurableTaskClient client)
    {
        OrchestrationMetadata? metadata = await client.GetInstanceAsync(runId, getInputsAndOutputs: true, context.RequestAborted);
        if (metadata is null)
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "run-not-found", "Run not found",
                $"No run has the id '{(runId.Length <= 64 ? runId : runId[..64])}'.", "runId", "the id of an accepted run");
            return;
        }

        RunResult? result = metadata.RuntimeStatus == OrchestrationRuntimeStatus.Completed
            ? metadata.ReadOutputAs<RunResult>()
            : null;

        RunWaitStatus? wait = RunViews.WaitOf(metadata);
        var body = new
        {
            runId = metadata.InstanceId,
            status = RunViews.StatusOf(metadata, wait),
            wait = RunViews.DescribeWait(wait),
            createdAt = metadata.CreatedAt,
            lastUpdatedAt = metadata.LastUpdatedAt,
            failure = metadata.FailureDetails is { } failure ? $"{failure.ErrorType}: {failure.ErrorMessage}" : null,
            result,
        };

        await context.Response.WriteAsJsonAsync(body, HttpJson.Options, context.RequestAborted);
    }

    /// <summary>Reads a run status body as written by <see cref="HandleAsync"/>.</summary>
    public static RunResult? ReadResult(JsonElement statusBody) =>
        statusBody.TryGetProperty("result", out JsonElement result) && result.ValueKind == JsonValueKind.Object
            ? result.Deserialize<RunResult>(HttpJson.Options)
            : null;
}
