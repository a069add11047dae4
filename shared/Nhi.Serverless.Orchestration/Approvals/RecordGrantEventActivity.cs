using Microsoft.DurableTask;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Orchestration.Approvals;

/// <summary>Writes an approval event of a run to the audit trail and returns the record id.</summary>
/// <remarks>The orchestrator builds the event from its history only, so a retry writes the same record again, which the store ignores.</remarks>
public sealed class RecordGrantEventActivity(IGrantAuditLog auditLog) : TaskActivity<GrantAuditEvent, string>
{
    public override Task<string> RunAsync(TaskActivityContext context, GrantAuditEvent input) =>
        auditLog.RecordAsync(input, CancellationToken.None);
}
