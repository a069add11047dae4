using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Orchestration.Workflows;

/// <summary>
/// Plans a workflow run: finds the workflow, lets it check the parameters and choose the scopes, and checks that a
/// registered broker can express each scope exactly. A request that fails these checks is rejected before any grant.
/// </summary>
public sealed class PlanWorkflowActivity(IEnumerable<IWorkflow> workflows, GrantBrokers brokers) : TaskActivity<WorkflowRequest, WorkflowPlanDecision>
{
    public override Task<WorkflowPlanDecision> RunAsync(TaskActivityContext context, WorkflowRequest input)
    {
        IWorkflow? workflow = workflows.FirstOrDefault(candidate => candidate.Name == input.Workflow);
        if (workflow is null)
        {
            return Task.FromResult(new WorkflowPlanDecision(
                null, "workflow", $"one of {string.Join(", ", workflows.Select(candidate => candidate.Name).Order(StringComparer.Ordinal))}"));
        }

        WorkflowPlan plan;
        try
        {
            plan = workflow.Plan(input);
        }
        catch (InvalidWorkflowRequestException invalid)
        {
            return Task.FromResult(new WorkflowPlanDecision(null, invalid.Field, invalid.Expected));
        }

        foreach (WorkflowStepPlan step in plan.Steps)
        {
            foreach (GrantSpec grant in step.Grants)
            {
                if (!brokers.Contains(grant.Broker))
                {
                    return Task.FromResult(new WorkflowPlanDecision(
                        null, $"steps.{step.Name}.grants.{grant.Name}.broker", $"a registered broker ({string.Join(", ", brokers.Names.Order(StringComparer.Ordinal))}), not '{grant.Broker}'"));
                }

                try
                {
                    brokers.Get(grant.Broker).ValidateScope(grant.Scope);
                }
                catch (ScopeNotSupportedException unsupported)
                {
                    return Task.FromResult(new WorkflowPlanDecision(null, $"steps.{step.Name}.grants.{grant.Name}.scope", unsupported.Message));
                }
            }
        }

        return Task.FromResult(new WorkflowPlanDecision(plan, null, null));
    }
}

