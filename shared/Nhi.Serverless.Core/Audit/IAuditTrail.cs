using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Audit;

/// <summary>Writes signed audit records of runs to the audit table and forwards them to SIEM sinks.</summary>
public interface IAuditTrail
{
    /// <summary>Appends the records of a finished run and returns their ids and signatures.</summary>
    Task<AuditReceipt> RecordRunAsync(RemediationRequest request, RunResult result, CancellationToken cancellationToken);

    /// <summary>Appends the records of a finished business workflow run and returns their ids and signatures.</summary>
    Task<AuditReceipt> RecordWorkflowAsync(WorkflowRequest request, WorkflowResult result, CancellationToken cancellationToken);
}

/// <summary>What was written: the run's audit record ids, signing key id and delivery results.</summary>
/// <param name="RecordIds">The ids of the records written for the run, in order.</param>
/// <param name="KeyId">The id of the key that signed them.</param>
/// <param name="SiemDeliveries">One line per sink, such as "splunk-hec: delivered" or "splunk-hec: failed (503)".</param>
public sealed record AuditReceipt(IReadOnlyList<string> RecordIds, string KeyId, IReadOnlyList<string> SiemDeliveries);
