using System.Text.Json.Nodes;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Tests.Audit;

public sealed class AuditRecordFactoryTests
{
    private const string RunId = "run-factory-tests";

    [Fact]
    public void RemediatedRunEventOrder()
    {
        IReadOnlyList<JsonObject> records = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), AuditTestRuns.Remediated(RunId));

        string[] expected =
        [
            AuditEvents.FindingReceived,
            AuditEvents.PlanCreated,
            AuditEvents.GrantIssued,
            AuditEvents.ApiCall,
            AuditEvents.ApiCall,
            AuditEvents.ApiCall,
            AuditEvents.ApiCall,
            AuditEvents.ScopeProbed,
            AuditEvents.VerificationCompleted,
            AuditEvents.GrantRevoked,
            AuditEvents.RunCompleted,
        ];
        Assert.Equal(expected, records.Select(EventOf));
    }

    [Fact]
    public void SkippedRunHasReason()
    {
        RunResult result = AuditTestRuns.Skipped(RunId);

        IReadOnlyList<JsonObject> records = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), result);

        Assert.Equal([AuditEvents.FindingSkipped, AuditEvents.RunCompleted], records.Select(EventOf));
        Assert.Equal(result.SkipReason, (string?)records[0]["nhi"]!["skip_reason"]);
    }

    [Fact]
    public void FailedAttemptRecordsErrorAndCleanup()
    {
        RunResult remediated = AuditTestRuns.Remediated(RunId);
        var cleanup = new RevocationOutcome("grant-failed", "iam-deny-session-policy", AuditTestRuns.DefaultStart.AddSeconds(2), false, null, "no probe: the credential never reached the step", AuditTestRuns.DefaultStart.AddMinutes(15));
        RunResult result = remediated with
        {
            Outcome = RunOutcomes.Failed,
            Attempts = [new ExecutionAttempt("grant-failed", null, "STS AssumeRole timed out", cleanup)],
        };

        IReadOnlyList<JsonObject> records = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), result);

        Assert.Equal(
            [AuditEvents.FindingReceived, AuditEvents.PlanCreated, AuditEvents.AttemptFailed, AuditEvents.GrantRevoked, AuditEvents.RunCompleted],
            records.Select(EventOf));
        Assert.Equal("STS AssumeRole timed out", (string?)records[2]["nhi"]!["error"]);
        Assert.Equal("cleanup", (string?)records[3]["nhi"]!["revocation"]!["phase"]);
    }

    [Fact]
    public void IdsFollowFormatAndSequence()
    {
        IReadOnlyList<JsonObject> records = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), AuditTestRuns.Remediated(RunId));
        string shortRunId = AuditRecordIds.ShortRunId(RunId);

        for (int i = 0; i < records.Count; i++)
        {
            string id = (string)records[i]["id"]!;
            Assert.Matches($"^\\d{{8}}T\\d{{9}}Z-{shortRunId}-{i + 1:D4}$", id);
            Assert.Equal(i + 1, (int)records[i]["seq"]!);
            Assert.Equal(RunId, (string?)records[i]["stream"]);
            Assert.Equal(id, (string?)records[i]["metadata"]!["uid"]);
        }
    }

    [Fact]
    public void FirstIdUsesReceivedTime()
    {
        IReadOnlyList<JsonObject> records = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), AuditTestRuns.Remediated(RunId));

        Assert.StartsWith("20250301T101500123Z-", (string)records[0]["id"]!, StringComparison.Ordinal);
    }

    [Fact]
    public void IdsSortWhenClockGoesBack()
    {
        RunResult result = AuditTestRuns.Remediated(RunId);
        ExecutionReport report = result.Attempts[0].Report!;
        ApiCall early = report.Calls[0] with { At = AuditTestRuns.DefaultStart.AddSeconds(-30) };
        ExecutionReport skewed = report with { Calls = [report.Calls[1], early, .. report.Calls.Skip(2)] };
        result = result with { Attempts = [result.Attempts[0] with { Report = skewed }] };

        IReadOnlyList<JsonObject> records = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), result);
        List<string> ids = records.Select(record => (string)record["id"]!).ToList();

        Assert.Equal(ids.Order(StringComparer.Ordinal), ids);
        Assert.Equal(early.At.ToUnixTimeMilliseconds(), (long)records[4]["time"]!);
    }

    [Fact]
    public void ApiCallHasOcsfShape()
    {
        RunResult result = AuditTestRuns.Remediated(RunId);
        ApiCall call = result.Attempts[0].Report!.Calls[1];

        JsonObject record = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), result)[4];

        Assert.Equal(6003, (int)record["class_uid"]!);
        Assert.Equal(600303, (int)record["type_uid"]!);
        Assert.Equal("s3:PutBucketPublicAccessBlock", (string?)record["api"]!["operation"]);
        Assert.Equal("s3", (string?)record["api"]!["service"]!["name"]);
        Assert.Equal(AuditTestRuns.Resource, (string?)record["resources"]![0]!["uid"]);
        Assert.Equal("Success", (string?)record["status"]);
        Assert.Equal(call.At.ToUnixTimeMilliseconds(), (long)record["time"]!);
        Assert.Equal("2025-03-01T10:15:00.523Z", (string?)record["time_dt"]);
        Assert.Equal(200, (int)record["http_response"]!["code"]!);
        Assert.Equal(result.Attempts[0].GrantId, (string?)record["nhi"]!["grant_id"]);
    }

    [Fact]
    public void DeniedProbeCallIsFailure()
    {
        JsonObject record = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), AuditTestRuns.Remediated(RunId))[3];

        Assert.Equal("Failure", (string?)record["status"]);
        Assert.Equal("AccessDenied", (string?)record["api"]!["response"]!["error"]);
        Assert.Equal(ApiCallPurposes.ScopeProbe, (string?)record["nhi"]!["call"]!["purpose"]);
    }

    [Fact]
    public void GrantIssuedHasPublicFacts()
    {
        JsonObject grant = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), AuditTestRuns.Remediated(RunId))[2]["nhi"]!["grant"]!.AsObject();

        Assert.Equal("aws-sts", (string?)grant["broker"]);
        Assert.Equal(AuditTestRuns.Principal, (string?)grant["principal"]);
        Assert.Equal(AuditTestRuns.Fingerprint, (string?)grant["credential_fingerprint"]);
        Assert.Equal("2025-03-01T10:15:00.323Z", (string?)grant["issued_at"]);
        Assert.Equal("2025-03-01T10:30:00.123Z", (string?)grant["expires_at"]);
    }

    [Fact]
    public void RevocationHasProof()
    {
        JsonObject revocation = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), AuditTestRuns.Remediated(RunId))[9]["nhi"]!["revocation"]!.AsObject();

        Assert.Equal("iam-deny-session-policy", (string?)revocation["method"]);
        Assert.True((bool)revocation["proven"]!);
        Assert.Equal("2025-03-01T10:15:00.823Z", (string?)revocation["revoked_at"]);
        Assert.Equal("2025-03-01T10:15:00.923Z", (string?)revocation["proven_at"]);
        Assert.Equal("2025-03-01T10:15:00.923Z", (string?)revocation["valid_until"]);
        Assert.Null(revocation["error"]);
    }

    [Fact]
    public void RunCompletedCountsRecords()
    {
        IReadOnlyList<JsonObject> records = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), AuditTestRuns.Remediated(RunId));

        Assert.Equal(records.Count, (int)records[^1]["nhi"]!["record_count"]!);
        Assert.Equal(RunOutcomes.Remediated, (string?)records[^1]["nhi"]!["outcome"]);
    }

    [Fact]
    public void EveryRecordNamesRunFindingResource()
    {
        foreach (JsonObject record in AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), AuditTestRuns.Remediated(RunId)))
        {
            JsonObject nhi = record["nhi"]!.AsObject();
            Assert.Equal(RunId, (string?)nhi["run_id"]);
            Assert.Equal($"finding-{RunId}", (string?)nhi["finding_id"]);
            Assert.Equal(AuditTestRuns.Resource, (string?)nhi["resource"]);
            Assert.Equal("Nhi.Serverless", (string?)record["metadata"]!["product"]!["name"]);
        }
    }

    [Fact]
    public void MismatchedRunRejected()
    {
        Assert.Throws<ArgumentException>(() => AuditRecordFactory.ForRun(AuditTestRuns.Request("run-a"), AuditTestRuns.Remediated("run-b")));
    }

    [Fact]
    public void NoRecordContainsRawAccessKeyId()
    {
        const string temporaryKeyId = "ASIAZ3EXAMPLE7QWERTY";
        const string longTermKeyId = "AKIAIOSFODNN7EXAMPLE";
        var fingerprinter = new CredentialFingerprinter(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        RunResult result = WithLeakedIdentifiers(AuditTestRuns.Remediated(RunId), temporaryKeyId, longTermKeyId);
        var request = AuditTestRuns.Request(RunId, findingTitle: $"Access key {longTermKeyId} is exposed");

        List<string> json = AuditRecordFactory.ForRun(request, result, fingerprinter)
            .Select(JsonCanonicalizer.CanonicalizeToString)
            .ToList();

        Assert.DoesNotContain(json, text => text.Contains(temporaryKeyId, StringComparison.Ordinal));
        Assert.DoesNotContain(json, text => text.Contains(longTermKeyId, StringComparison.Ordinal));
        Assert.Contains(json, text => text.Contains(fingerprinter.Fingerprint(temporaryKeyId), StringComparison.Ordinal));
        Assert.Contains(json, text => text.Contains(fingerprinter.Fingerprint(longTermKeyId), StringComparison.Ordinal));
    }

    [Fact]
    public void NoRecordContainsSecretValues()
    {
        const string secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        const string sasSignature = "sv2025AbCdEfGhIjKlMnOpQrStUvWxYz0123456789%3D";
        RunResult remediated = AuditTestRuns.Remediated(RunId);
        ExecutionAttempt attempt = remediated.Attempts[0];
        RunResult result = remediated with
        {
            Attempts =
            [
                attempt with
                {
                    Error = $"SecretAccessKey: {secretAccessKey} rejected",
                    Revocation = attempt.Revocation with { Evidence = $"GET https://acct.blob.core.windows.net/c?sp=r&sig={sasSignature} returned 403" },
                },
            ],
        };

        List<string> json = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), result)
            .Select(JsonCanonicalizer.CanonicalizeToString)
            .ToList();

        Assert.DoesNotContain(json, text => text.Contains(secretAccessKey, StringComparison.Ordinal));
        Assert.DoesNotContain(json, text => text.Contains(sasSignature, StringComparison.Ordinal));
    }

    [Fact]
    public void RawFingerprintFieldIsFingerprinted()
    {
        const string rawKeyId = "ASIAZ3EXAMPLE7QWERTY";
        var fingerprinter = new CredentialFingerprinter(new byte[32]);
        RunResult result = WithLeakedIdentifiers(AuditTestRuns.Remediated(RunId), rawKeyId, rawKeyId);

        JsonObject grant = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), result, fingerprinter)[2]["nhi"]!["grant"]!.AsObject();

        Assert.Equal(fingerprinter.Fingerprint(rawKeyId), (string?)grant["credential_fingerprint"]);
    }

    [Fact]
    public void WithoutFingerprinterKeyIdsAreMarked()
    {
        const string rawKeyId = "ASIAZ3EXAMPLE7QWERTY";
        RunResult result = WithLeakedIdentifiers(AuditTestRuns.Remediated(RunId), rawKeyId, rawKeyId);

        List<string> json = AuditRecordFactory.ForRun(AuditTestRuns.Request(RunId), result)
            .Select(JsonCanonicalizer.CanonicalizeToString)
            .ToList();

        Assert.DoesNotContain(json, text => text.Contains(rawKeyId, StringComparison.Ordinal));
        Assert.Contains(json, text => text.Contains(AuditRedactor.RedactedAccessKeyId, StringComparison.Ordinal));
    }

    /// <summary>Puts access key ids where brokers and providers write free text, and one where a fingerprint belongs.</summary>
    private static RunResult WithLeakedIdentifiers(RunResult result, string temporaryKeyId, string longTermKeyId)
    {
        ExecutionAttempt attempt = result.Attempts[0];
        ExecutionReport report = attempt.Report!;
        RevocationOutcome revocation = report.Revocation with { Evidence = $"GetBucketAcl with key {temporaryKeyId} returned 403 AccessDenied" };
        ExecutionReport leaky = report with
        {
            Grant = report.Grant with { CredentialFingerprint = temporaryKeyId },
            ActionsTaken = [$"s3.block-public-access: done as {temporaryKeyId}"],
            Calls = [.. report.Calls, report.Calls[0] with { ErrorCode = $"InvalidAccessKeyId {longTermKeyId}" }],
            Verification = report.Verification with { Checks = [$"caller {temporaryKeyId} sees all four settings on"] },
            ScopeProbe = report.ScopeProbe! with { Evidence = $"probe with {temporaryKeyId}: 403" },
            Revocation = revocation,
        };

        return result with { Attempts = [attempt with { Report = leaky, Revocation = revocation, Error = $"retry after {longTermKeyId} failed" }] };
    }

    private static string EventOf(JsonObject record) => (string)record["nhi"]!["event"]!;
}
