using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>
/// One remediation run: plan, execute under a fresh grant per attempt, make sure every attempt's grant
/// is revoked, and write the signed audit records. History holds ids, scopes and times, never a secret.
/// </summary>
public sealed class RemediateFindingOrchestrator : TaskOrchestrator<RemediationRequest, RunResult>
{
    /// <summary>The name every host registers this orchestrator under.</summary>
    public const string Name = nameof(RemediateFindingOrchestrator);

    // Revocation must not give up on a passing fault; the sweeper is only the last resort.
    private static readonly TaskOptions CleanupRetry = TaskOptions.FromRetryPolicy(
        new RetryPolicy(maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromSeconds(1), backoffCoefficient: 2));

    private static readonly TaskOptions AuditRetry = TaskOptions.FromRetryPolicy(
        new RetryPolicy(maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromSeconds(2), backoffCoefficient: 2));

    public override async Task<RunResult> RunAsync(TaskOrchestrationContext context, RemediationRequest request)
    {
        ILogger logger = context.CreateReplaySafeLogger<RemediateFindingOrchestrator>();
        logger.LogInformation(
            "Run {RunId} started for finding {FindingId} on {Resource}",
            request.RunId, request.Finding.Id, request.Finding.Resource.Id);

        PlanDecision decision = await context.CallActivityAsync<PlanDecision>(nameof(PlanRemediationActivity), request);
        if (decision.Plan is not { } plan)
        {
            RunResult skipped = NewResult(context, request, RunOutcomes.Skipped, decision.SkipReason, null, []);
            return await RecordAsync(context, request, skipped, logger);
        }

        List<ExecutionAttempt> attempts = [];
        for (int attempt = 1; attempt <= plan.MaxAttempts; attempt++)
        {
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

        ExecutionReport? report = attempts[^1].Report;
        string outcome = report is null || report.Error is not null ? RunOutcomes.Failed
            : report.Verification.Passed ? RunOutcomes.Remediated
            : RunOutcomes.VerificationFailed;

        RunResult finished = NewResult(context, request, outcome, null, plan, attempts);
        return await RecordAsync(context, request, finished, logger);
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

    private static async Task<RunResult> RecordAsync(
        TaskOrchestrationContext context, RemediationRequest request, RunResult result, ILogger logger)
    {
        AuditReceipt receipt = await context.CallActivityAsync<AuditReceipt>(
            nameof(RecordRunActivity), new RecordRunInput(request, result), AuditRetry);

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
}
