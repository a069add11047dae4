using Nhi.Serverless.Findings;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Runs;

/// <summary>The input of a remediation run: the finding and where it came from. Holds no secret.</summary>
/// <param name="RunId">The orchestration instance id, derived from the finding id and update time.</param>
/// <param name="Finding">The normalized finding.</param>
/// <param name="Source">The intake route that accepted it, such as "securityhub".</param>
/// <param name="ReceivedAt">When the host accepted the alert.</param>
public sealed record RemediationRequest(string RunId, Finding Finding, string Source, DateTimeOffset ReceivedAt);

/// <summary>What a run will do: the playbook, its actions, and the scope of the one grant it needs.</summary>
/// <param name="RunId">The run this plan belongs to.</param>
/// <param name="Playbook">The playbook name.</param>
/// <param name="Actions">Action names, in the order they run.</param>
/// <param name="Scope">The exact permissions on the one resource.</param>
/// <param name="Broker">The broker that issues the grant, such as "aws-sts".</param>
/// <param name="GrantLifetime">The lifetime asked of the broker; it is clamped to the broker's bounds.</param>
/// <param name="MaxAttempts">How many times the execute step may run, each attempt under a fresh grant.</param>
/// <param name="Region">The region whose regional endpoints the run uses.</param>
/// <param name="OutOfScopeProbe">A resource the grant must be denied on, used to prove the scope while the grant is valid; null to skip.</param>
public sealed record RemediationPlan(
    string RunId,
    string Playbook,
    IReadOnlyList<string> Actions,
    Scope Scope,
    string Broker,
    TimeSpan GrantLifetime,
    int MaxAttempts,
    string Region,
    string? OutOfScopeProbe);

/// <summary>The planner's decision: a plan, or the reason no run takes place.</summary>
public sealed record PlanDecision(RemediationPlan? Plan, string? SkipReason)
{
    public static PlanDecision Run(RemediationPlan plan) => new(plan, null);

    public static PlanDecision Skip(string reason) => new(null, reason);
}

/// <summary>One provider API call made with a grant's credential, or by the service for the grant.</summary>
/// <param name="Action">The provider action, such as "s3:PutBucketAcl".</param>
/// <param name="Resource">The resource it targeted.</param>
/// <param name="Purpose">Why: "remediate", "verify", "scope-probe" or "revocation-probe".</param>
/// <param name="At">When the call started.</param>
/// <param name="StatusCode">The HTTP status, or null when no response came back.</param>
/// <param name="Outcome">"allowed", "denied" or "error".</param>
/// <param name="ErrorCode">The provider's error code, such as "AccessDenied"; null on success.</param>
/// <param name="DurationMs">Round-trip time in milliseconds.</param>
public sealed record ApiCall(
    string Action,
    string Resource,
    string Purpose,
    DateTimeOffset At,
    int? StatusCode,
    string Outcome,
    string? ErrorCode,
    double DurationMs);

/// <summary>The result of reading the resource back after remediation.</summary>
/// <param name="Passed">True when every check holds.</param>
/// <param name="Checks">One line per check, such as "block public access: all four settings on".</param>
public sealed record Verification(bool Passed, IReadOnlyList<string> Checks);

/// <summary>Whether a call with the grant on a resource outside its scope was denied while the grant was valid.</summary>
/// <param name="Resource">The out-of-scope resource that was probed.</param>
/// <param name="Denied">True when the platform denied the call.</param>
/// <param name="Evidence">The call and its response.</param>
public sealed record ScopeProbe(string Resource, bool Denied, string Evidence);

/// <summary>What the execute step did under one grant. Holds no secret.</summary>
/// <param name="Grant">The issued grant's public facts.</param>
/// <param name="ActionsTaken">One line per action, saying what it changed or that nothing needed changing.</param>
/// <param name="Calls">Every call made, in order.</param>
/// <param name="Verification">The read-back result.</param>
/// <param name="ScopeProbe">The out-of-scope probe, when one was configured.</param>
/// <param name="Revocation">Revocation and its proof, done inside the step.</param>
public sealed record ExecutionReport(
    IssuedGrant Grant,
    IReadOnlyList<string> ActionsTaken,
    IReadOnlyList<ApiCall> Calls,
    Verification Verification,
    ScopeProbe? ScopeProbe,
    RevocationOutcome Revocation)
{
    /// <summary>The step that failed and why, without secrets; null when every step completed.</summary>
    public string? Error { get; init; }

    /// <summary>Whether a failed step is worth another attempt under a fresh grant; ignored when <see cref="Error"/> is null.</summary>
    public bool Retryable { get; init; } = true;
}

/// <summary>The outcome of a run, as its orchestration returns it and the audit record states it.</summary>
public static class RunOutcomes
{
    public const string Remediated = "remediated";
    public const string VerificationFailed = "verification-failed";
    public const string Failed = "failed";
    public const string Skipped = "skipped";

    /// <summary>A caller cancelled the run before it finished. Each grant the run had been issued was revoked as on any other path.</summary>
    public const string Cancelled = "cancelled";
}

/// <summary>One attempt of the execute step: its grant request and what happened.</summary>
/// <param name="GrantId">The attempt's own grant id.</param>
/// <param name="Report">The step's report when it completed; null when it failed.</param>
/// <param name="Error">The failure, without secrets; null when it completed.</param>
/// <param name="Revocation">The cleanup path's revocation result for this attempt's grant.</param>
public sealed record ExecutionAttempt(string GrantId, ExecutionReport? Report, string? Error, RevocationOutcome Revocation);

/// <summary>The result of a whole run. Holds no secret.</summary>
/// <param name="AuditRecordId">The id of the run's last audit record (the run-completed record); null until recorded.</param>
public sealed record RunResult(
    string RunId,
    string FindingId,
    string Resource,
    string Outcome,
    string? SkipReason,
    RemediationPlan? Plan,
    IReadOnlyList<ExecutionAttempt> Attempts,
    string? AuditRecordId,
    DateTimeOffset CompletedAt)
{
    /// <summary>Every audit record written for the run, in order; empty until recorded.</summary>
    public IReadOnlyList<string> AuditRecordIds { get; init; } = [];

    /// <summary>The id of the key that signed the audit records; null until recorded.</summary>
    public string? AuditKeyId { get; init; }

    /// <summary>One line per SIEM sink saying whether the records reached it.</summary>
    public IReadOnlyList<string> SiemDeliveries { get; init; } = [];
}
