using System.Globalization;
using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Orchestration.Approvals;
using Nhi.Serverless.Orchestration.Guardrails;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>
/// One remediation run, version 2. It plans, applies the guardrails (refusal, dry run, approval, shorter TTL), waits
/// for approval when required and for a concurrency slot, and then executes under a fresh grant per attempt. Every
/// attempt's grant is revoked, and the signed audit records are written. History contains ids, scopes and times,
/// never a secret.
/// </summary>
/// <remarks>
/// Version 1 (<see cref="RemediateFindingOrchestrator"/>) stays registered so runs started before this version
/// finish on it. Version 3 (<see cref="RemediateFindingOrchestratorV3"/>) runs the same steps through
/// <see cref="RunGuardedAsync"/> and also ends the run when a cancel request arrives (see
/// docs/orchestration-versioning.md).
/// </remarks>
public sealed class RemediateFindingOrchestratorV2 : TaskOrchestrator<RemediationRequest, RunResult>
{
    /// <summary>The name every host registers this orchestrator under.</summary>
    public const string Name = nameof(RemediateFindingOrchestratorV2);

    // Revocation must not give up on a passing fault; the sweeper is only the last resort.
    private static readonly TaskOptions CleanupRetry = TaskOptions.FromRetryPolicy(
        new RetryPolicy(maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromSeconds(1), backoffCoefficient: 2));

    private static readonly TaskOptions StoreRetry = TaskOptions.FromRetryPolicy(
        new RetryPolicy(maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromSeconds(2), backoffCoefficient: 2));

    public override Task<RunResult> RunAsync(TaskOrchestrationContext context, RemediationRequest request) =>
        RunGuardedAsync(context, request, context.CreateReplaySafeLogger<RemediateFindingOrchestratorV2>(), listensForCancel: false);

    /// <summary>Runs the steps of versions 2 and 3.</summary>
    /// <param name="listensForCancel">
    /// True for version 3: a <see cref="RunCancellationEvents.Requested"/> event ends the run while it waits for
    /// approval or capacity, or before its next attempt. Version 2 ignores the event, so its steps stay as recorded
    /// in the histories of its runs.
    /// </param>
    internal static async Task<RunResult> RunGuardedAsync(
        TaskOrchestrationContext context, RemediationRequest request, ILogger logger, bool listensForCancel)
    {
        // Waiting for an external event adds nothing to the history until the event arrives, and the task that
        // never completes keeps version 2 on the steps it always took.
        Task<RunCancellation> cancelled = listensForCancel
            ? context.WaitForExternalEvent<RunCancellation>(RunCancellationEvents.Requested)
            : new TaskCompletionSource<RunCancellation>().Task;

        logger.LogInformation(
            "Run {RunId} started for finding {FindingId} on {Resource}",
            request.RunId, request.Finding.Id, request.Finding.Resource.Id);

        PlanDecision decision = await context.CallActivityAsync<PlanDecision>(nameof(PlanRemediationActivity), request);
        if (decision.Plan is not { } planned)
        {
            return await RecordAsync(context, request, NewResult(context, request, RunOutcomes.Skipped, decision.SkipReason, null, []), logger);
        }

        GuardrailDecision guardrails = await context.CallActivityAsync<GuardrailDecision>(
            nameof(CheckGuardrailsActivity), new CheckGuardrailsInput(request, planned), StoreRetry);
        if (guardrails.Refused)
        {
            RunResult refused = NewResult(context, request, GuardrailOutcomes.Refused, guardrails.RefusedReason, planned, []);
            return await RecordAsync(context, request, refused, logger);
        }

        RemediationPlan plan = planned with { GrantLifetime = guardrails.GrantLifetime };
        if (guardrails.DryRun)
        {
            const string DryRunReason = "dry run: the plan was recorded; no credential was issued and nothing was changed";
            return await RecordAsync(context, request, NewResult(context, request, GuardrailOutcomes.DryRun, DryRunReason, plan, []), logger);
        }

        if (cancelled.IsCompleted)
        {
            return await RecordCancelledAsync(context, request, plan, [], await cancelled, logger);
        }

        if (guardrails.RequiresApproval)
        {
            ApprovalDecision? approval = await WaitForApprovalAsync(context, request, guardrails, cancelled, logger);
            if (approval is null)
            {
                return await RecordCancelledAsync(context, request, plan, [], await cancelled, logger);
            }

            if (!approval.Approved)
            {
                string reason = DescribeDecision("rejected", approval.By, approval.Channel, approval.At, approval.Reason);
                return await RecordAsync(context, request, NewResult(context, request, GuardrailOutcomes.Rejected, reason, plan, []), logger);
            }
        }

        var slots = new RunSlotsInput(request.RunId, guardrails.Limits);
        if (!await AcquireSlotsAsync(context, slots, guardrails, cancelled, logger))
        {
            return await RecordCancelledAsync(context, request, plan, [], await cancelled, logger);
        }

        List<ExecutionAttempt> attempts;
        bool stoppedByCancel;
        try
        {
            (attempts, stoppedByCancel) = await ExecuteAttemptsAsync(context, request, plan, cancelled, logger);
        }
        finally
        {
            if (slots.Limits.Count > 0)
            {
                await context.CallActivityAsync<bool>(nameof(ReleaseRunSlotsActivity), slots, StoreRetry);
            }
        }

        if (stoppedByCancel)
        {
            return await RecordCancelledAsync(context, request, plan, attempts, await cancelled, logger);
        }

        ExecutionReport? report = attempts[^1].Report;
        string outcome = report is null || report.Error is not null ? RunOutcomes.Failed
            : report.Verification.Passed ? RunOutcomes.Remediated
            : RunOutcomes.VerificationFailed;

        if (cancelled.IsCompleted)
        {
            logger.LogInformation(
                "Run {RunId} received a cancel request while its last attempt ran, so it ends with that attempt's outcome {Outcome}",
                request.RunId, outcome);
        }

        return await RecordAsync(context, request, NewResult(context, request, outcome, null, plan, attempts), logger);
    }

