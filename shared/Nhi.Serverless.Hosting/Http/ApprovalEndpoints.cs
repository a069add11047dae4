using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Orchestration.Approvals;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>The body of an approve or reject request.</summary>
/// <param name="By">Who decides, such as an email address.</param>
/// <param name="Channel">The channel, one of <see cref="ApprovalChannels.Callers"/>; "api" when absent.</param>
/// <param name="Reason">Why; optional.</param>
public sealed record ApprovalRequestBody(string? By, string? Channel, string? Reason);

/// <summary>
/// POST /api/runs/{runId}/approve and /reject: sends a decision to a run that waits for approval. Returns 202 with the
/// decision, 400 for an invalid body, 404 for an unknown run, 409 when the run does not wait for approval.
/// </summary>
/// <remarks>NOTE: like the other endpoints these have no authentication of their own, so hosts bind them to loopback only;
/// the approver's identity is what the caller states in "by".</remarks>
public static class ApprovalEndpoints
{
    private const int MaxBodyBytes = 16 * 1024;

    public static Task ApproveAsync(HttpContext context, string runId, RunApprovals approvals, DurableTaskClient client) =>
        HandleAsync(context, runId, approve: true, approvals, client);

    public static Task RejectAsync(HttpContext context, string runId, RunApprovals approvals, DurableTaskClient client) =>
        HandleAsync(context, runId, approve: false, approvals, client);

    /// <summary>Reads the body, submits the decision and writes the response; the Functions triggers call it too.</summary>
    public static async Task HandleAsync(HttpContext context, string runId, bool approve, RunApprovals approvals, DurableTaskClient client)
    {
        ApprovalRequestBody? body = await ReadBodyAsync(context);
        if (body is null)
        {
            return;
        }

        ApprovalSubmission submission = await approvals.SubmitAsync(
            client, runId, approve, body.By, body.Channel ?? ApprovalChannels.Api, body.Reason, context.RequestAborted);
        await WriteSubmissionAsync(context, runId, submission, $"{IntakeResponses.BaseUrl(context)}/api/runs/{runId}");
    }

    /// <summary>Writes the response to a submitted decision: 202, or the problem for 400, 404 or 409.</summary>
    /// <param name="statusUrl">Where the caller reads the run's status, in the API it called.</param>
    public static async Task WriteSubmissionAsync(HttpContext context, string runId, ApprovalSubmission submission, string statusUrl)
    {
        string shownRunId = runId.Length <= 64 ? runId : runId[..64];
        switch (submission.Status)
        {
            case ApprovalSubmissionStatus.Accepted:
                ApprovalDecision decision = submission.Decision!;
                context.Response.StatusCode = StatusCodes.Status202Accepted;
                await context.Response.WriteAsJsonAsync(
                    new
                    {
                        runId,
                        decision = decision.Approved ? "approved" : "rejected",
                        decision.By,
                        decision.Channel,
                        decision.Reason,
                        decision.At,
                        statusUrl,
                    },
                    HttpJson.Options,
                    context.RequestAborted);
                return;

            case ApprovalSubmissionStatus.Invalid:
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-approval", "Invalid approval",
                    $"The field '{submission.Field}' is invalid.", submission.Field, submission.Expected);
                return;

            case ApprovalSubmissionStatus.NotFound:
                await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "run-not-found", "Run not found",
                    $"No run has the id '{shownRunId}'.", "runId", "the id of an accepted run");
                return;

            default:
                await Problems.WriteAsync(context, StatusCodes.Status409Conflict, "run-not-awaiting-approval", "Run not awaiting approval",
                    $"Run '{shownRunId}' does not wait for approval; its status is {submission.RunStatus}.", "runId", "a run whose status is awaiting-approval");
                return;
        }
    }

    // Returns null after writing a problem response.
    private static async Task<ApprovalRequestBody?> ReadBodyAsync(HttpContext context)
    {
        if (context.Request.ContentLength > MaxBodyBytes)
        {
            await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "body-too-large", "Body too large",
                $"The request body exceeds {MaxBodyBytes} bytes.", "body", $"at most {MaxBodyBytes} bytes");
            return null;
        }

        string? mediaType = context.Request.ContentType?.Split(';', 2)[0].Trim();
        if (!string.Equals(mediaType, "application/json", StringComparison.OrdinalIgnoreCase))
        {
            await Problems.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
                "Approval decisions must be sent as application/json.", "Content-Type", "application/json");
            return null;
        }

        using var buffer = new MemoryStream();
        byte[] chunk = new byte[4096];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "body-too-large", "Body too large",
                    $"The request body exceeds {MaxBodyBytes} bytes.", "body", $"at most {MaxBodyBytes} bytes");
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        try
        {
            ApprovalRequestBody? body = JsonSerializer.Deserialize<ApprovalRequestBody>(buffer.ToArray(), HttpJson.Options);
            if (body is not null)
            {
                return body;
            }
        }
        catch (JsonException)
        {
        }

        await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "malformed-json", "Malformed JSON",
            "The request body is not a JSON object with by, channel and reason.", "$", "a JSON object such as {\"by\": \"alice@example.com\", \"reason\": \"checked\"}");
        return null;
    }
}
