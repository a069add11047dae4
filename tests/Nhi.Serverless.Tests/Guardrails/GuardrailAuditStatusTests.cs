using System.Text.Json.Nodes;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Audit;

namespace Nhi.Serverless.Tests.Guardrails;

/// <summary>
/// The OCSF status of the run-completed record for runs that stopped before acting: a guardrail refusal, a rejected
/// approval and a cancellation are neither a success nor a failure, and a dry run did what it was asked.
/// </summary>
public sealed class GuardrailAuditStatusTests
{
    private const string RunId = "run-guardrail-status";

    [Theory]
    [InlineData(GuardrailOutcomes.Refused, "account '123456789012' is not in Guardrails:AllowedAccounts", "Other")]
    [InlineData(GuardrailOutcomes.Rejected, "rejected by bob@example.com through cli at 2025-03-01T10:20:00.000Z: not during the freeze", "Other")]
    [InlineData(RunOutcomes.Cancelled, "cancelled by analyst@example.com through soar at 2025-03-01T10:20:00.000Z: false positive", "Other")]
    [InlineData(GuardrailOutcomes.DryRun, "dry run: the plan was recorded; no credential was issued and nothing was changed", "Success")]
    public void StoppedRunCompletionStatus(string outcome, string reason, string expectedStatus)
    {
        RunResult result = AuditTestRuns.Skipped(RunId) with
        {
            Outcome = outcome,
            SkipReason = reason,
            Plan = AuditTestRuns.Plan(RunId),
        };

        JsonObject completed = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), result)[^1];

        Assert.Equal(AuditEvents.RunCompleted, (string?)completed["nhi"]!["event"]);
        Assert.Equal(expectedStatus, (string?)completed["status"]);
        Assert.Equal(outcome, (string?)completed["nhi"]!["outcome"]);
        Assert.Equal(reason, (string?)completed["nhi"]!["skip_reason"]);
    }

    [Theory]
    [InlineData(RunOutcomes.Failed)]
    [InlineData(RunOutcomes.VerificationFailed)]
    public void FailedRunCompletionIsFailure(string outcome)
    {
        RunResult result = AuditTestRuns.Remediated(RunId) with { Outcome = outcome };

        JsonObject completed = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), result)[^1];

        Assert.Equal("Failure", (string?)completed["status"]);
    }
}
