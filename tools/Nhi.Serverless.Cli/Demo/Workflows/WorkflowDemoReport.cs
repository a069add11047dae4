namespace Nhi.Serverless.Cli.Demo.Workflows;

/// <summary>Prints one workflow run's facts: what was granted, used and revoked.</summary>
public static class WorkflowDemoReport
{
    public static void Print(TextWriter output, WorkflowDemoFacts facts)
    {
        output.WriteLine($"--- workflow {facts.Workflow}  [{facts.Outcome}{(facts.Decision is null ? "" : ": " + facts.Decision)}]  {(facts.Passed ? "OK" : "NOT VERIFIED")}");
        output.WriteLine($"    run       {facts.RunId} ({facts.Sample})");
        foreach (string reason in facts.Reasons)
        {
            output.WriteLine($"    reason    {reason}");
        }

        foreach (WorkflowGrantFacts grant in facts.Grants)
        {
            output.WriteLine($"    grant     {grant.Step}: {grant.GrantId} by {grant.Broker} as {grant.Principal}");
            output.WriteLine($"              issued {grant.GrantIssuedAt:HH:mm:ss.fff}, expires {grant.GrantExpiresAt:HH:mm:ss}, revoked {grant.GrantRevokedAt:HH:mm:ss.fff}, "
                + $"proven denied {(grant.RevocationProven ? $"{grant.RevocationVerifiedAt:HH:mm:ss.fff}" : "NO")}, usable for {grant.ExposureSeconds:F3} s");
            output.WriteLine($"              outside its scope: {(grant.ScopeDenied ? "denied" : "NOT DENIED")} ({grant.ScopeEvidence})");
        }

        foreach (string check in facts.VerificationChecks)
        {
            output.WriteLine($"    used      {check}");
        }

        output.WriteLine($"    audit     {facts.AuditRecordIds.Count} records, signature {(facts.AuditSignatureValid ? "valid" : "INVALID")}{(facts.AuditDetail is null ? "" : $" ({facts.AuditDetail})")}");
    }
}