/// <summary>
/// Runs one managed step: records each grant in the ledger, issues the step's credentials, runs the step's code with
/// them, revokes each grant and proves it, and returns the public facts. The credentials exist only in this
/// activity's memory.
/// </summary>
/// <remarks>
/// A second execution with the same grants (the backend delivered the activity again after its host died) finds the
/// ledger entries, revokes what the first execution may have received, and fails, so no credential is reused.
/// </remarks>
public sealed class ExecuteWorkflowStepActivity(
    IEnumerable<IWorkflowStep> steps,
    GrantBrokers brokers,
    IGrantLedger ledger,
    GrantLedgerOptions ledgerOptions,
    TimeProvider time,
    ILogger<ExecuteWorkflowStepActivity> logger)
    : TaskActivity<ExecuteWorkflowStepInput, StepReport>
{
    public override async Task<StepReport> RunAsync(TaskActivityContext context, ExecuteWorkflowStepInput input)
    {
        WorkflowStepPlan plan = input.Step;
        IWorkflowStep step = steps.FirstOrDefault(candidate => candidate.Workflow == input.Request.Workflow && candidate.Step == plan.Name)
            ?? throw new InvalidOperationException($"No code is registered for step '{plan.Name}' of workflow '{input.Request.Workflow}'.");

        foreach (StepGrant grant in input.Grants)
        {
            if (!await ledger.RecordRequestedAsync(GrantRecord.Requested(grant.Broker, grant.Request, ledgerOptions.MaxStepTime), CancellationToken.None))
            {
                logger.LogWarning(
                    "Grant {GrantId} of workflow run {RunId} was requested by an earlier execution of step {Step}; the cleanup path revokes it",
                    grant.Request.GrantId, grant.Request.RunId, plan.Name);
                throw new InvalidOperationException(
                    $"Grant {grant.Request.GrantId} was requested by an earlier execution of step '{plan.Name}', which did not finish; the run revokes it and does not reuse it.");
            }
        }

        var leases = new Dictionary<string, GrantLease>(StringComparer.Ordinal);
        var revocations = new List<RevocationOutcome>();
        var stepContext = new WorkflowStepContext(input.Request, plan, leases, input.EarlierOutputs, time);
        StepOutcome? outcome = null;
        string? error = null;
        try
        {
            // All or nothing: a failure to issue one credential ends the step, and the ones issued are revoked below.
            foreach (StepGrant grant in input.Grants)
            {
                leases[grant.Name] = await brokers.Get(grant.Broker).IssueAsync(grant.Request, CancellationToken.None);
                logger.LogInformation(
                    "Issued grant {GrantId} ({GrantName}) of workflow run {RunId} step {Step} by {Broker} on {Resource}",
                    grant.Request.GrantId, grant.Name, grant.Request.RunId, plan.Name, grant.Broker, grant.Request.Scope.Resource);
            }

            outcome = await step.RunAsync(stepContext, CancellationToken.None);
        }
        catch (Exception exception) when (exception is WorkflowStepException or InvalidOperationException or HttpRequestException or TimeoutException)
        {
            error = exception.Message;
            logger.LogWarning("Step {Step} of workflow run {RunId} failed: {Error}", plan.Name, input.Request.RunId, error);
        }
        catch (Exception exception) when (exception is not OutOfMemoryException)
        {
            // Any other failure still returns the report with each grant's revocation proof. Its message may quote a
            // request with its credential, so only the type is kept.
            error = $"{exception.GetType().Name} in step '{plan.Name}'";
            logger.LogWarning("Step {Step} of workflow run {RunId} failed with {ErrorType}", plan.Name, input.Request.RunId, exception.GetType().Name);
        }
        finally
        {
            foreach (StepGrant grant in input.Grants)
            {
                revocations.Add(await RevokeAsync(grant, leases.GetValueOrDefault(grant.Name)));
            }
        }

        IssuedGrant[] issued = input.Grants.Where(grant => leases.ContainsKey(grant.Name)).Select(grant => leases[grant.Name].Grant).ToArray();
        foreach (IssuedGrant grant in issued)
        {
            await RecordInLedgerAsync(grant, revocations.First(revocation => revocation.GrantId == grant.GrantId), stepContext);
        }

        return new StepReport(
            plan.Name,
            plan.Mode,
            issued,
            stepContext.Calls,
            stepContext.ScopeProbes,
            outcome?.Verification ?? new Verification(false, [$"not verified: {error}"]),
            revocations,
            outcome?.Output)
        {
            Error = error,
        };
    }

    private async Task<RevocationOutcome> RevokeAsync(StepGrant grant, GrantLease? lease)
    {
        IGrantBroker broker = brokers.Get(grant.Broker);
        RevocationOutcome revoked = await broker.RevokeAsync(grant.Request, CancellationToken.None);
        if (lease is null || revoked.Error is not null || revoked.RevokedAt is null)
        {
            return revoked;
        }

        RevocationOutcome proven = await broker.ProveRevokedAsync(lease, revoked, CancellationToken.None);
        logger.LogInformation(
            "Revoked grant {GrantId} of workflow run {RunId}: {Method}, proven {Proven}, valid until {ValidUntil:O}",
            grant.Request.GrantId, grant.Request.RunId, proven.Method, proven.Proven, proven.ValidUntil);
        return proven;
    }

    // The step is over whatever the ledger holds, so a failed write is logged; the cleanup path and the sweeper revoke again.
    private async Task RecordInLedgerAsync(IssuedGrant grant, RevocationOutcome revocation, WorkflowStepContext stepContext)
    {
        try
        {
            DateTimeOffset? firstUse = stepContext.Calls.Where(entry => entry.GrantId == grant.GrantId).Select(entry => (DateTimeOffset?)entry.Call.At).Min();
            await ledger.RecordStepAsync(grant, firstUse, revocation, GrantRevokers.Run, CancellationToken.None);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            logger.LogError(exception, "Could not record grant {GrantId} in the grant ledger after its step", grant.GrantId);
        }
    }
}

/// <summary>Makes the workflow's business decision from its steps' reports. Sees no credential.</summary>
public sealed class DecideWorkflowActivity(IEnumerable<IWorkflow> workflows) : TaskActivity<DecideWorkflowInput, WorkflowDecision>
{
    public override Task<WorkflowDecision> RunAsync(TaskActivityContext context, DecideWorkflowInput input)
    {
        IWorkflow workflow = workflows.FirstOrDefault(candidate => candidate.Name == input.Request.Workflow)
            ?? throw new InvalidOperationException($"No workflow named '{input.Request.Workflow}' is registered.");
        return Task.FromResult(workflow.Decide(input.Request, input.Plan, input.Reports));
    }
}

/// <summary>
/// Writes the signed audit records of a finished workflow run and marks its grants in the ledger with the end of the
/// run, so the sweeper revokes any the run left open.
/// </summary>
public sealed class RecordWorkflowActivity(IAuditTrail auditTrail, IGrantLedger ledger, ILogger<RecordWorkflowActivity> logger)
    : TaskActivity<RecordWorkflowInput, AuditReceipt>
{
    public override async Task<AuditReceipt> RunAsync(TaskActivityContext context, RecordWorkflowInput input)
    {
        AuditReceipt receipt = await auditTrail.RecordWorkflowAsync(input.Request, input.Result, CancellationToken.None);
        await ledger.RecordRunEndedAsync(input.Result.RunId, input.Result.CompletedAt, CancellationToken.None);

        logger.LogInformation(
            "Recorded {RecordCount} audit records for workflow run {RunId} signed with key {KeyId}",
            receipt.RecordIds.Count, input.Result.RunId, receipt.KeyId);
        return receipt;
    }
}
