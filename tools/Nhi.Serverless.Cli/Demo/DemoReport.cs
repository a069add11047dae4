using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Cli.Demo;

/// <summary>Prints one run's facts as a readable block.</summary>
public static class DemoReport
{
    public static void Print(TextWriter output, DemoRunFacts facts, RunResult? result)
    {
        output.WriteLine();
        output.WriteLine($"--- {facts.Bucket}  [{facts.Outcome}]  {(facts.Passed ? "OK" : "NOT VERIFIED")}");
        output.WriteLine($"    finding   {facts.FindingId} ({facts.Sample})");
        output.WriteLine($"    run       {facts.RunId}");
        if (facts.SkipReason is not null)
        {
            output.WriteLine($"    skipped   {facts.SkipReason}");
        }

        if (facts.Scope.Count > 0)
        {
            output.WriteLine($"    scope     {string.Join(", ", facts.Scope)}");
        }

        foreach (string action in facts.ActionsTaken)
        {
            output.WriteLine($"    action    {action}");
        }

        if (facts.GrantId is not null)
        {
            output.WriteLine($"    grant     {facts.GrantId} issued {facts.GrantIssuedAt:HH:mm:ss.fff}, expires {facts.GrantExpiresAt:HH:mm:ss}");
            output.WriteLine($"    revoked   {facts.GrantRevokedAt:HH:mm:ss.fff}, proven denied {(facts.RevocationVerified ? $"{facts.RevocationVerifiedAt:HH:mm:ss.fff}" : "NO")}, valid for {facts.ExposureSeconds:F3} s");
            output.WriteLine($"    scope     denied outside the bucket while valid: {(facts.ScopeDenialVerified ? "yes" : "NO")}");
        }

        foreach (string check in facts.VerificationChecks)
        {
            output.WriteLine($"    verified  {check}");
        }

        if (facts.AnonymousReadBlocked is { } blocked)
        {
            output.WriteLine($"    re-read   anonymous GET of the bucket's object {(blocked ? "refused" : "STILL ALLOWED")}");
        }

        foreach (ExecutionAttempt attempt in result?.Attempts ?? [])
        {
            if (attempt.Error is not null)
            {
                output.WriteLine($"    error     attempt under grant {attempt.GrantId}: {attempt.Error}");
            }
        }

        output.WriteLine($"    audit     {facts.AuditRecordIds.Count} records, last {facts.AuditRecordIds.LastOrDefault()}, signature {(facts.AuditSignatureValid ? "valid" : "INVALID")}{(facts.AuditDetail is null ? "" : $" ({facts.AuditDetail})")}");
    }
}
