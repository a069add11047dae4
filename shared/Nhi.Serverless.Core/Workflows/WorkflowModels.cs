using System.Text.Json;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Workflows;

/// <summary>A request to run a business workflow, as the trigger delivered it. Holds no secret.</summary>
/// <param name="RunId">The orchestration instance id; a caller may choose it so that a repeated start is the same run.</param>
/// <param name="Workflow">The workflow name, such as "cicd" or "loan".</param>
/// <param name="Source">The trigger channel, such as "github-oidc", "logic-apps" or "soar".</param>
/// <param name="Caller">Who asked, as the trigger authenticated it, such as "repo:nhi-demo/app:ref:refs/heads/main".</param>
/// <param name="Parameters">The workflow's inputs by name, such as "applicantId"; validated by the workflow's plan.</param>
/// <param name="ReceivedAt">When the trigger was accepted.</param>
public sealed record WorkflowRequest(
    string RunId,
    string Workflow,
    string Source,
    string Caller,
    IReadOnlyDictionary<string, string> Parameters,
    DateTimeOffset ReceivedAt)
{
    /// <summary>
    /// The SHA-256 (hex) of the ticket the caller received when the run started. The caller presents the ticket to claim
    /// a brokered step's credentials and to report done. Null when the run has no brokered step; never in audit records.
    /// </summary>
    public string? TicketHash { get; init; }
}

/// <summary>How a step uses its credentials.</summary>
public static class StepModes
{
    /// <summary>The product runs the step's code with the credentials inside one activity.</summary>
    public const string Managed = "managed";

    /// <summary>The caller receives the credentials once over HTTPS, runs the step itself and reports done.</summary>
    public const string Brokered = "brokered";
}

/// <summary>One credential a step needs: which broker issues it, for what scope, and for how long.</summary>
/// <param name="Name">The grant's name within the step, such as "erp-read"; steps ask for their leases by it.</param>
/// <param name="Broker">The broker name, such as "postgres-role" or "azure-blob-sas".</param>
/// <param name="Scope">Exactly what the credential may do.</param>
/// <param name="Lifetime">The requested lifetime; the broker clamps it to what its platform allows.</param>
public sealed record GrantSpec(string Name, string Broker, Scope Scope, TimeSpan Lifetime);

/// <summary>One step of a planned workflow.</summary>
/// <param name="Name">The step name, unique within the workflow, such as "read-applicant".</param>
/// <param name="Mode">One of <see cref="StepModes"/>.</param>
/// <param name="Grants">The credentials the step needs; each is issued fresh for the step and revoked after it.</param>
/// <param name="Window">How long the step may take; a brokered step's grants are revoked when it closes.</param>
public sealed record WorkflowStepPlan(string Name, string Mode, IReadOnlyList<GrantSpec> Grants, TimeSpan Window);

/// <summary>Steps that run at the same time; the next stage starts when all of them ended.</summary>
public sealed record WorkflowStage(IReadOnlyList<WorkflowStepPlan> Steps);

/// <summary>What a workflow will do for one request: its stages of steps and the resource it is about.</summary>
/// <param name="Workflow">The workflow name.</param>
/// <param name="Subject">What the run is about, for the audit trail, such as "loan application 1" or "claim CLM-2001".</param>
/// <param name="Stages">The stages, in order.</param>
public sealed record WorkflowPlan(string Workflow, string Subject, IReadOnlyList<WorkflowStage> Stages)
{
    /// <summary>Every step of every stage, in order.</summary>
    public IEnumerable<WorkflowStepPlan> Steps => Stages.SelectMany(stage => stage.Steps);
}

