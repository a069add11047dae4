using System.Text.Json;
using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Orchestration.Workflows;

/// <summary>
/// One business workflow run: plan, then each stage's steps at once, each under fresh grants that are revoked when the
/// step ends, then the decision and the signed audit records. A managed step runs inside one activity. A brokered step
/// waits for its caller to claim the credentials and report done. Its grants are revoked on done, on cancel, or when
/// the step's window closes, whichever comes first. History contains ids, scopes and times, never a secret.
/// </summary>
public sealed class RunWorkflowOrchestrator : TaskOrchestrator<WorkflowRequest, WorkflowResult>
{
    /// <summary>The name every host registers this orchestrator under.</summary>
    public const string Name = nameof(RunWorkflowOrchestrator);

    private static readonly TaskOptions CleanupRetry = TaskOptions.FromRetryPolicy(
        new RetryPolicy(maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromSeconds(1), backoffCoefficient: 2));

    private static readonly TaskOptions StoreRetry = TaskOptions.FromRetryPolicy(
        new RetryPolicy(maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromSeconds(2), backoffCoefficient: 2));

    public override async Task<WorkflowResult> RunAsync(TaskOrchestrationContext context, WorkflowRequest request)
    {
        ILogger logger = context.CreateReplaySafeLogger<RunWorkflowOrchestrator>();
        logger.LogInformation(
            "Workflow run {RunId} of {Workflow} started by {Caller} through {Source}", request.RunId, request.Workflow, request.Caller, request.Source);

        WorkflowPlanDecision planned = await context.CallActivityAsync<WorkflowPlanDecision>(nameof(PlanWorkflowActivity), request);
        if (planned.Plan is not { } plan)
        {
            string reason = $"field '{planned.RejectedField}': expected {planned.RejectedReason}";
            var rejected = new WorkflowResult(
                request.RunId, request.Workflow, "request", WorkflowOutcomes.Rejected, null, [reason], null, [], context.CurrentUtcDateTime);
            return await RecordAsync(context, request, rejected, logger);
        }

        Task<WorkflowCancel> cancel = context.WaitForExternalEvent<WorkflowCancel>(WorkflowEvents.Cancel);
        var waits = new BrokeredWaits(context);
        var outputs = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var steps = new List<StepResult>();
        bool failed = false;

        foreach (WorkflowStage stage in plan.Stages)
        {
            if (cancel.IsCompleted)
            {
                break;
            }

            // A snapshot, so parallel steps see the outputs of earlier stages only.
            var earlier = new Dictionary<string, JsonElement>(outputs, StringComparer.Ordinal);
            StepResult[] ended = await Task.WhenAll(stage.Steps.Select(step => step.Mode == StepModes.Brokered
                ? RunBrokeredStepAsync(context, request, step, waits, cancel, logger)
                : RunManagedStepAsync(context, request, step, earlier, logger)));

            foreach (StepResult step in ended)
            {
                steps.Add(step);
                failed |= step.Error is not null;
                if (step.Report?.Output is { } output)
                {
                    outputs[step.Step] = output;
                }
            }

            if (failed)
            {
                break;
            }
        }

        WorkflowResult result;
        if (cancel.IsCompleted)
        {
            WorkflowCancel cancelled = await cancel;
            result = new WorkflowResult(
                request.RunId, request.Workflow, plan.Subject, WorkflowOutcomes.Cancelled, null,
                [$"cancelled by {cancelled.By}" + (cancelled.Reason is null ? "" : ": " + cancelled.Reason)], null, steps, context.CurrentUtcDateTime);
        }
        else if (failed)
        {
            result = new WorkflowResult(
                request.RunId, request.Workflow, plan.Subject, WorkflowOutcomes.Failed, null,
                steps.Where(step => step.Error is not null).Select(step => $"step {step.Step}: {step.Error}").ToArray(), null, steps, context.CurrentUtcDateTime);
        }
        else
        {
            WorkflowDecision decision = await context.CallActivityAsync<WorkflowDecision>(
                nameof(DecideWorkflowActivity), new DecideWorkflowInput(request, plan, steps.Select(step => step.Report!).ToArray()));
            result = new WorkflowResult(
                request.RunId, request.Workflow, plan.Subject, decision.Outcome, decision.Decision, decision.Reasons, decision.Summary, steps, context.CurrentUtcDateTime);
        }

        return await RecordAsync(context, request, result, logger);
    }

