using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using DurableTask.Core.Exceptions;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Orchestration.Workflows;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Hosting.Workflows;

/// <summary>Thrown when a request that carries or returns a secret, such as a run ticket, came over plain HTTP.</summary>
public sealed class HttpsRequiredException(string reason) : Exception(reason);

/// <summary>Thrown when a caller's run id belongs to a run of another workflow or with other parameters.</summary>
public sealed class RunIdConflictException(string reason) : Exception(reason);

/// <summary>A started workflow run: its id, whether it existed already, and the ticket shown to the caller once.</summary>
public sealed record StartedWorkflow(string RunId, bool Existed, string? Ticket, WorkflowPlan Plan);

/// <summary>
/// Starts business workflow runs for every trigger, idempotently. The request is planned before it is accepted, so a
/// missing or bad parameter is refused at once with the field's name instead of failing later in the run.
/// </summary>
public sealed partial class WorkflowRuns(IEnumerable<IWorkflow> workflows, TimeProvider time, ILogger<WorkflowRuns> logger)
{
    private static readonly OrchestrationRuntimeStatus[] EveryStatus = Enum.GetValues<OrchestrationRuntimeStatus>();

    public IReadOnlyList<string> Names { get; } = workflows.Select(workflow => workflow.Name).Order(StringComparer.Ordinal).ToArray();

    public bool Exists(string workflow) => workflows.Any(candidate => candidate.Name == workflow);

    /// <summary>Whether starting <paramref name="workflow"/> and claiming its credentials need a workload identity token.</summary>
    public bool RequiresWorkloadIdentity(string workflow) =>
        workflows.FirstOrDefault(candidate => candidate.Name == workflow)?.RequiresWorkloadIdentity == true;

    /// <summary>Plans and starts a run, or returns the run that has this id already.</summary>
    /// <exception cref="InvalidWorkflowRequestException">The workflow is unknown, the run id is malformed, or a parameter is not acceptable.</exception>
    public async Task<StartedWorkflow> StartAsync(
        DurableTaskClient client,
        string workflow,
        string source,
        string caller,
        string? runId,
        IReadOnlyDictionary<string, string> parameters,
        bool overHttps,
        CancellationToken cancellationToken)
    {
        IWorkflow definition = workflows.FirstOrDefault(candidate => candidate.Name == workflow)
            ?? throw new InvalidWorkflowRequestException("workflow", $"one of {string.Join(", ", Names)}");
        if (runId is not null && !RunIdPattern().IsMatch(runId))
        {
            throw new InvalidWorkflowRequestException("runId", "1 to 100 letters, digits, '.', '_', ':' or '-', starting with a letter or digit");
        }

        string id = runId ?? $"wf-{workflow}-{Guid.NewGuid():N}";
        var request = new WorkflowRequest(id, workflow, source, caller, parameters, time.GetUtcNow());
        WorkflowPlan plan = definition.Plan(request);

        OrchestrationMetadata? existing = await client.GetInstanceAsync(id, getInputsAndOutputs: true, cancellationToken);
        if (existing is not null)
        {
            // A repeated start is the same run only when it requests the same workflow with the same parameters.
            WorkflowRequest? earlier = existing.Name == RunWorkflowOrchestrator.Name ? existing.ReadInputAs<WorkflowRequest>() : null;
            if (earlier is null || earlier.Workflow != workflow || !SameParameters(earlier.Parameters, parameters))
            {
                throw new RunIdConflictException($"run id '{id}' belongs to another run; choose another runId or repeat that run's request");
            }

            return new StartedWorkflow(id, true, null, plan);
        }

        string? ticket = null;
        if (plan.Steps.Any(step => step.Mode == StepModes.Brokered))
        {
            if (!overHttps)
            {
                throw new HttpsRequiredException($"workflow '{workflow}' hands out credentials, so its start returns a ticket, and only over HTTPS");
            }

            (ticket, string hash) = WorkflowTickets.Create();
            request = request with { TicketHash = hash };
        }

        try
        {
            await client.ScheduleNewOrchestrationInstanceAsync(
                RunWorkflowOrchestrator.Name, request, new StartOrchestrationOptions(id).WithDedupeStatuses(EveryStatus), cancellationToken);
        }
        catch (OrchestrationAlreadyExistsException)
        {
            return new StartedWorkflow(id, true, null, plan);
        }

        logger.LogInformation(
            "Started workflow run {RunId} of {Workflow} for {Subject}, requested by {Caller} through {Source}",
            id, workflow, plan.Subject, caller, source);
        return new StartedWorkflow(id, false, ticket, plan);
    }

    private static bool SameParameters(IReadOnlyDictionary<string, string> left, IReadOnlyDictionary<string, string> right) =>
        left.Count == right.Count && left.All(pair => right.TryGetValue(pair.Key, out string? value) && value == pair.Value);

    /// <summary>Reads the "parameters" object of a start request: strings and numbers, by name.</summary>
    /// <exception cref="InvalidWorkflowRequestException">A value is neither a string nor a number, or the object is too large.</exception>
    public static IReadOnlyDictionary<string, string> ReadParameters(JsonElement root)
    {
        if (!root.TryGetProperty("parameters", out JsonElement parameters) || parameters.ValueKind == JsonValueKind.Null)
        {
            return new Dictionary<string, string>();
        }

        if (parameters.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidWorkflowRequestException("parameters", "an object whose values are strings or numbers");
        }

        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty property in parameters.EnumerateObject())
        {
            if (values.Count == 50)
            {
                throw new InvalidWorkflowRequestException("parameters", "at most 50 parameters");
            }

            string value = property.Value.ValueKind switch
            {
                JsonValueKind.String => property.Value.GetString()!,
                JsonValueKind.Number => property.Value.GetRawText(),
                _ => throw new InvalidWorkflowRequestException($"parameters.{property.Name}", "a string or a number"),
            };
            if (value.Length > 2000)
            {
                throw new InvalidWorkflowRequestException($"parameters.{property.Name}", "at most 2000 characters");
            }

            values[property.Name] = value;
        }

        return values;
    }

    /// <summary>Reads the optional "runId" of a start request.</summary>
    public static string? ReadRunId(JsonElement root) =>
        root.TryGetProperty("runId", out JsonElement runId) && runId.ValueKind != JsonValueKind.Null
            ? runId.ValueKind == JsonValueKind.String ? runId.GetString() : throw new InvalidWorkflowRequestException("runId", "a string")
            : null;

    /// <summary>Formats a deadline for responses.</summary>
    public static string FormatTime(DateTime time) =>
        DateTime.SpecifyKind(time, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$", RegexOptions.CultureInvariant)]
    private static partial Regex RunIdPattern();
}
