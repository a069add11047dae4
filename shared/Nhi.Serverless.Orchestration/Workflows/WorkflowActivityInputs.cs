using System.Text.Json;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Orchestration.Workflows;

/// <summary>The plan of a workflow run, or why the request was rejected before any grant was issued.</summary>
/// <param name="Plan">The plan; null when rejected.</param>
/// <param name="RejectedField">The request field that was not acceptable.</param>
/// <param name="RejectedReason">What was expected there.</param>
public sealed record WorkflowPlanDecision(WorkflowPlan? Plan, string? RejectedField, string? RejectedReason);

/// <summary>One grant of a step, as the orchestrator created it: its name in the step, its broker and its request.</summary>
public sealed record StepGrant(string Name, string Broker, GrantRequest Request);

/// <summary>The input of a managed step's activity.</summary>
public sealed record ExecuteWorkflowStepInput(
    WorkflowRequest Request,
    WorkflowStepPlan Step,
    IReadOnlyList<StepGrant> Grants,
    IReadOnlyDictionary<string, JsonElement> EarlierOutputs);

/// <summary>The input of the decision activity.</summary>
public sealed record DecideWorkflowInput(WorkflowRequest Request, WorkflowPlan Plan, IReadOnlyList<StepReport> Reports);

/// <summary>The input of the activity that writes a finished run's audit records.</summary>
public sealed record RecordWorkflowInput(WorkflowRequest Request, WorkflowResult Result);

/// <summary>The external events a workflow run listens for.</summary>
public static class WorkflowEvents
{
    /// <summary>The caller cancelled the run; payload <see cref="WorkflowCancel"/>.</summary>
    public const string Cancel = "WorkflowCancel";

    /// <summary>The caller of a brokered step received its credentials; payload <see cref="BrokeredGrantsClaimed"/>.</summary>
    public static string Claimed(string step) => "GrantsClaimed:" + step;

    /// <summary>The caller of a brokered step reported the end of its work; payload <see cref="BrokeredStepDone"/>.</summary>
    public static string Done(string step) => "StepDone:" + step;
}

/// <summary>Who cancelled a run, and why.</summary>
public sealed record WorkflowCancel(string By, string? Reason);

/// <summary>The public facts of the grants a brokered step's caller received.</summary>
public sealed record BrokeredGrantsClaimed(IReadOnlyList<IssuedGrant> Grants, DateTimeOffset ClaimedAt, string ClaimedBy);

/// <summary>What the caller of a brokered step reported when it finished.</summary>
/// <param name="Succeeded">True when the caller's work succeeded.</param>
/// <param name="Checks">What the caller checked, one line each.</param>
/// <param name="Output">The caller's business output, such as rows processed; never a credential.</param>
/// <param name="Error">Why the work failed, when it did.</param>
public sealed record BrokeredStepDone(bool Succeeded, IReadOnlyList<string> Checks, JsonElement? Output, string? Error);

/// <summary>The custom status of a workflow run while a brokered step waits for its caller.</summary>
/// <param name="State">"awaiting-caller".</param>
/// <param name="Steps">The open brokered steps.</param>
public sealed record WorkflowWaitStatus(string State, IReadOnlyList<OpenBrokeredStep> Steps);

/// <summary>A brokered step waiting for its caller to claim credentials and report done.</summary>
/// <param name="Step">The step name.</param>
/// <param name="Deadline">When the step's window closes and its grants are revoked.</param>
/// <param name="Claimed">True once the caller received the credentials.</param>
/// <param name="Grants">The step's grants, so that the hand-out endpoint issues exactly these.</param>
public sealed record OpenBrokeredStep(string Step, DateTime Deadline, bool Claimed, IReadOnlyList<StepGrant> Grants);
