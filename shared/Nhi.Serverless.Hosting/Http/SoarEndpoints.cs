using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Intake;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Orchestration.Remediation;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>
/// The SOAR API under /api/soar/runs: start a run of a playbook on a resource (idempotent by run id), read its
/// status, approve or reject a pending step, cancel it, and list runs. Requests authenticate as the "soar" source.
/// </summary>
public sealed class SoarEndpoints(
    RunRequests requests, RunApprovals approvals, RunCancellations cancellations, ILogger<SoarEndpoints> logger, IIntakeJournal? journal = null)
{
    public const string AuthSource = "soar";

    private const int MaxPageSize = 200;

    /// <summary>POST /api/soar/runs: 202 with the run's URL when started, 200 when the run id names the same request.</summary>
    public async Task StartAsync(HttpContext context, DurableTaskClient client, EdgeCaller caller)
    {
        if (await requests.ReadAsync(context, AuthSource, caller) is not { } request)
        {
            return;
        }

        if (await requests.StartAsync(context, client, request, AuthSource) is not { } started)
        {
            return;
        }

        string baseUrl = IntakeResponses.BaseUrl(context);
        context.Response.StatusCode = started.Existed ? StatusCodes.Status200OK : StatusCodes.Status202Accepted;
        context.Response.Headers.Location = $"{baseUrl}/api/soar/runs/{started.RunId}";
        await context.Response.WriteAsJsonAsync(
            new
            {
                runId = started.RunId,
                duplicate = started.Existed,
                parked = started.DeadLetterId is not null,
                deadLetterId = started.DeadLetterId,
                statusUrl = $"{baseUrl}/api/soar/runs/{started.RunId}",
            },
            HttpJson.Options,
            context.RequestAborted);
    }

    /// <summary>GET /api/soar/runs/{runId}: the run's status and, once completed, its result.</summary>
    public async Task GetAsync(HttpContext context, string runId, DurableTaskClient client, EdgeCaller caller)
    {
        if (await requests.Gate.ReadAuthenticatedAsync(context, AuthSource, caller) is null)
        {
            return;
        }

        OrchestrationMetadata? metadata = await client.GetInstanceAsync(runId, getInputsAndOutputs: true, context.RequestAborted);
        if (metadata is null)
        {
            await WriteRunNotFoundAsync(context);
            return;
        }

        await context.Response.WriteAsJsonAsync(RunViews.Describe(metadata, IntakeResponses.BaseUrl(context), withResult: true), HttpJson.Options, context.RequestAborted);
    }

    /// <summary>GET /api/soar/runs?status=Running&amp;createdAfter=...&amp;pageSize=50&amp;continuationToken=...: one page of runs, newest query first.</summary>
    public async Task ListAsync(HttpContext context, DurableTaskClient client, EdgeCaller caller)
    {
        if (await requests.Gate.ReadAuthenticatedAsync(context, AuthSource, caller) is null)
        {
            return;
        }

        IQueryCollection query = context.Request.Query;
        List<OrchestrationRuntimeStatus> statuses = [];
        foreach (string? text in query["status"])
        {
            if (!Enum.TryParse(text, ignoreCase: true, out OrchestrationRuntimeStatus status) || !Enum.IsDefined(status))
            {
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-query", "Invalid query", "The status filter is not a run status.",
                    "status", "one of: " + string.Join(", ", Enum.GetNames<OrchestrationRuntimeStatus>()));
                return;
            }

            statuses.Add(status);
        }

        int pageSize = 50;
        if (query["pageSize"].FirstOrDefault() is { } pageText
            && (!int.TryParse(pageText, NumberStyles.None, CultureInfo.InvariantCulture, out pageSize) || pageSize is < 1 or > MaxPageSize))
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-query", "Invalid query", "The page size is out of range.",
                "pageSize", $"a whole number from 1 to {MaxPageSize}");
            return;
        }

        DateTimeOffset? createdAfter = null;
        if (query["createdAfter"].FirstOrDefault() is { } afterText)
        {
            if (!DateTimeOffset.TryParse(afterText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out DateTimeOffset after))
            {
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-query", "Invalid query", "createdAfter is not a date-time.",
                    "createdAfter", "an ISO 8601 date-time such as 2026-05-14T09:00:00Z");
                return;
            }

            createdAfter = after;
        }

        var filter = new OrchestrationQuery
        {
            Statuses = statuses.Count > 0 ? statuses : null,
            CreatedFrom = createdAfter,
            PageSize = pageSize,
            ContinuationToken = query["continuationToken"].FirstOrDefault(),

            // The custom status, which shows why a run waits, is read only with the inputs and outputs.
            FetchInputsAndOutputs = true,
        };

        string baseUrl = IntakeResponses.BaseUrl(context);
        List<object> runs = [];
        string? next = null;
        await foreach (Microsoft.DurableTask.Page<OrchestrationMetadata> page in client.GetAllInstancesAsync(filter).AsPages(filter.ContinuationToken, pageSize))
        {
            runs.AddRange(page.Values.Select(metadata => RunViews.Describe(metadata, baseUrl, withResult: false)));
            next = page.ContinuationToken;
            break;
        }

        await context.Response.WriteAsJsonAsync(new { runs, continuationToken = next }, HttpJson.Options, context.RequestAborted);
    }

    /// <summary>POST /api/soar/runs/{runId}/approval with {"approved", "by", "reason"}: sends the decision to a run
    /// that waits for approval, through the same path as POST /api/runs/{runId}/approve, with the channel "soar".
    /// Returns 202 with the decision, 404 for an unknown run and 409 when the run does not wait for approval.</summary>
    public async Task ApproveAsync(HttpContext context, string runId, DurableTaskClient client, EdgeCaller caller)
    {
        byte[]? body = await requests.Gate.ReadAsync(context, AuthSource, caller, ["application/json"]);
        if (body is null)
        {
            return;
        }

        if (await ReadDecisionAsync(context, body) is not { } decision)
        {
            return;
        }

        ApprovalSubmission submission = await approvals.SubmitAsync(
            client, runId, decision.Approved, decision.By, ApprovalChannels.Soar, decision.Reason, context.RequestAborted);
        await ApprovalEndpoints.WriteSubmissionAsync(context, runId, submission, $"{IntakeResponses.BaseUrl(context)}/api/soar/runs/{runId}");
    }

    /// <summary>POST /api/soar/runs/{runId}/cancel with {"by", "reason"}: sends a cancel request to a run that has
    /// not finished. Returns 202 when the request was sent, 404 for an unknown run and 409 for a finished run.</summary>
    /// <remarks>The run ends itself: a wait for approval or capacity ends at once, and an execute step that is
    /// running completes first. Every grant issued so far goes through the usual revocation, and the audit records
    /// state the outcome "cancelled". A run of an earlier orchestrator version is terminated instead (see
    /// <see cref="RunCancellations"/>).</remarks>
    public async Task CancelAsync(HttpContext context, string runId, DurableTaskClient client, EdgeCaller caller)
    {
        byte[]? body = await requests.Gate.ReadAsync(context, AuthSource, caller, ["application/json"]);
        if (body is null)
        {
            return;
        }

        string by;
        string? reason;
        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            by = RequiredString(document.RootElement, "by");
            reason = OptionalString(document.RootElement, "reason");
        }
        catch (JsonException)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "malformed-json", "Malformed JSON",
                "The request body is not a well-formed JSON document.", "$", "a JSON object with by and reason");
            return;
        }
        catch (InvalidDataException missing)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-request", "Invalid request", missing.Message, missing.Source, "a non-empty string");
            return;
        }

        RunCancellationSubmission submission = await cancellations.SubmitAsync(client, runId, by, ApprovalChannels.Soar, reason, context.RequestAborted);
        switch (submission.Status)
        {
            case RunCancellationStatus.Invalid:
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-request", "Invalid request",
                    $"Field '{submission.Field}' is invalid.", submission.Field, submission.Expected);
                return;

            case RunCancellationStatus.NotFound:
                await WriteRunNotFoundAsync(context);
                return;

            case RunCancellationStatus.Finished:
                await Problems.WriteAsync(context, StatusCodes.Status409Conflict, "run-finished", "Run finished",
                    $"The run has finished with status {submission.RunStatus}; it cannot be cancelled.", "runId", "a run that has not finished");
                return;
        }

        logger.LogInformation("Cancel request for run {RunId} from SOAR caller {CancelledBy}: {CancelResult}", runId, by, submission.Status);
        if (journal is not null)
        {
            await journal.RecordAsync(
                [new IntakeRecord(AuthSource, context.TraceIdentifier, "request:" + runId, runId, IntakeOutcomes.Cancelled, $"cancelled by {by}", DateTimeOffset.UtcNow)],
                context.RequestAborted);
        }

        context.Response.StatusCode = StatusCodes.Status202Accepted;
        await context.Response.WriteAsJsonAsync(
            new
            {
                runId,
                cancelled = true,
                terminated = submission.Status == RunCancellationStatus.Terminated,
                by,
                statusUrl = $"{IntakeResponses.BaseUrl(context)}/api/soar/runs/{runId}",
            },
            HttpJson.Options,
            context.RequestAborted);
    }

    private static async Task<Decision?> ReadDecisionAsync(HttpContext context, byte[] body)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("approved", out JsonElement approved)
                || approved.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-request", "Invalid request",
                    "Field 'approved' must be true or false.", "approved", "true or false");
                return null;
            }

            return new Decision(approved.GetBoolean(), RequiredString(root, "by"), OptionalString(root, "reason"));
        }
        catch (JsonException)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "malformed-json", "Malformed JSON",
                "The request body is not a well-formed JSON document.", "$", "a JSON object with approved, by and reason");
        }
        catch (InvalidDataException missing)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-request", "Invalid request", missing.Message, missing.Source, "a non-empty string");
        }

        return null;
    }

    // Raises InvalidDataException whose Source is the field name, for the problem's field member.
    private static string RequiredString(JsonElement owner, string name) =>
        OptionalString(owner, name) ?? throw new InvalidDataException($"Field '{name}' is missing; a non-empty string is required.") { Source = name };

    private static string? OptionalString(JsonElement owner, string name)
    {
        if (owner.ValueKind != JsonValueKind.Object || !owner.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            throw new InvalidDataException($"Field '{name}' must be a string.") { Source = name };
        }

        string text = value.GetString()!.Trim();
        return text.Length == 0 ? null : text[..Math.Min(text.Length, 200)];
    }

    private static Task WriteRunNotFoundAsync(HttpContext context) =>
        Problems.WriteAsync(context, StatusCodes.Status404NotFound, "run-not-found", "Run not found",
            "No run has this id.", "runId", "the id of a started run");

    private sealed record Decision(bool Approved, string By, string? Reason);
}