    // Returns null when the run was cancelled before a decision arrived.
    private static async Task<ApprovalDecision?> WaitForApprovalAsync(
        TaskOrchestrationContext context, RemediationRequest request, GuardrailDecision guardrails, Task<RunCancellation> cancelled, ILogger logger)
    {
        DateTime since = context.CurrentUtcDateTime;
        DateTime deadline = since + guardrails.ApprovalTimeout;
        context.SetCustomStatus(new RunWaitStatus(RunWaitStates.AwaitingApproval, since, deadline, guardrails.ApprovalReasons));
        logger.LogInformation(
            "Run {RunId} waits for approval until {Deadline:O}: {Reasons}", request.RunId, deadline, string.Join("; ", guardrails.ApprovalReasons));

        await RecordEventAsync(context, request, GrantAuditEvents.ApprovalRequested, "requested", new DateTimeOffset(since, TimeSpan.Zero),
            $"Run {request.RunId} waits for approval until {FormatTime(deadline)}",
            new Dictionary<string, string?>
            {
                ["reasons"] = string.Join("; ", guardrails.ApprovalReasons),
                ["deadline"] = FormatTime(deadline),
            });

        // The timer is cancelled as soon as a decision arrives, so an approved or rejected run ends at once
        // instead of staying open until the timeout.
        using var timerCancellation = new CancellationTokenSource();
        Task<ApprovalDecision> decided = context.WaitForExternalEvent<ApprovalDecision>(ApprovalEvents.Decision);
        Task timeout = context.CreateTimer(deadline, timerCancellation.Token);

        ApprovalDecision approval;
        Task first = await Task.WhenAny(decided, timeout, cancelled);
        if (first == cancelled)
        {
            timerCancellation.Cancel();
            context.SetCustomStatus(null);
            return null;
        }

        if (first == decided)
        {
            timerCancellation.Cancel();
            approval = await decided;
        }
        else
        {
            approval = new ApprovalDecision(
                false, ApprovalChannels.Timeout, ApprovalChannels.Timeout,
                $"no decision within {guardrails.ApprovalTimeout.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} seconds",
                new DateTimeOffset(context.CurrentUtcDateTime, TimeSpan.Zero));
        }

        context.SetCustomStatus(null);
        logger.LogInformation(
            "Run {RunId} {Decision} by {ApprovedBy} through {Channel}", request.RunId, approval.Approved ? "approved" : "rejected", approval.By, approval.Channel);

        await RecordEventAsync(
            context, request, approval.Approved ? GrantAuditEvents.ApprovalGranted : GrantAuditEvents.ApprovalRejected, "decision",
            approval.At,
            $"Run {request.RunId} {(approval.Approved ? "approved" : "rejected")} by {approval.By} through {approval.Channel}",
            new Dictionary<string, string?>
            {
                ["approved"] = approval.Approved ? "true" : "false",
                ["decided_by"] = approval.By,
                ["channel"] = approval.Channel,
                ["decided_at"] = FormatTime(approval.At),
                ["reason"] = approval.Reason,
            });

        return approval;
    }