    private static async Task<StepResult> RunManagedStepAsync(
        TaskOrchestrationContext context, WorkflowRequest request, WorkflowStepPlan step, IReadOnlyDictionary<string, JsonElement> earlier, ILogger logger)
    {
        IReadOnlyList<StepGrant> grants = NewGrants(context, request, step);
        StepReport? report = null;
        string? error;
        try
        {
            report = await context.CallActivityAsync<StepReport>(
                nameof(ExecuteWorkflowStepActivity), new ExecuteWorkflowStepInput(request, step, grants, earlier));
            error = report.Error;
        }
        catch (TaskFailedException failure)
        {
            error = $"{failure.FailureDetails.ErrorType}: {failure.FailureDetails.ErrorMessage}";
        }

        IReadOnlyList<RevocationOutcome> cleanup = await EnsureRevokedAsync(context, grants, logger);
        if (error is not null)
        {
            logger.LogWarning("Step {Step} of workflow run {RunId} failed: {Error}", step.Name, request.RunId, error);
        }

        return new StepResult(step.Name, step.Mode, grants.Select(grant => grant.Request.GrantId).ToArray(), report, error, cleanup, null);
    }

    private static async Task<StepResult> RunBrokeredStepAsync(
        TaskOrchestrationContext context,
        WorkflowRequest request,
        WorkflowStepPlan step,
        BrokeredWaits waits,
        Task<WorkflowCancel> cancel,
        ILogger logger)
    {
        IReadOnlyList<StepGrant> grants = NewGrants(context, request, step);
        DateTime deadline = context.CurrentUtcDateTime + step.Window;
        Task<BrokeredGrantsClaimed> claimed = context.WaitForExternalEvent<BrokeredGrantsClaimed>(WorkflowEvents.Claimed(step.Name));
        Task<BrokeredStepDone> done = context.WaitForExternalEvent<BrokeredStepDone>(WorkflowEvents.Done(step.Name));

        waits.Open(new OpenBrokeredStep(step.Name, deadline, false, grants));
        logger.LogInformation(
            "Brokered step {Step} of workflow run {RunId} waits for its caller until {Deadline:O}", step.Name, request.RunId, deadline);

        // The window timer is cancelled as soon as the step ends, so the run does not stay open until the deadline.
        using var timerCancellation = new CancellationTokenSource();
        Task window = context.CreateTimer(deadline, timerCancellation.Token);
        Task first = await Task.WhenAny(done, cancel, window, claimed);
        if (first == claimed)
        {
            waits.MarkClaimed(step.Name);
            first = await Task.WhenAny(done, cancel, window);
        }

        string endedBy = "window-closed";
        if (first == done)
        {
            endedBy = "done";
        }
        else if (first == cancel)
        {
            endedBy = "cancelled";
        }

        if (first != window)
        {
            timerCancellation.Cancel();
        }

        waits.Close(step.Name);
        IReadOnlyList<RevocationOutcome> cleanup = await EnsureRevokedAsync(context, grants, logger);

        BrokeredStepDone? reported = first == done ? await done : null;
        if (reported is { Succeeded: false })
        {
            endedBy = "failed";
        }
        else if (reported is not null && !claimed.IsCompleted)
        {
            // Work reported without the credentials it needed did not happen under this run's grants.
            endedBy = "done-unclaimed";
        }

        IReadOnlyList<IssuedGrant> issued = claimed.IsCompleted ? (await claimed).Grants : [];
        string? error = endedBy switch
        {
            "done" => null,
            "failed" => "the caller reported a failure: " + (reported?.Error ?? "no reason given"),
            "done-unclaimed" => "the caller reported done without claiming the credentials",
            "cancelled" => "cancelled while the caller held the credentials",
            _ => claimed.IsCompleted
                ? $"the caller did not report done within the window of {step.Window}; the credentials were revoked"
                : $"the caller did not claim the credentials within the window of {step.Window}",
        };

        var checks = new List<string> { claimed.IsCompleted ? $"credentials claimed by {(await claimed).ClaimedBy}" : "credentials never claimed" };
        checks.AddRange(reported?.Checks ?? []);
        var report = new StepReport(
            step.Name,
            step.Mode,
            issued,
            [],
            [],
            new Verification(error is null && reported is { Succeeded: true }, checks),
            cleanup,
            reported?.Output)
        {
            Error = error,
        };

        logger.LogInformation("Brokered step {Step} of workflow run {RunId} ended by {EndedBy}", step.Name, request.RunId, endedBy);
        return new StepResult(step.Name, step.Mode, grants.Select(grant => grant.Request.GrantId).ToArray(), report, error, cleanup, endedBy);
    }

