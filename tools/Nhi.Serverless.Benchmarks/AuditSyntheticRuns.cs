using Nhi.Serverless.Audit;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Benchmarks;

/// <summary>
/// Made-up remediated runs shaped like real ones (finding, plan, grant, five API calls, scope probe,
/// verification, revocation and completion: 12 records of about 1 to 2 KB), built and signed by the
/// production code.
/// </summary>
public static class AuditSyntheticRuns
{
    public const int RecordsPerRun = 12;

    /// <summary>Builds and seals the records of one run that starts at <paramref name="start"/>.</summary>
    public static IReadOnlyList<SignedAuditRecord> Seal(int runNumber, DateTimeOffset start, IAuditSigner signer)
    {
        string runId = $"bench-run-{runNumber:D7}";
        string bucket = $"bench-bucket-{runNumber % 500:D3}";
        string resource = $"arn:aws:s3:::{bucket}";
        string grantId = $"grant-{runId}-1";

        var finding = new Finding(
            Id: $"finding-{runId}",
            Format: FindingFormats.Asff,
            ProductName: "Security Hub",
            ControlId: "S3.2",
            Title: "S3 general purpose buckets should block public read access",
            Severity: "HIGH",
            UpdatedAt: start.AddMinutes(-1),
            Status: new FindingStatus("FAILED", "NEW", "ACTIVE"),
            Resource: new CloudResource("aws", "aws", "111122223333", "eu-west-1", "AwsS3Bucket", resource, bucket));
        var request = new RemediationRequest(runId, finding, "securityhub", start);

        var plan = new RemediationPlan(
            runId,
            "s3-bucket-public-access",
            ["s3.block-public-access", "s3.remove-public-acl-grants"],
            Scope.Create("aws", resource, ["s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock", "s3:PutBucketAcl", "s3:GetBucketAcl"]),
            "aws-sts",
            TimeSpan.FromMinutes(15),
            MaxAttempts: 2,
            Region: "eu-west-1",
            OutOfScopeProbe: "arn:aws:s3:::bench-bystander");

        var grant = new IssuedGrant(grantId, "aws-sts", "AROAEXAMPLEROLEID0001:" + grantId, "hmac-sha256:" + new string('a', 64), start.AddMilliseconds(200), start.AddMinutes(15));
        ApiCall[] calls =
        [
            new("s3:GetBucketAcl", "arn:aws:s3:::bench-bystander", ApiCallPurposes.ScopeProbe, start.AddMilliseconds(300), 403, ApiCallOutcomes.Denied, "AccessDenied", 12.5),
            new("s3:PutBucketPublicAccessBlock", resource, ApiCallPurposes.Remediate, start.AddMilliseconds(400), 200, ApiCallOutcomes.Allowed, null, 30.25),
            new("s3:GetBucketAcl", resource, ApiCallPurposes.Remediate, start.AddMilliseconds(450), 200, ApiCallOutcomes.Allowed, null, 9),
            new("s3:GetBucketPublicAccessBlock", resource, ApiCallPurposes.Verify, start.AddMilliseconds(500), 200, ApiCallOutcomes.Allowed, null, 8),
            new("s3:GetBucketAcl", resource, ApiCallPurposes.RevocationProbe, start.AddMilliseconds(800), 403, ApiCallOutcomes.Denied, "AccessDenied", 9),
        ];
        var revocation = new RevocationOutcome(grantId, "iam-deny-session-policy", start.AddMilliseconds(700), Proven: true, ProvenAt: start.AddMilliseconds(800),
            Evidence: $"GetBucketAcl on {bucket} returned 403 AccessDenied after 1 attempt", ValidUntil: start.AddMilliseconds(800));
        var report = new ExecutionReport(
            grant,
            ["s3.block-public-access: turned on all four settings", "s3.remove-public-acl-grants: nothing to change"],
            calls,
            new Verification(true, ["block public access: all four settings on"]),
            new ScopeProbe("arn:aws:s3:::bench-bystander", Denied: true, "GetBucketAcl on bench-bystander returned 403 AccessDenied"),
            revocation);
        var result = new RunResult(runId, finding.Id, resource, RunOutcomes.Remediated, SkipReason: null, plan,
            [new ExecutionAttempt(grantId, report, null, revocation)], AuditRecordId: null, CompletedAt: start.AddMilliseconds(900));

        return AuditChain.Seal(AuditRecordFactory.ForRun(request, result), signer);
    }
}
