using System.Text.Json.Nodes;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Seals a run's records and tampers with them the ways an attacker with write access to the table could.</summary>
public sealed class AuditChainTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();
    private readonly LocalKeyFileSigner _signer;
    private readonly Jwks _jwks;

    public AuditChainTests()
    {
        _signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("signing.pem"));
        _jwks = Jwks.FromSigners(_signer);
    }

    public void Dispose()
    {
        _signer.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public void SealedChainVerifies()
    {
        List<JsonObject> records = SealedRun();

        ChainVerificationResult result = AuditVerifier.VerifyChain(records, _jwks);

        Assert.True(result.Valid, result.Reason);
    }

    [Fact]
    public void FirstRecordLinksToZeros()
    {
        List<JsonObject> records = SealedRun();

        Assert.Equal(new string('0', 64), (string?)records[0]["prev_hash"]);
    }

    [Fact]
    public void EachRecordLinksToPrevious()
    {
        List<JsonObject> records = SealedRun();

        for (int i = 1; i < records.Count; i++)
        {
            Assert.Equal((string?)records[i - 1]["hash"], (string?)records[i]["prev_hash"]);
        }
    }

    [Fact]
    public void RecordCarriesKidAndAlg()
    {
        JsonObject record = SealedRun()[0];

        Assert.Equal(_signer.KeyId, (string?)record["kid"]);
        Assert.Equal("ES256", (string?)record["alg"]);
    }

    [Fact]
    public void ModifiedFieldDetected()
    {
        List<JsonObject> records = SealedRun();
        JsonObject target = records[3];
        target["nhi"]!["call"]!["outcome"] = "allowed";

        ChainVerificationResult result = AuditVerifier.VerifyChain(records, _jwks);

        Assert.False(result.Valid);
        Assert.Equal(IdOf(target), result.RecordId);
        Assert.Contains("hash", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ModifiedKidDetected()
    {
        List<JsonObject> records = SealedRun();
        records[2]["kid"] = "another-key";

        ChainVerificationResult result = AuditVerifier.VerifyChain(records, _jwks);

        Assert.False(result.Valid);
        Assert.Equal(IdOf(records[2]), result.RecordId);
    }

    [Fact]
    public void RecomputedHashStillFailsSignature()
    {
        List<JsonObject> records = SealedRun();
        JsonObject target = records[4];
        target["message"] = "nothing happened";
        target["hash"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(AuditChain.CanonicalBody(target)));

        VerificationResult result = AuditVerifier.VerifyRecord(target, _jwks);

        Assert.False(result.Valid);
        Assert.Contains("signature does not verify", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DeletedMiddleRecordDetected()
    {
        List<JsonObject> records = SealedRun();
        JsonObject next = records[5];
        records.RemoveAt(4);

        ChainVerificationResult result = AuditVerifier.VerifyChain(records, _jwks);

        Assert.False(result.Valid);
        Assert.Equal(IdOf(next), result.RecordId);
        Assert.Contains("missing", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void DeletedTailInvisibleToLinksAlone()
    {
        // NOTE: the hash chain links each record only to the one before it, so removing the last
        // record leaves every remaining link intact. What shows the deletion is the terminal
        // run.completed record and its record_count, checked below.
        List<JsonObject> records = SealedRun();
        records.RemoveAt(records.Count - 1);

        ChainVerificationResult linksOnly = AuditVerifier.VerifyChain(records, _jwks, requireRunCompleted: false);

        Assert.True(linksOnly.Valid, linksOnly.Reason);
    }

    [Fact]
    public void DeletedTailDetectedByRunCompleted()
    {
        List<JsonObject> records = SealedRun();
        records.RemoveAt(records.Count - 1);

        ChainVerificationResult result = AuditVerifier.VerifyChain(records, _jwks);

        Assert.False(result.Valid);
        Assert.Equal(IdOf(records[^1]), result.RecordId);
        Assert.Contains("run.completed", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void InsertedRecordFromOtherRunDetected()
    {
        List<JsonObject> records = SealedRun();
        JsonObject foreign = SealedRun(AuditTestRuns.NewRunId())[3];
        records.Insert(3, foreign);

        ChainVerificationResult result = AuditVerifier.VerifyChain(records, _jwks);

        Assert.False(result.Valid);
        Assert.Equal(IdOf(foreign), result.RecordId);
        Assert.Contains("another run", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void RepeatedRecordDetected()
    {
        List<JsonObject> records = SealedRun();
        JsonObject copy = records[2].DeepClone().AsObject();
        records.Insert(3, copy);

        ChainVerificationResult result = AuditVerifier.VerifyChain(records, _jwks);

        Assert.False(result.Valid);
        Assert.Equal(IdOf(copy), result.RecordId);
    }

    [Fact]
    public void ReorderedPairDetected()
    {
        List<JsonObject> records = SealedRun();
        (records[3], records[4]) = (records[4], records[3]);

        ChainVerificationResult result = AuditVerifier.VerifyChain(records, _jwks);

        Assert.False(result.Valid);
        Assert.Equal(IdOf(records[3]), result.RecordId);
    }

    [Fact]
    public void UnknownKidDetected()
    {
        using var otherDirectory = new TemporaryDirectory();
        using LocalKeyFileSigner otherSigner = LocalKeyFileSigner.LoadOrCreate(otherDirectory.File("other.pem"));
        List<JsonObject> records = SealedRun(signer: otherSigner);

        ChainVerificationResult result = AuditVerifier.VerifyChain(records, _jwks);

        Assert.False(result.Valid);
        Assert.Equal(IdOf(records[0]), result.RecordId);
        Assert.Contains("unknown kid", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void SealRejectsSealedRecords()
    {
        List<JsonObject> records = SealedRun();

        Assert.Throws<ArgumentException>(() => AuditChain.Seal(records, _signer));
    }

    [Fact]
    public void SealedRecordParsesBack()
    {
        SignedAuditRecord record = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), _signer)[0];

        SignedAuditRecord parsed = SignedAuditRecord.Parse(record.Json);

        Assert.Equal(record.Hash, parsed.Hash);
        Assert.True(AuditVerifier.VerifyRecord(parsed, _jwks).Valid);
    }

    private List<JsonObject> SealedRun(string? runId = null, IAuditSigner? signer = null) =>
        AuditTestRuns.SealRemediated(runId ?? "run-chain-tests", signer ?? _signer)
            .Select(record => record.ToJsonObject())
            .ToList();

    private static string IdOf(JsonObject record) => (string)record["id"]!;
}