    // Returns false, holding no slot, when the run was cancelled while it waited for one.
    private static async Task<bool> AcquireSlotsAsync(
        TaskOrchestrationContext context, RunSlotsInput slots, GuardrailDecision guardrails, Task<RunCancellation> cancelled, ILogger logger)
    {
        if (slots.Limits.Count == 0)
        {
            return true;
        }

        // Excess runs wait on durable timers, so a burst waits in the orchestration store instead of failing.
        TimeSpan delay = guardrails.SlotRetry;
        bool waited = false;
        while (!await context.CallActivityAsync<bool>(nameof(AcquireRunSlotsActivity), slots, StoreRetry))
        {
            if (!waited)
            {
                waited = true;
                context.SetCustomStatus(new RunWaitStatus(
                    RunWaitStates.AwaitingCapacity, context.CurrentUtcDateTime, null, slots.Limits.Select(limit => $"{limit.Key} (limit {limit.Limit})").ToArray()));
                logger.LogInformation("Run {RunId} waits for a free concurrency slot", slots.RunId);
            }

            using var timerCancellation = new CancellationTokenSource();
            Task retry = context.CreateTimer(context.CurrentUtcDateTime + delay, timerCancellation.Token);
            if (await Task.WhenAny(retry, cancelled) == cancelled)
            {
                timerCancellation.Cancel();
                context.SetCustomStatus(null);
                return false;
            }

            delay = delay * 2 < guardrails.MaxSlotRetry ? delay * 2 : guardrails.MaxSlotRetry;
        }

        if (waited)
        {
            context.SetCustomStatus(null);
        }

        return true;
    }

    // Stops before the next attempt once the run is cancelled. An attempt that is running when the cancel request
    // arrives completes, and its grant is revoked like any other.
    private static async Task<(List<ExecutionAttempt> Attempts, bool StoppedByCancel)> ExecuteAttemptsAsync(
        TaskOrchestrationContext context, RemediationRequest request, RemediationPlan plan, Task<RunCancellation> cancelled, ILogger logger)
    {
        List<ExecutionAttempt> attempts = [];
        for (int attempt = 1; attempt <= plan.MaxAttempts; attempt++)
        {
            if (cancelled.IsCompleted)
            {
                return (attempts, true);
            }

            var grant = new GrantRequest(
                GrantId: RunIds.GrantIdFor(request.RunId, context.NewGuid()),
                RunId: request.RunId,
                Scope: plan.Scope,
                Lifetime: plan.GrantLifetime,
                RequestedAt: context.CurrentUtcDateTime);

            (ExecutionAttempt result, bool retryable) = await ExecuteAttemptAsync(context, plan, grant, logger);
            attempts.Add(result);

            if (result.Error is null || !retryable)
            {
                break;
            }

            logger.LogWarning(
                "Run {RunId} attempt {Attempt} of {MaxAttempts} failed under grant {GrantId}; retrying under a fresh grant: {Error}",
                request.RunId, attempt, plan.MaxAttempts, grant.GrantId, result.Error);
        }

        return (attempts, false);
    }

    private static async Task<(ExecutionAttempt Attempt, bool Retryable)> ExecuteAttemptAsync(
        TaskOrchestrationContext context, RemediationPlan plan, GrantRequest grant, ILogger logger)
    {
        ExecutionReport? report = null;
        string? error = null;
        bool retryable = false;
        RevocationOutcome revocation;

        try
        {
            report = await context.CallActivityAsync<ExecutionReport>(
                nameof(ExecuteWithGrantActivity), new ExecuteWithGrantInput(plan, grant));
            error = report.Error;
            retryable = report.Error is not null;
        }
        catch (TaskFailedException failure)
        {
            error = $"{failure.FailureDetails.ErrorType}: {failure.FailureDetails.ErrorMessage}";
            retryable = IsRetryable(failure.FailureDetails);
        }
        finally
        {
            revocation = await EnsureRevokedAsync(context, plan.Broker, grant, logger);
        }

        return (new ExecutionAttempt(grant.GrantId, report, error, revocation), retryable);
    }

