using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>Writes the run's signed audit records to the audit table and forwards them to the SIEM sinks.</summary>
public sealed class RecordRunActivity(IAuditTrail auditTrail, ILogger<RecordRunActivity> logger)
    : TaskActivity<RecordRunInput, AuditReceipt>
{
    public override async Task<AuditReceipt> RunAsync(TaskActivityContext context, RecordRunInput input)
    {
        AuditReceipt receipt = await auditTrail.RecordRunAsync(input.Request, input.Result, CancellationToken.None);

        logger.LogInformation(
            "Recorded {RecordCount} audit records for run {RunId} signed with key {KeyId}",
            receipt.RecordIds.Count, input.Result.RunId, receipt.KeyId);

        return receipt;
    }
}