/// <summary>The public facts of one step's execution. Holds no secret.</summary>
/// <param name="Step">The step name.</param>
/// <param name="Mode">One of <see cref="StepModes"/>.</param>
/// <param name="Grants">The issued grants' public facts, in the order of the plan; empty when none was issued.</param>
/// <param name="Calls">Every call made with the step's credentials, including revocation probes, with the grant used.</param>
/// <param name="ScopeProbes">Calls outside a grant's scope that had to be denied while the grant was valid.</param>
/// <param name="Verification">What the step checked about its result.</param>
/// <param name="Revocations">Revocation and proof of each grant, done at the end of the step.</param>
/// <param name="Output">The step's business output, such as the rows it read or the partner's reply; never a credential.</param>
public sealed record StepReport(
    string Step,
    string Mode,
    IReadOnlyList<IssuedGrant> Grants,
    IReadOnlyList<GrantCall> Calls,
    IReadOnlyList<GrantScopeProbe> ScopeProbes,
    Verification Verification,
    IReadOnlyList<RevocationOutcome> Revocations,
    JsonElement? Output)
{
    /// <summary>Why the step failed, without secrets; null when it completed.</summary>
    public string? Error { get; init; }
}

/// <summary>A call made with one grant's credential.</summary>
public sealed record GrantCall(string GrantId, ApiCall Call);

/// <summary>A call outside one grant's scope, which the platform had to deny while the grant was valid.</summary>
public sealed record GrantScopeProbe(string GrantId, ScopeProbe Probe);

/// <summary>How one step ended, with the cleanup revocation of each of its grants.</summary>
/// <param name="Step">The step name.</param>
/// <param name="Mode">One of <see cref="StepModes"/>.</param>
/// <param name="GrantIds">The ids of the step's grants, in the order of the plan.</param>
/// <param name="Report">What the step did; null when it failed before it could report.</param>
/// <param name="Error">Why the step failed; null when it completed.</param>
/// <param name="Cleanup">The run's final revocation of each grant, whatever the step did.</param>
/// <param name="EndedBy">For a brokered step: "done", "failed", "cancelled" or "window-closed"; null for a managed step.</param>
public sealed record StepResult(
    string Step,
    string Mode,
    IReadOnlyList<string> GrantIds,
    StepReport? Report,
    string? Error,
    IReadOnlyList<RevocationOutcome> Cleanup,
    string? EndedBy);

/// <summary>A workflow's business result, computed from its steps' outputs without any credential.</summary>
/// <param name="Outcome">One of <see cref="WorkflowOutcomes"/>.</param>
/// <param name="Decision">The business decision, such as "approve", "refer" or "decline"; null when the workflow makes none.</param>
/// <param name="Reasons">Why, one line per rule that applied.</param>
/// <param name="Summary">The consolidated result returned to the caller.</param>
public sealed record WorkflowDecision(string Outcome, string? Decision, IReadOnlyList<string> Reasons, JsonElement? Summary);

/// <summary>How a workflow run ended.</summary>
public static class WorkflowOutcomes
{
    /// <summary>Every step completed and the decision was made.</summary>
    public const string Completed = "completed";

    /// <summary>A step failed; every grant was still revoked.</summary>
    public const string Failed = "failed";

    /// <summary>The request was refused before any grant was issued, such as an unknown parameter value.</summary>
    public const string Rejected = "rejected";

    /// <summary>The caller cancelled the run.</summary>
    public const string Cancelled = "cancelled";
}

/// <summary>The result of a workflow run, as its orchestration returns it. Holds no secret.</summary>
public sealed record WorkflowResult(
    string RunId,
    string Workflow,
    string Subject,
    string Outcome,
    string? Decision,
    IReadOnlyList<string> Reasons,
    JsonElement? Summary,
    IReadOnlyList<StepResult> Steps,
    DateTimeOffset CompletedAt)
{
    /// <summary>Every audit record written for the run, in order; empty until recorded.</summary>
    public IReadOnlyList<string> AuditRecordIds { get; init; } = [];

    /// <summary>The id of the key that signed the audit records; null until recorded.</summary>
    public string? AuditKeyId { get; init; }
}
