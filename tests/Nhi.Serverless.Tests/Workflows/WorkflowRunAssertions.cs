using System.Text.Json.Nodes;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Tests.Workflows;

/// <summary>Checks that every workflow test makes on a finished run: scope probes, revocations and audit records.</summary>
public static class WorkflowRunAssertions
{
    /// <summary>
    /// Fails unless every grant of every step of the run was revoked in its step with a proof, the cleanup revoked it
    /// without error, and the audit records contain a revocation record of it marked proven.
    /// </summary>
    public static async Task AssertEveryGrantRevokedWithProofAsync(WorkflowTestHost host, WorkflowResult result)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(result);
        IReadOnlyList<SignedAuditRecord> records = await host.AuditRecordsAsync(result.RunId);
        Assert.Equal(result.AuditRecordIds, records.Select(record => record.Id));
        JsonNode[] revocations = records
            .Select(record => JsonNode.Parse(record.Json)!["nhi"]!)
            .Where(nhi => nhi["event"]!.GetValue<string>() == AuditEvents.GrantRevoked)
            .ToArray();

        foreach (StepResult step in result.Steps)
        {
            Assert.NotEmpty(step.GrantIds);
            foreach (string grantId in step.GrantIds)
            {
                RevocationOutcome revocation = Assert.Single(step.Report!.Revocations, outcome => outcome.GrantId == grantId);
                Assert.True(revocation.Proven, $"grant {grantId} of step {step.Step}: {revocation.Evidence}");

                RevocationOutcome cleanup = Assert.Single(step.Cleanup, outcome => outcome.GrantId == grantId);
                Assert.Null(cleanup.Error);

                Assert.Contains(revocations, nhi =>
                    nhi["grant_id"]?.GetValue<string>() == grantId && nhi["revocation"]!["proven"]!.GetValue<bool>());
            }
        }
    }

    /// <summary>Fails unless each grant of the step made at least one scope probe and every probe of the step was denied.</summary>
    public static void AssertEveryGrantDeniedOutsideScope(StepResult step)
    {
        ArgumentNullException.ThrowIfNull(step);
        StepReport report = step.Report!;
        Assert.All(report.ScopeProbes, probe => Assert.True(probe.Probe.Denied, probe.Probe.Evidence));
        foreach (IssuedGrant grant in report.Grants)
        {
            Assert.Contains(report.ScopeProbes, probe => probe.GrantId == grant.GrantId);
        }

        Assert.Equal(step.GrantIds.Count, report.Grants.Count);
    }

    /// <summary>Returns the step named <paramref name="name"/>, failing when the run has none.</summary>
    public static StepResult Step(WorkflowResult result, string name)
    {
        ArgumentNullException.ThrowIfNull(result);
        return Assert.Single(result.Steps, step => step.Step == name);
    }
}
