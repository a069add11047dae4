using System.Net;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Cli.Demo;

/// <summary>Collects and checks the facts of one run: the run result, the bucket from outside, and the audit records.</summary>
public sealed class DemoVerifier(HttpClient host, string? s3Endpoint)
{
    private readonly HttpClient _anonymous = new() { Timeout = TimeSpan.FromSeconds(10) };

    public async Task<DemoRunFacts> CollectAsync(string runId, PostedRun posted, RunResult? result, CancellationToken cancellationToken)
    {
        string bucket = posted.Resource[(posted.Resource.LastIndexOf(':') + 1)..];
        if (result is null)
        {
            return new DemoRunFacts { RunId = runId, Sample = posted.SampleName, FindingId = posted.FindingId, Bucket = bucket, Outcome = "unfinished" };
        }

        ExecutionReport? report = result.Attempts.Count > 0 ? result.Attempts[^1].Report : null;
        (bool auditValid, string? auditDetail) = await AuditCheck.VerifyAsync(host, runId, result.AuditRecordIds, cancellationToken);

        return new DemoRunFacts
        {
            RunId = runId,
            Sample = posted.SampleName,
            FindingId = result.FindingId,
            Bucket = bucket,
            Outcome = result.Outcome,
            SkipReason = result.SkipReason,
            ActionsTaken = report?.ActionsTaken ?? [],
            Scope = result.Plan is { } plan ? plan.Scope.Permissions.Select(permission => $"{permission} on {plan.Scope.Resource}").ToArray() : [],
            GrantId = report?.Grant.GrantId,
            GrantIssuedAt = report?.Grant.IssuedAt,
            GrantExpiresAt = report?.Grant.ExpiresAt,
            GrantRevokedAt = report?.Revocation.RevokedAt,
            RevocationVerifiedAt = report?.Revocation.ProvenAt,
            ExposureSeconds = report is null ? null : (report.Revocation.ValidUntil - report.Grant.IssuedAt).TotalSeconds,
            ScopeDenialVerified = report?.ScopeProbe?.Denied == true,
            RevocationVerified = report?.Revocation.Proven == true,
            VerificationPassed = report?.Verification.Passed == true,
            VerificationChecks = report?.Verification.Checks ?? [],
            AnonymousReadBlocked = result.Outcome == RunOutcomes.Remediated ? await IsAnonymousReadBlockedAsync(bucket, cancellationToken) : null,
            AuditRecordIds = result.AuditRecordIds,
            AuditSignatureValid = auditValid,
            AuditDetail = auditDetail,
        };
    }

    // The seeded public buckets each hold index.html; an unsigned GET must now be refused.
    private async Task<bool?> IsAnonymousReadBlockedAsync(string bucket, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(s3Endpoint))
        {
            return null;
        }

        using HttpResponseMessage response = await _anonymous.GetAsync($"{s3Endpoint.TrimEnd('/')}/{bucket}/index.html", cancellationToken);
        return response.StatusCode == HttpStatusCode.Forbidden;
    }
}
