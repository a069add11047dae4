using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Guardrails;

namespace Nhi.Serverless.Orchestration.Approvals;

/// <summary>What a waiting run shows as its custom status, so callers can see why it has not acted yet.</summary>
/// <param name="State">One of <see cref="RunWaitStates"/>.</param>
/// <param name="Since">When the wait began.</param>
/// <param name="Until">When an approval wait ends with a rejection; null for a capacity wait.</param>
/// <param name="Reasons">Why the run waits, such as the guardrails that require approval.</param>
public sealed record RunWaitStatus(string State, DateTime Since, DateTime? Until, IReadOnlyList<string> Reasons);

/// <summary>Values of <see cref="RunWaitStatus.State"/>.</summary>
public static class RunWaitStates
{
    /// <summary>The run waits for an approve or reject decision before its grant is issued.</summary>
    public const string AwaitingApproval = "awaiting-approval";

    /// <summary>The run waits for a free concurrency slot.</summary>
    public const string AwaitingCapacity = "awaiting-capacity";
}

/// <summary>The external event that carries an <see cref="ApprovalDecision"/> to a waiting run.</summary>
public static class ApprovalEvents
{
    public const string Decision = "approval-decision";
}

/// <summary>The result of submitting an approval decision.</summary>
public enum ApprovalSubmissionStatus
{
    /// <summary>The decision was sent to the waiting run.</summary>
    Accepted,

    /// <summary>A field of the decision is invalid; see <see cref="ApprovalSubmission.Field"/>.</summary>
    Invalid,

    /// <summary>No run has the id.</summary>
    NotFound,

    /// <summary>The run exists but does not wait for approval (any more, or never did).</summary>
    NotAwaitingApproval,
}

/// <summary>What happened to a submitted decision.</summary>
/// <param name="Decision">The decision sent to the run; null unless accepted.</param>
/// <param name="Field">The invalid field, for <see cref="ApprovalSubmissionStatus.Invalid"/>.</param>
/// <param name="Expected">What the field must be, for <see cref="ApprovalSubmissionStatus.Invalid"/>.</param>
/// <param name="RunStatus">The run's status, for <see cref="ApprovalSubmissionStatus.NotAwaitingApproval"/>.</param>
public sealed record ApprovalSubmission(
    ApprovalSubmissionStatus Status, ApprovalDecision? Decision = null, string? Field = null, string? Expected = null, string? RunStatus = null);

/// <summary>
/// Sends approve and reject decisions to runs that wait for approval. Every channel calls it: the HTTP endpoints,
/// the Functions triggers, the SOAR API and the CLI (through the HTTP endpoints).
/// </summary>
/// <remarks>The Durable Task client is passed per call because the Functions host binds it per invocation.</remarks>
public sealed class RunApprovals(TimeProvider time, ILogger<RunApprovals> logger)
{
    /// <summary>Checks the decision and the run, then raises the decision event on the run.</summary>
    /// <param name="approve">True to approve, false to reject.</param>
    /// <param name="by">Who decides.</param>
    /// <param name="channel">One of <see cref="ApprovalChannels.Callers"/>.</param>
    /// <param name="reason">Why; optional.</param>
    public async Task<ApprovalSubmission> SubmitAsync(
        DurableTaskClient client, string runId, bool approve, string? by, string? channel, string? reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(runId);

        if (ApprovalInput.Validate(by, channel, reason) is { } invalid)
        {
            return new ApprovalSubmission(ApprovalSubmissionStatus.Invalid, Field: invalid.Field, Expected: invalid.Expected);
        }

        OrchestrationMetadata? run = await client.GetInstanceAsync(runId, getInputsAndOutputs: true, cancellationToken);
        if (run is null)
        {
            return new ApprovalSubmission(ApprovalSubmissionStatus.NotFound);
        }

        RunWaitStatus? wait = run.SerializedCustomStatus is null ? null : run.ReadCustomStatusAs<RunWaitStatus>();
        if (run.RuntimeStatus != OrchestrationRuntimeStatus.Running || wait?.State != RunWaitStates.AwaitingApproval)
        {
            string status = wait is null ? run.RuntimeStatus.ToString() : $"{run.RuntimeStatus} ({wait.State})";
            return new ApprovalSubmission(ApprovalSubmissionStatus.NotAwaitingApproval, RunStatus: status);
        }

        var decision = new ApprovalDecision(approve, by!.Trim(), channel!, string.IsNullOrWhiteSpace(reason) ? null : reason, time.GetUtcNow());
        await client.RaiseEventAsync(runId, ApprovalEvents.Decision, decision, cancellationToken);

        logger.LogInformation(
            "Run {RunId} {Decision} by {ApprovedBy} through {Channel}",
            runId, approve ? "approved" : "rejected", decision.By, decision.Channel);
        return new ApprovalSubmission(ApprovalSubmissionStatus.Accepted, decision);
    }
}
