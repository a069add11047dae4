namespace Nhi.Serverless.Audit;

/// <summary>Names of the audit record fields that the chain, the verifier and the stores read.</summary>
public static class AuditRecordFields
{
    public const string Id = "id";
    public const string Stream = "stream";
    public const string Seq = "seq";
    public const string PrevHash = "prev_hash";
    public const string Hash = "hash";
    public const string Signature = "signature";
    public const string KeyId = "kid";
    public const string Algorithm = "alg";
    public const string Time = "time";
    public const string Nhi = "nhi";
    public const string Event = "event";
    public const string RunId = "run_id";
    public const string FindingId = "finding_id";
    public const string GrantId = "grant_id";
    public const string Resource = "resource";
    public const string RecordCount = "record_count";
}

/// <summary>The event names in <c>nhi.event</c>, one per kind of audit record, in the order a run writes them.</summary>
public static class AuditEvents
{
    public const string FindingReceived = "finding.received";
    public const string FindingSkipped = "finding.skipped";
    public const string PlanCreated = "plan.created";
    public const string GrantIssued = "grant.issued";
    public const string ApiCall = "api.call";
    public const string ScopeProbed = "grant.scope-probed";
    public const string VerificationCompleted = "verification.completed";
    public const string AttemptFailed = "attempt.failed";
    public const string GrantRevoked = "grant.revoked";
    public const string RunCompleted = "run.completed";
    public const string WorkflowReceived = "workflow.received";
    public const string WorkflowRejected = "workflow.rejected";
    public const string StepCompleted = "step.completed";
    public const string StepFailed = "step.failed";
}