    private static async Task<RevocationOutcome> EnsureRevokedAsync(
        TaskOrchestrationContext context, string broker, GrantRequest grant, ILogger logger)
    {
        try
        {
            return await context.CallActivityAsync<RevocationOutcome>(
                nameof(EnsureGrantRevokedActivity), new EnsureGrantRevokedInput(broker, grant), CleanupRetry);
        }
        catch (TaskFailedException failure)
        {
            // The grant may still be live. Say so in the record and leave it to the sweeper.
            logger.LogError(
                "Grant {GrantId} of run {RunId} could not be revoked: {Error}",
                grant.GrantId, grant.RunId, failure.FailureDetails.ErrorMessage);

            return new RevocationOutcome(
                GrantId: grant.GrantId,
                Method: "none",
                RevokedAt: null,
                Proven: false,
                ProvenAt: null,
                Evidence: "revocation failed after retries; the grant stays valid until it expires unless the sweeper revokes it",
                ValidUntil: grant.RequestedAt + grant.Lifetime,
                Error: $"{failure.FailureDetails.ErrorType}: {failure.FailureDetails.ErrorMessage}");
        }
    }

    private static Task<string> RecordEventAsync(
        TaskOrchestrationContext context,
        RemediationRequest request,
        string eventName,
        string streamSuffix,
        DateTimeOffset time,
        string message,
        Dictionary<string, string?> details)
    {
        details["finding_id"] = request.Finding.Id;
        var auditEvent = new GrantAuditEvent(
            eventName,
            $"approval-{request.RunId}-{streamSuffix}",
            request.RunId,
            null,
            request.Finding.Resource.Id,
            time,
            Succeeded: true,
            message,
            details);
        return context.CallActivityAsync<string>(nameof(RecordGrantEventActivity), auditEvent, StoreRetry);
    }

    private static async Task<RunResult> RecordAsync(
        TaskOrchestrationContext context, RemediationRequest request, RunResult result, ILogger logger)
    {
        AuditReceipt receipt = await context.CallActivityAsync<AuditReceipt>(
            nameof(RecordRunActivity), new RecordRunInput(request, result), StoreRetry);

        logger.LogInformation(
            "Run {RunId} completed with outcome {Outcome}; audit record {AuditRecordId}",
            request.RunId, result.Outcome, receipt.RecordIds.LastOrDefault());

        return result with
        {
            AuditRecordId = receipt.RecordIds.LastOrDefault(),
            AuditRecordIds = receipt.RecordIds,
            AuditKeyId = receipt.KeyId,
            SiemDeliveries = receipt.SiemDeliveries,
        };
    }

    private static Task<RunResult> RecordCancelledAsync(
        TaskOrchestrationContext context,
        RemediationRequest request,
        RemediationPlan plan,
        IReadOnlyList<ExecutionAttempt> attempts,
        RunCancellation cancellation,
        ILogger logger)
    {
        logger.LogInformation(
            "Run {RunId} cancelled by {CancelledBy} through {Channel} after {AttemptCount} attempts",
            request.RunId, cancellation.By, cancellation.Channel, attempts.Count);

        string reason = DescribeDecision("cancelled", cancellation.By, cancellation.Channel, cancellation.At, cancellation.Reason);
        return RecordAsync(context, request, NewResult(context, request, RunOutcomes.Cancelled, reason, plan, attempts), logger);
    }

    private static string DescribeDecision(string decision, string by, string channel, DateTimeOffset at, string? reason) =>
        $"{decision} by {by} through {channel} at {FormatTime(at)}" + (reason is null ? "" : ": " + reason);

    private static RunResult NewResult(
        TaskOrchestrationContext context,
        RemediationRequest request,
        string outcome,
        string? skipReason,
        RemediationPlan? plan,
        IReadOnlyList<ExecutionAttempt> attempts) =>
        new(
            RunId: request.RunId,
            FindingId: request.Finding.Id,
            Resource: request.Finding.Resource.Id,
            Outcome: outcome,
            SkipReason: skipReason,
            Plan: plan,
            Attempts: attempts,
            AuditRecordId: null,
            CompletedAt: context.CurrentUtcDateTime);

    // A scope the broker cannot express, or a missing executor, fails the same way every time.
    private static bool IsRetryable(TaskFailureDetails failure) =>
        !failure.IsCausedBy<ScopeNotSupportedException>()
        && !failure.IsCausedBy<InvalidOperationException>()
        && !failure.ErrorType.EndsWith("ScopeViolationException", StringComparison.Ordinal);

    private static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static string FormatTime(DateTime time) => FormatTime(new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)));
}