    private static IReadOnlyList<StepGrant> NewGrants(TaskOrchestrationContext context, WorkflowRequest request, WorkflowStepPlan step) =>
        step.Grants.Select(spec => new StepGrant(
            spec.Name,
            spec.Broker,
            new GrantRequest(RunIds.GrantIdFor(request.RunId, context.NewGuid()), request.RunId, spec.Scope, spec.Lifetime, context.CurrentUtcDateTime)))
        .ToArray();

    private static async Task<IReadOnlyList<RevocationOutcome>> EnsureRevokedAsync(
        TaskOrchestrationContext context, IReadOnlyList<StepGrant> grants, ILogger logger)
    {
        return await Task.WhenAll(grants.Select(grant => EnsureRevokedAsync(context, grant, logger)));
    }

    private static async Task<RevocationOutcome> EnsureRevokedAsync(TaskOrchestrationContext context, StepGrant grant, ILogger logger)
    {
        try
        {
            return await context.CallActivityAsync<RevocationOutcome>(
                nameof(EnsureGrantRevokedActivity), new EnsureGrantRevokedInput(grant.Broker, grant.Request), CleanupRetry);
        }
        catch (TaskFailedException failure)
        {
            // The grant may still be live. Say so in the record and leave it to the sweeper.
            logger.LogError(
                "Grant {GrantId} of workflow run {RunId} could not be revoked: {Error}",
                grant.Request.GrantId, grant.Request.RunId, failure.FailureDetails.ErrorMessage);

            return new RevocationOutcome(
                grant.Request.GrantId,
                "none",
                null,
                false,
                null,
                "revocation failed after retries; the grant stays valid until it expires unless the sweeper revokes it",
                grant.Request.RequestedAt + grant.Request.Lifetime,
                $"{failure.FailureDetails.ErrorType}: {failure.FailureDetails.ErrorMessage}");
        }
    }

    private static async Task<WorkflowResult> RecordAsync(TaskOrchestrationContext context, WorkflowRequest request, WorkflowResult result, ILogger logger)
    {
        AuditReceipt receipt = await context.CallActivityAsync<AuditReceipt>(
            nameof(RecordWorkflowActivity), new RecordWorkflowInput(request, result), StoreRetry);

        logger.LogInformation(
            "Workflow run {RunId} of {Workflow} completed with outcome {Outcome} and decision {Decision}; {RecordCount} audit records",
            request.RunId, request.Workflow, result.Outcome, result.Decision ?? "none", receipt.RecordIds.Count);

        return result with { AuditRecordIds = receipt.RecordIds, AuditKeyId = receipt.KeyId };
    }

    /// <summary>Keeps the custom status in step with the brokered steps that wait for their callers.</summary>
    private sealed class BrokeredWaits(TaskOrchestrationContext context)
    {
        private readonly List<OpenBrokeredStep> _open = [];

        public void Open(OpenBrokeredStep step)
        {
            _open.Add(step);
            Publish();
        }

        public void MarkClaimed(string step)
        {
            int index = _open.FindIndex(open => open.Step == step);
            if (index >= 0)
            {
                _open[index] = _open[index] with { Claimed = true };
                Publish();
            }
        }

        public void Close(string step)
        {
            _open.RemoveAll(open => open.Step == step);
            Publish();
        }

        private void Publish() =>
            context.SetCustomStatus(_open.Count == 0 ? null : new WorkflowWaitStatus("awaiting-caller", _open.ToArray()));
    }
}
