using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Hosting.Identity;
using Nhi.Serverless.Hosting.Workflows;
using Nhi.Serverless.Orchestration.Workflows;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>
/// The HTTP API of business workflows: start a run, read its status, claim a brokered step's credentials (HTTPS only),
/// report the step done, and cancel. Starting authenticates as the "workflows" source; the other calls present the
/// run's ticket. The Logic Apps variant follows the asynchronous request-reply pattern.
/// </summary>
public sealed class WorkflowEndpoints(EdgeGate gate, WorkflowRuns runs, BrokeredHandout handout)
{
    public const string AuthSource = "workflows";

    /// <summary>The source of runs started with a GitHub Actions OIDC token.</summary>
    public const string WorkloadSource = "github-oidc";

    /// <summary>POST /api/workflows/{workflow}/runs with {"runId"?, "parameters": {...}}: 202 with the run's URLs and, for
    /// a run with brokered steps, the ticket (shown this once).</summary>
    public async Task StartAsync(HttpContext context, string workflow, DurableTaskClient client, EdgeCaller caller)
    {
        StartedWorkflow? started = await ReadAndStartAsync(context, workflow, client, caller, AuthSource);
        if (started is null)
        {
            return;
        }

        string baseUrl = IntakeResponses.BaseUrl(context);
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.Headers.Location = $"{baseUrl}/api/workflows/runs/{started.RunId}";
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsJsonAsync(DescribeStart(started, baseUrl), HttpJson.Options, context.RequestAborted);
    }

    /// <summary>POST /api/logicapps/workflows/{workflow}: starts the run and returns 202 with Location and Retry-After.</summary>
    public async Task StartForLogicAppAsync(HttpContext context, string workflow, DurableTaskClient client, EdgeCaller caller)
    {
        StartedWorkflow? started = await ReadAndStartAsync(context, workflow, client, caller, LogicAppsEndpoints.AuthSource);
        if (started is null)
        {
            return;
        }

        string baseUrl = IntakeResponses.BaseUrl(context);
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        context.Response.Headers.Location = $"{baseUrl}/api/logicapps/workflows/runs/{started.RunId}";
        context.Response.Headers.RetryAfter = "2";
        context.Response.Headers.CacheControl = "no-store";
        await context.Response.WriteAsJsonAsync(DescribeStart(started, baseUrl), HttpJson.Options, context.RequestAborted);
    }

    /// <summary>GET /api/logicapps/workflows/runs/{runId}: 202 with Retry-After while the run goes on, 200 with the result.</summary>
    public async Task PollForLogicAppAsync(HttpContext context, string runId, DurableTaskClient client, EdgeCaller caller)
    {
        if (await gate.ReadAuthenticatedAsync(context, LogicAppsEndpoints.AuthSource, caller) is null)
        {
            return;
        }

        OrchestrationMetadata? metadata = await ReadRunAsync(context, runId, client);
        if (metadata is null)
        {
            return;
        }

        if (!metadata.IsCompleted)
        {
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            context.Response.Headers.Location = $"{IntakeResponses.BaseUrl(context)}/api/logicapps/workflows/runs/{runId}";
            context.Response.Headers.RetryAfter = "2";
        }

        await context.Response.WriteAsJsonAsync(DescribeRun(metadata, IntakeResponses.BaseUrl(context)), HttpJson.Options, context.RequestAborted);
    }

    /// <summary>GET /api/workflows/runs/{runId}: the run's state, its open brokered steps, and its result once it ended.</summary>
    public async Task GetAsync(HttpContext context, string runId, DurableTaskClient client, EdgeCaller caller)
    {
        if (await gate.ReadAuthenticatedAsync(context, AuthSource, caller) is null)
        {
            return;
        }

        OrchestrationMetadata? metadata = await ReadRunAsync(context, runId, client);
        if (metadata is not null)
        {
            await context.Response.WriteAsJsonAsync(DescribeRun(metadata, IntakeResponses.BaseUrl(context)), HttpJson.Options, context.RequestAborted);
        }
    }

