using Microsoft.DurableTask.Client;
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

        return new
        {
            runId = metadata.InstanceId,
            status = metadata.RuntimeStatus.ToString(),
            finished = metadata.IsCompleted,
            outcome = result?.Outcome,
            customStatus = metadata.SerializedCustomStatus,
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
}
