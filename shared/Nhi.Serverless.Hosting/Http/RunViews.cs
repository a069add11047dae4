using Microsoft.DurableTask.Client;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>The run status body that the SOAR and Logic Apps endpoints return.</summary>
public static class RunViews
{
    public static bool IsFinished(OrchestrationMetadata metadata) => metadata.IsCompleted;

    /// <summary>Returns the status view of a run; <paramref name="withResult"/> adds the result of a completed run.</summary>
    public static object Describe(OrchestrationMetadata metadata, string baseUrl, bool withResult)
    {
        RunResult? result = withResult && metadata.RuntimeStatus == OrchestrationRuntimeStatus.Completed
            ? metadata.ReadOutputAs<RunResult>()
            : null;
        RunWaitStatus? wait = WaitOf(metadata);

        return new
        {
            runId = metadata.InstanceId,
            status = StatusOf(metadata, wait),
            finished = metadata.IsCompleted,
            outcome = result?.Outcome,
            wait = DescribeWait(wait),
            createdAt = metadata.CreatedAt,
            lastUpdatedAt = metadata.LastUpdatedAt,
            failure = metadata.FailureDetails is { } failure ? $"{failure.ErrorType}: {failure.ErrorMessage}" : null,
            result,
            links = new
            {
                self = $"{baseUrl}/api/soar/runs/{metadata.InstanceId}",
                approval = $"{baseUrl}/api/soar/runs/{metadata.InstanceId}/approval",
                cancel = $"{baseUrl}/api/soar/runs/{metadata.InstanceId}/cancel",
                audit = $"{baseUrl}/api/audit/runs/{metadata.InstanceId}/records",
            },
        };
    }

    /// <summary>Returns why a running run waits, from the custom status its orchestrator sets; null when it does not wait.</summary>
    public static RunWaitStatus? WaitOf(OrchestrationMetadata metadata) =>
        metadata.RuntimeStatus == OrchestrationRuntimeStatus.Running && metadata.SerializedCustomStatus is not null
            ? metadata.ReadCustomStatusAs<RunWaitStatus>()
            : null;

    /// <summary>Returns the wait state, such as "awaiting-approval", while the run waits, and the runtime status otherwise.</summary>
    public static string StatusOf(OrchestrationMetadata metadata, RunWaitStatus? wait) => wait?.State ?? metadata.RuntimeStatus.ToString();

    /// <summary>Returns the view of a wait: its state, since when, its deadline (approval waits only) and the reasons.</summary>
    public static object? DescribeWait(RunWaitStatus? wait) => wait is null
        ? null
        : new
        {
            state = wait.State,
            since = new DateTimeOffset(DateTime.SpecifyKind(wait.Since, DateTimeKind.Utc)),
            deadline = wait.Until is { } until ? new DateTimeOffset(DateTime.SpecifyKind(until, DateTimeKind.Utc)) : (DateTimeOffset?)null,
            reasons = wait.Reasons,
        };
}
