using Nhi.Serverless.Audit;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Requests and results of made-up runs on one S3 bucket, for building audit records.</summary>
internal static class AuditTestRuns
{
    public const string Resource = "arn:aws:s3:::audit-test-bucket";
    public const string OutOfScopeResource = "arn:aws:s3:::audit-test-other-bucket";
    public const string Principal = "AROAEXAMPLEROLEID0001:nhi-grant";
    public const string Fingerprint = "hmac-sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    public static readonly DateTimeOffset DefaultStart = new(2025, 3, 1, 10, 15, 0, 123, TimeSpan.Zero);

    public static RemediationRequest Request(string runId, DateTimeOffset? receivedAt = null, string? findingTitle = null)
    {
        var finding = new Finding(
            Id: $"finding-{runId}",
            Format: FindingFormats.Asff,
            ProductName: "Security Hub",
            ControlId: "S3.2",
            Title: findingTitle ?? "S3 general purpose buckets should block public read access",
            Severity: "HIGH",
            UpdatedAt: (receivedAt ?? DefaultStart).AddMinutes(-1),
            Status: new FindingStatus("FAILED", "NEW", "ACTIVE"),
            Resource: new CloudResource("aws", "aws", "111122223333", "eu-west-1", "AwsS3Bucket", Resource, "audit-test-bucket"));
        return new RemediationRequest(runId, finding, "securityhub", receivedAt ?? DefaultStart);
    }

    public static RemediationPlan Plan(string runId) => new(
        runId,
        "s3-bucket-public-access",
        ["s3.block-public-access", "s3.remove-public-acl-grants"],
        Scope.Create("aws", Resource, ["s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock", "s3:PutBucketAcl", "s3:GetBucketAcl"]),
        "aws-sts",
        TimeSpan.FromMinutes(15),
        MaxAttempts: 2,
        Region: "eu-west-1",
        OutOfScopeProbe: OutOfScopeResource);

    /// <summary>A remediated run: one attempt whose grant made <paramref name="extraCalls"/> calls after the usual four.</summary>
    /// <param name="evidence">The revocation evidence text, so tests can vary record content without changing times.</param>
    public static RunResult Remediated(string runId, DateTimeOffset? start = null, int extraCalls = 0, string? evidence = null)
    {
        DateTimeOffset t0 = start ?? DefaultStart;
        string grantId = $"grant-{runId}-1";
        var grant = new IssuedGrant(grantId, "aws-sts", Principal, Fingerprint, t0.AddMilliseconds(200), t0.AddMinutes(15));

        var calls = new List<ApiCall>
        {
            new("s3:GetBucketAcl", OutOfScopeResource, ApiCallPurposes.ScopeProbe, t0.AddMilliseconds(300), 403, ApiCallOutcomes.Denied, "AccessDenied", 12.5),
            new("s3:PutBucketPublicAccessBlock", Resource, ApiCallPurposes.Remediate, t0.AddMilliseconds(400), 200, ApiCallOutcomes.Allowed, null, 30.25),
            new("s3:GetBucketPublicAccessBlock", Resource, ApiCallPurposes.Verify, t0.AddMilliseconds(500), 200, ApiCallOutcomes.Allowed, null, 8),
        };
        for (int i = 0; i < extraCalls; i++)
        {
            calls.Add(new("s3:GetBucketAcl", Resource, ApiCallPurposes.Verify, t0.AddMilliseconds(600 + i), 200, ApiCallOutcomes.Allowed, null, 1));
        }

        DateTimeOffset afterCalls = t0.AddMilliseconds(600 + extraCalls);
        calls.Add(new("s3:GetBucketAcl", Resource, ApiCallPurposes.RevocationProbe, afterCalls.AddMilliseconds(200), 403, ApiCallOutcomes.Denied, "AccessDenied", 9));

        var revocation = new RevocationOutcome(
            grantId,
            "iam-deny-session-policy",
            afterCalls.AddMilliseconds(100),
            Proven: true,
            ProvenAt: afterCalls.AddMilliseconds(200),
            Evidence: evidence ?? "GetBucketAcl on audit-test-bucket returned 403 AccessDenied after 1 attempt",
            ValidUntil: afterCalls.AddMilliseconds(200));

        var report = new ExecutionReport(
            grant,
            ["s3.block-public-access: turned on all four settings", "s3.remove-public-acl-grants: nothing to change"],
            calls,
            new Verification(true, ["block public access: all four settings on"]),
            new ScopeProbe(OutOfScopeResource, Denied: true, "GetBucketAcl on audit-test-other-bucket returned 403 AccessDenied"),
            revocation);

        return new RunResult(
            runId,
            $"finding-{runId}",
            Resource,
            RunOutcomes.Remediated,
            SkipReason: null,
            Plan(runId),
            [new ExecutionAttempt(grantId, report, null, revocation)],
            AuditRecordId: null,
            CompletedAt: afterCalls.AddMilliseconds(300));
    }

    /// <summary>The number of records <see cref="Remediated"/> produces: finding, plan, grant, calls, probe, verification, revocation, completion.</summary>
    public static int RemediatedRecordCount(int extraCalls) => 4 + extraCalls + 7;

    public static RunResult Skipped(string runId) => new(
        runId,
        $"finding-{runId}",
        Resource,
        RunOutcomes.Skipped,
        "compliance status is PASSED; only FAILED findings are remediated",
        Plan: null,
        Attempts: [],
        AuditRecordId: null,
        CompletedAt: DefaultStart.AddMilliseconds(5));

    /// <summary>Builds, links and signs the records of <see cref="Remediated"/>.</summary>
    public static IReadOnlyList<SignedAuditRecord> SealRemediated(string runId, IAuditSigner signer, DateTimeOffset? start = null, int extraCalls = 0, string? evidence = null) =>
        AuditChain.Seal(AuditRecordFactory.ForRun(Request(runId, start), Remediated(runId, start, extraCalls, evidence)), signer);

    /// <summary>Returns a run id that no earlier test run used.</summary>
    public static string NewRunId() => "run-" + Guid.NewGuid().ToString("N")[..12];
}
