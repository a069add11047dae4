using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Orchestration.Intake;
using Nhi.Serverless.Playbooks;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>The outcome of starting a run request: the run, whether it existed already, or the problem written.</summary>
public sealed record StartedRun(string RunId, bool Existed, string? DeadLetterId);

/// <summary>
/// Starts runs that SOAR tools and Logic Apps request by playbook name, idempotently: a run id the caller passes (in
/// the body's runId or the Idempotency-Key header) starts at most one run, and a repeated start returns it.
/// </summary>
public sealed class RunRequests(AlertIntake intake, RemediationPlanner planner, EdgeGate gate, TimeProvider time, ILogger<RunRequests> logger)
{
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    public EdgeGate Gate => gate;

    /// <summary>Reads, authenticates and parses a run request body, or writes the problem and returns null.</summary>
    public async Task<RunRequest?> ReadAsync(HttpContext context, string authSource, EdgeCaller caller)
    {
        byte[]? body = await gate.ReadAsync(context, authSource, caller, ["application/json"]);
        if (body is null)
        {
            return null;
        }

        return await ParseAsync(context, body, root => root);
    }

    /// <summary>Parses a run request found by <paramref name="select"/> in a JSON body, or writes 400 and returns null.</summary>
    public static async Task<RunRequest?> ParseAsync(HttpContext context, byte[] body, Func<JsonElement, JsonElement> select, string pathPrefix = "")
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
            return RunRequestParser.Parse(select(document.RootElement));
        }
        catch (JsonException)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "malformed-json", "Malformed JSON",
                "The request body is not a well-formed JSON document.", "$", "a well-formed JSON document");
        }
        catch (InvalidAlertException invalid)
        {
            string field = pathPrefix.Length == 0 ? invalid.Field : invalid.Field == "$" ? pathPrefix : $"{pathPrefix}.{invalid.Field}";
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-run-request", "Invalid run request",
                $"Invalid run request: field '{field}' {invalid.Expected}.", field, invalid.Expected);
        }

        return null;
    }

    /// <summary>Starts the request's run, or finds it started; writes 409, 422 or 503 and returns null when it cannot.</summary>
    public async Task<StartedRun?> StartAsync(HttpContext context, DurableTaskClient client, RunRequest request, string source)
    {
        string? runId = await RunIdOfAsync(context, request);
        if (runId is null)
        {
            return null;
        }

        Playbook? playbook = planner.Playbooks.FirstOrDefault(candidate => candidate.Name == request.Playbook);
        if (playbook is null)
        {
            string known = string.Join(", ", planner.Playbooks.Select(candidate => candidate.Name).Order());
            await Problems.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, "unknown-playbook", "Unknown playbook",
                "No playbook has this name.", "playbook", "one of: " + known);
            return null;
        }

        DateTimeOffset requestedAt = time.GetUtcNow();
        Finding finding = request.ToFinding(runId, requestedAt);
        if (!playbook.Answers(finding))
        {
            await Problems.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, "playbook-not-requestable", "Playbook cannot run on this resource",
                $"Playbook '{playbook.Name}' does not accept run requests for this resource type.", "resource.type",
                "one of: " + string.Join(", ", playbook.ResourceTypes));
            return null;
        }

        OrchestrationMetadata? existing = await client.GetInstanceAsync(runId, getInputsAndOutputs: true, context.RequestAborted);
        if (existing is not null)
        {
            return await SameRequestAsync(context, existing, finding) ? new StartedRun(runId, Existed: true, null) : null;
        }

        AcceptedRun accepted;
        try
        {
            accepted = await intake.StartRequestAsync(client, new RemediationRequest(runId, finding, source, requestedAt), context.TraceIdentifier, context.RequestAborted);
        }
        catch (Exception failure) when (failure is not OperationCanceledException)
        {
            logger.LogError("Run request {RunId} from {Source} could not be accepted ({ErrorType}: {Error})", runId, source, failure.GetType().Name, failure.Message);
            await IntakeResponses.WriteUnavailableAsync(context);
            return null;
        }

        logger.LogInformation(
            "Run request {RunId} for playbook {Playbook} on {Resource} from {Source}: {Result}",
            runId, playbook.Name, finding.Resource.Id, source, accepted.DeadLetterId is not null ? "parked" : accepted.Duplicate ? "existed" : "started");
        return new StartedRun(runId, accepted.Duplicate, accepted.DeadLetterId);
    }

    private static async Task<string?> RunIdOfAsync(HttpContext context, RunRequest request)
    {
        if (request.RunId is { } fromBody)
        {
            return fromBody;
        }

        string? key = context.Request.Headers[IdempotencyKeyHeader].FirstOrDefault();
        if (key is null)
        {
            return "req-" + Guid.NewGuid().ToString("N");
        }

        if (!RunRequestParser.IsValidRunId(key))
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-run-request", "Invalid run request",
                $"The {IdempotencyKeyHeader} header {RunRequestParser.RunIdExpected}.", IdempotencyKeyHeader, RunRequestParser.RunIdExpected);
            return null;
        }

        return key;
    }

    // A repeated start must name the same playbook and resource; anything else reuses a run id by mistake.
    private static async Task<bool> SameRequestAsync(HttpContext context, OrchestrationMetadata existing, Finding finding)
    {
        RemediationRequest? stored = null;
        try
        {
            stored = existing.ReadInputAs<RemediationRequest>();
        }
        catch (JsonException)
        {
            // An input of another shape is treated as a different request.
        }

        if (stored is not null && stored.Finding.Resource.Id == finding.Resource.Id && stored.Finding.ControlId == finding.ControlId)
        {
            return true;
        }

        await Problems.WriteAsync(context, StatusCodes.Status409Conflict, "run-id-in-use", "Run id in use",
            "This run id names a run of another playbook or resource; choose another run id.", "runId", "a run id not used for another request");
        return false;
    }
}
