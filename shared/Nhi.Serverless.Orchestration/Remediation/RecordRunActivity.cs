using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>
/// Writes the run's signed audit records to the audit table, forwards them to the SIEM sinks, and marks
/// the run finished in the run registry, so a later delivery of the same finding version is a duplicate. Marks the
/// run's grants in the ledger with the end of the run, so the sweeper revokes any the run left open.
/// </summary>
public sealed class RecordRunActivity(IAuditTrail auditTrail, IRunRegistry registry, IGrantLedger ledger, ILogger<RecordRunActivity> logger)
    : TaskActivity<RecordRunInput, AuditReceipt>
{
    public override async Task<AuditReceipt> RunAsync(TaskActivityContext context, RecordRunInput input)
    {
        AuditReceipt receipt = await auditTrail.RecordRunAsync(input.Request, input.Result, CancellationToken.None);

        await registry.MarkCompletedAsync(input.Result.RunId, input.Result.Outcome, input.Result.CompletedAt, CancellationToken.None);
        await ledger.RecordRunEndedAsync(input.Result.RunId, input.Result.CompletedAt, CancellationToken.None);

        logger.LogInformation(
            "Recorded {RecordCount} audit records for run {RunId} signed with key {KeyId}",
            receipt.RecordIds.Count, input.Result.RunId, receipt.KeyId);

        return receipt;
    }
}