    /// <summary>POST /api/workflows/runs/{runId}/steps/{step}/credentials: hands the step's credentials out once, over HTTPS.</summary>
    public async Task ClaimAsync(HttpContext context, string runId, string step, DurableTaskClient client)
    {
        if (!await RequireHttpsAsync(context))
        {
            return;
        }

        (WorkflowRequest? request, OpenBrokeredStep? open, HandoutRefusal? refusal) =
            await handout.FindOpenStepAsync(client, runId, step, context.Request.Headers[WorkflowTickets.Header], context.RequestAborted);
        if (refusal is not null)
        {
            await WriteAsync(context, refusal);
            return;
        }

        // A run started with a workload identity hands its credentials only to that identity, with a fresh token.
        if (runs.RequiresWorkloadIdentity(request!.Workflow))
        {
            if (await GitHubOidcAuthentication.TryAuthenticateAsync(context, request.Workflow) is not { } identity)
            {
                return;
            }

            if (!string.Equals(identity.Subject, request.Caller, StringComparison.Ordinal))
            {
                await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, "wrong-workload", "Wrong workload",
                    "The token's subject is not the workload that started this run.", "sub", "the subject of the token that started the run");
                return;
            }
        }

        (JsonObject? body, HandoutRefusal? claimRefusal) = await handout.ClaimAsync(
            client, request!, open!, $"{request!.Caller} from {context.Connection.RemoteIpAddress}", context.RequestAborted);
        if (claimRefusal is not null)
        {
            await WriteAsync(context, claimRefusal);
            return;
        }

        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.Pragma = "no-cache";
        await context.Response.WriteAsJsonAsync(body, HttpJson.Options, context.RequestAborted);
    }

    /// <summary>POST /api/workflows/runs/{runId}/steps/{step}/done with {"succeeded", "checks"?, "output"?, "error"?}.</summary>
    public async Task DoneAsync(HttpContext context, string runId, string step, DurableTaskClient client)
    {
        if (!await RequireHttpsAsync(context))
        {
            return;
        }

        byte[]? body = await ReadTicketedBodyAsync(context);
        if (body is null)
        {
            return;
        }

        (_, OpenBrokeredStep? open, HandoutRefusal? refusal) =
            await handout.FindOpenStepAsync(client, runId, step, context.Request.Headers[WorkflowTickets.Header], context.RequestAborted);
        if (refusal is not null)
        {
            await WriteAsync(context, refusal);
            return;
        }

        BrokeredStepDone done;
        try
        {
            done = ParseDone(body);
        }
        catch (InvalidWorkflowRequestException invalid)
        {
            await WriteInvalidAsync(context, invalid);
            return;
        }

        await client.RaiseEventAsync(runId, WorkflowEvents.Done(open!.Step), done, context.RequestAborted);
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        await context.Response.WriteAsJsonAsync(new { runId, step, status = "accepted" }, HttpJson.Options, context.RequestAborted);
    }

    /// <summary>POST /api/workflows/runs/{runId}/cancel with {"by"?, "reason"?}: every grant of the run is revoked.</summary>
    public async Task CancelAsync(HttpContext context, string runId, DurableTaskClient client)
    {
        if (!await RequireHttpsAsync(context))
        {
            return;
        }

        byte[]? body = await ReadTicketedBodyAsync(context);
        if (body is null)
        {
            return;
        }

        OrchestrationMetadata? metadata = await ReadRunAsync(context, runId, client);
        if (metadata is null)
        {
            return;
        }

        WorkflowRequest? request = metadata.Name == RunWorkflowOrchestrator.Name ? metadata.ReadInputAs<WorkflowRequest>() : null;
        if (request is null || !WorkflowTickets.Matches(context.Request.Headers[WorkflowTickets.Header], request.TicketHash))
        {
            await WriteAsync(context, new HandoutRefusal(401, "unauthenticated", "Unauthenticated",
                $"The {WorkflowTickets.Header} header does not hold the ticket this run was started with.", WorkflowTickets.Header, "the ticket from the start response"));
            return;
        }

        if (metadata.IsCompleted)
        {
            await WriteAsync(context, new HandoutRefusal(409, "run-ended", "Run ended", $"Run {runId} has ended.", "runId", "a run that is still going"));
            return;
        }

        WorkflowCancel cancel;
        try
        {
            using JsonDocument document = JsonDocument.Parse(body.Length == 0 ? "{}"u8.ToArray() : body);
            JsonElement root = document.RootElement;
            cancel = new WorkflowCancel(
                OptionalString(root, "by", 200) ?? request.Caller,
                OptionalString(root, "reason", 1000));
        }
        catch (JsonException)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "malformed-json", "Malformed JSON",
                "The request body is not a well-formed JSON document.", "$", "a JSON object with by and reason");
            return;
        }
        catch (InvalidWorkflowRequestException invalid)
        {
            await WriteInvalidAsync(context, invalid);
            return;
        }

        await client.RaiseEventAsync(runId, WorkflowEvents.Cancel, cancel, context.RequestAborted);
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        await context.Response.WriteAsJsonAsync(new { runId, status = "cancelling" }, HttpJson.Options, context.RequestAborted);
    }

    private async Task<StartedWorkflow?> ReadAndStartAsync(HttpContext context, string workflow, DurableTaskClient client, EdgeCaller caller, string source)
    {
        if (!runs.Exists(workflow))
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "workflow-not-found", "Workflow not found",
                $"No workflow is named '{workflow}'.", "workflow", $"one of {string.Join(", ", runs.Names)}");
            return null;
        }

        string callerName = source;
        byte[]? body;
        if (runs.RequiresWorkloadIdentity(workflow))
        {
            // The job's OIDC token is a bearer credential: it is refused over plain HTTP before it is read.
            if (!await RequireHttpsAsync(context)
                || await GitHubOidcAuthentication.TryAuthenticateAsync(context, workflow) is not { } identity)
            {
                return null;
            }

            (source, callerName) = (WorkloadSource, identity.Subject);
            body = await ReadJsonBodyAsync(context, source);
        }
        else
        {
            body = await gate.ReadAsync(context, source, caller, ["application/json"]);
        }

        if (body is null)
        {
            return null;
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 16 });
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidWorkflowRequestException("$", "a JSON object with runId and parameters");
            }

            return await runs.StartAsync(
                client, workflow, source, callerName, WorkflowRuns.ReadRunId(root), WorkflowRuns.ReadParameters(root), context.Request.IsHttps, context.RequestAborted);
        }
        catch (JsonException)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "malformed-json", "Malformed JSON",
                "The request body is not a well-formed JSON document.", "$", "a JSON object with runId and parameters");
        }
        catch (InvalidWorkflowRequestException invalid)
        {
            await WriteInvalidAsync(context, invalid);
        }
        catch (RunIdConflictException conflict)
        {
            await Problems.WriteAsync(context, StatusCodes.Status409Conflict, "run-id-conflict", "Run id in use",
                $"The request was refused: {conflict.Message}.", "runId", "a run id that is new, or the same request again");
        }
        catch (HttpsRequiredException required)
        {
            await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, "https-required", "HTTPS required",
                $"The request was refused: {required.Message}.", "scheme", "https");
        }

        return null;
    }

    // The ticket authenticates these calls, so the body is only read here; the run checks the ticket next.
    private Task<byte[]?> ReadTicketedBodyAsync(HttpContext context) => ReadJsonBodyAsync(context, AuthSource, allowEmpty: true);

    // Reads a JSON body under the edge's size and time limits, for requests authenticated by other means than the gate's.
    private async Task<byte[]?> ReadJsonBodyAsync(HttpContext context, string source, bool allowEmpty = false)
    {
        if (!(allowEmpty && context.Request.ContentLength is null or 0) && !EdgeGate.AcceptsMediaType(context.Request.ContentType, ["application/json"]))
        {
            await Problems.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
                "The request body must be sent as application/json.", "Content-Type", "application/json");
            return null;
        }

        return await gate.ReadAuthenticatedAsync(context, source, EdgeCaller.Direct, authenticate: false);
    }

    private static async Task<bool> RequireHttpsAsync(HttpContext context)
    {
        if (context.Request.IsHttps)
        {
            return true;
        }

        await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, "https-required", "HTTPS required",
            "Credentials, run tickets and workload identity tokens travel over HTTPS only.", "scheme", "https");
        return false;
    }

    private static async Task<OrchestrationMetadata?> ReadRunAsync(HttpContext context, string runId, DurableTaskClient client)
    {
        OrchestrationMetadata? metadata = await client.GetInstanceAsync(runId, getInputsAndOutputs: true, context.RequestAborted);
        if (metadata is null || metadata.Name != RunWorkflowOrchestrator.Name)
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "run-not-found", "Run not found",
                "No workflow run has this id.", "runId", "the id of a started workflow run");
            return null;
        }

        return metadata;
    }

    private static BrokeredStepDone ParseDone(byte[] body)
    {
        JsonElement root;
        try
        {
            using JsonDocument document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 32 });
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new InvalidWorkflowRequestException("$", "a well-formed JSON object with succeeded, checks, output and error");
        }

        if (root.ValueKind != JsonValueKind.Object
            || !root.TryGetProperty("succeeded", out JsonElement succeeded)
            || succeeded.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
        {
            throw new InvalidWorkflowRequestException("succeeded", "true or false");
        }

        var checks = new List<string>();
        if (root.TryGetProperty("checks", out JsonElement list) && list.ValueKind != JsonValueKind.Null)
        {
            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() > 50)
            {
                throw new InvalidWorkflowRequestException("checks", "an array of at most 50 strings");
            }

            foreach (JsonElement check in list.EnumerateArray())
            {
                if (check.ValueKind != JsonValueKind.String || check.GetString()!.Length > 500)
                {
                    throw new InvalidWorkflowRequestException("checks", "an array of strings of at most 500 characters");
                }

                checks.Add(check.GetString()!);
            }
        }

        JsonElement? output = null;
        if (root.TryGetProperty("output", out JsonElement value) && value.ValueKind != JsonValueKind.Null)
        {
            output = value.ValueKind == JsonValueKind.Object ? value : throw new InvalidWorkflowRequestException("output", "a JSON object");
        }

        return new BrokeredStepDone(succeeded.GetBoolean(), checks, output, OptionalString(root, "error", 1000));
    }

    private static string? OptionalString(JsonElement root, string name, int maxLength)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(name, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.String || value.GetString()!.Length > maxLength)
        {
            throw new InvalidWorkflowRequestException(name, $"a string of at most {maxLength.ToString(CultureInfo.InvariantCulture)} characters");
        }

        return value.GetString();
    }

    private static object DescribeStart(StartedWorkflow started, string baseUrl) => new
    {
        runId = started.RunId,
        duplicate = started.Existed,
        workflow = started.Plan.Workflow,
        subject = started.Plan.Subject,
        statusUrl = $"{baseUrl}/api/workflows/runs/{started.RunId}",
        ticket = started.Ticket,
        brokeredSteps = started.Plan.Steps.Where(step => step.Mode == StepModes.Brokered).Select(step => new
        {
            step = step.Name,
            windowSeconds = (int)step.Window.TotalSeconds,
            grants = step.Grants.Select(grant => new { name = grant.Name, broker = grant.Broker, resource = grant.Scope.Resource, permissions = grant.Scope.Permissions, objects = grant.Scope.Objects }),
            credentialsPath = $"/api/workflows/runs/{started.RunId}/steps/{step.Name}/credentials",
            donePath = $"/api/workflows/runs/{started.RunId}/steps/{step.Name}/done",
        }),
    };

    private static object DescribeRun(OrchestrationMetadata metadata, string baseUrl)
    {
        WorkflowWaitStatus? waiting = !metadata.IsCompleted && metadata.SerializedCustomStatus is not null
            ? metadata.ReadCustomStatusAs<WorkflowWaitStatus>()
            : null;
        WorkflowResult? result = metadata.RuntimeStatus == OrchestrationRuntimeStatus.Completed ? metadata.ReadOutputAs<WorkflowResult>() : null;
        string state = metadata.RuntimeStatus switch
        {
            OrchestrationRuntimeStatus.Completed => result?.Outcome ?? "completed",
            OrchestrationRuntimeStatus.Failed => "failed",
            OrchestrationRuntimeStatus.Terminated => "terminated",
            _ => waiting?.State ?? "running",
        };

        return new
        {
            runId = metadata.InstanceId,
            state,
            createdAt = metadata.CreatedAt,
            lastUpdatedAt = metadata.LastUpdatedAt,
            openSteps = waiting?.Steps.Select(step => new
            {
                step = step.Step,
                claimed = step.Claimed,
                windowClosesAt = WorkflowRuns.FormatTime(step.Deadline),
                credentialsPath = $"/api/workflows/runs/{metadata.InstanceId}/steps/{step.Step}/credentials",
                donePath = $"/api/workflows/runs/{metadata.InstanceId}/steps/{step.Step}/done",
            }),
            result,
            failure = metadata.FailureDetails?.ErrorMessage,
            auditUrl = $"{baseUrl}/api/audit/runs/{metadata.InstanceId}/records",
        };
    }

    private static Task WriteAsync(HttpContext context, HandoutRefusal refusal)
    {
        if (refusal.Status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = $"{WorkflowTickets.Header} realm=\"workflow-run\"";
        }

        return Problems.WriteAsync(context, refusal.Status, refusal.Type, refusal.Title, refusal.Detail, refusal.Field, refusal.Expected);
    }

    private static Task WriteInvalidAsync(HttpContext context, InvalidWorkflowRequestException invalid) =>
        Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-workflow-request", "Invalid workflow request",
            invalid.Message, invalid.Field, invalid.Expected);
}
