using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Guardrails;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>A request to cancel a run, as the cancel event carries it to the run.</summary>
/// <param name="By">Who cancels.</param>
/// <param name="Channel">One of <see cref="ApprovalChannels.Callers"/>.</param>
/// <param name="Reason">Why; optional.</param>
/// <param name="At">When the request was accepted.</param>
public sealed record RunCancellation(string By, string Channel, string? Reason, DateTimeOffset At);

/// <summary>The external event that carries a <see cref="RunCancellation"/> to a run.</summary>
public static class RunCancellationEvents
{
    public const string Requested = "cancel-requested";
}

/// <summary>The result of submitting a cancel request.</summary>
public enum RunCancellationStatus
{
    /// <summary>The request was sent to the run, which ends itself, revokes its grants and records its outcome.</summary>
    Requested,

    /// <summary>The run started on a version that does not listen for the cancel event, so it was terminated.</summary>
    Terminated,

    /// <summary>A field of the request is invalid; see <see cref="RunCancellationSubmission.Field"/>.</summary>
    Invalid,

    /// <summary>No run has the id.</summary>
    NotFound,

    /// <summary>The run has finished already.</summary>
    Finished,
}

/// <summary>What happened to a submitted cancel request.</summary>
/// <param name="Cancellation">The request sent to the run; null unless requested or terminated.</param>
/// <param name="Field">The invalid field, for <see cref="RunCancellationStatus.Invalid"/>.</param>
/// <param name="Expected">What the field must be, for <see cref="RunCancellationStatus.Invalid"/>.</param>
/// <param name="RunStatus">The run's status, for <see cref="RunCancellationStatus.Finished"/>.</param>
public sealed record RunCancellationSubmission(
    RunCancellationStatus Status, RunCancellation? Cancellation = null, string? Field = null, string? Expected = null, string? RunStatus = null);

/// <summary>
/// Sends cancel requests to runs. The run ends itself through its orchestrator, so the grants it was issued are
/// revoked and its audit records state the outcome "cancelled".
/// </summary>
/// <remarks>The Durable Task client is passed per call because the Functions host binds it per invocation.</remarks>
public sealed class RunCancellations(TimeProvider time, ILogger<RunCancellations> logger)
{
    /// <summary>Checks the request and the run, then raises the cancel event on the run.</summary>
    /// <param name="by">Who cancels.</param>
    /// <param name="channel">One of <see cref="ApprovalChannels.Callers"/>.</param>
    /// <param name="reason">Why; optional.</param>
    public async Task<RunCancellationSubmission> SubmitAsync(
        DurableTaskClient client, string runId, string? by, string? channel, string? reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(runId);

        if (ApprovalInput.Validate(by, channel, reason) is { } invalid)
        {
            return new RunCancellationSubmission(RunCancellationStatus.Invalid, Field: invalid.Field, Expected: invalid.Expected);
        }

        // Only remediation runs are cancelled here. A business workflow run is cancelled with its ticket, which this
        // path does not check, so it returns the result for an unknown run.
        OrchestrationMetadata? run = await client.GetInstanceAsync(runId, getInputsAndOutputs: false, cancellationToken);
        if (run is null || !RemediationOrchestrators.All.Contains(run.Name, StringComparer.Ordinal))
        {
            return new RunCancellationSubmission(RunCancellationStatus.NotFound);
        }

        if (run.IsCompleted)
        {
            return new RunCancellationSubmission(RunCancellationStatus.Finished, RunStatus: run.RuntimeStatus.ToString());
        }

        var cancellation = new RunCancellation(by!.Trim(), channel!, string.IsNullOrWhiteSpace(reason) ? null : reason, time.GetUtcNow());
        if (!RemediationOrchestrators.ListenForCancel.Contains(run.Name, StringComparer.Ordinal))
        {
            // NOTE: runs of earlier versions ignore the cancel event, so they are terminated as before. Their
            // audit trail gets no run-completed record, and a grant issued by a step that is still running is
            // revoked only inside that step or by the sweeper.
            await client.TerminateInstanceAsync(
                runId, new TerminateInstanceOptions { Output = new { cancelledBy = cancellation.By, cancellation.Reason } }, cancellationToken);
            logger.LogWarning(
                "Terminated run {RunId} of {Orchestrator}, which does not listen for cancel requests, at the request of {CancelledBy} through {Channel}",
                runId, run.Name, cancellation.By, cancellation.Channel);
            return new RunCancellationSubmission(RunCancellationStatus.Terminated, cancellation);
        }

        await client.RaiseEventAsync(runId, RunCancellationEvents.Requested, cancellation, cancellationToken);
        logger.LogInformation("Sent a cancel request to run {RunId} from {CancelledBy} through {Channel}", runId, cancellation.By, cancellation.Channel);
        return new RunCancellationSubmission(RunCancellationStatus.Requested, cancellation);
    }
}
