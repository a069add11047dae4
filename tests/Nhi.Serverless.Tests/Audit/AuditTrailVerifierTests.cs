using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Tampers with a checkpointed trail the ways someone with write access to the tables or an export could, and checks what the verifier reports.</summary>
public sealed class AuditTrailVerifierTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();
    private readonly LocalKeyFileSigner _signer;
    private readonly Jwks _jwks;
    private readonly AuditTrailSample _trail;
    private readonly List<JsonObject> _records;
    private readonly List<JsonObject> _checkpoints;

    public AuditTrailVerifierTests()
    {
        _signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("signing.pem"));
        _jwks = Jwks.FromSigners(_signer);
        _trail = AuditTrailSample.Build(_signer, _jwks);
        _records = _trail.Records.Select(record => record.ToJsonObject()).ToList();
        _checkpoints = _trail.Checkpoints.Select(checkpoint => checkpoint.ToJsonObject()).ToList();
    }

    public void Dispose()
    {
        _signer.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public void IntactTrailVerifies()
    {
        AuditTrailReport report = Verify();

        Assert.True(report.Valid, Describe(report));
        Assert.Equal(_records.Count, report.RecordCount);
        Assert.Equal(_records.Count, report.CoveredRecordCount);
        Assert.Equal(0, report.SignaturesVerified);
        Assert.Equal(4, report.CheckpointCount);
    }

    [Fact]
    public void StreamInputVerifies()
    {
        string lines = string.Join("\n", _trail.Records.Select(record => record.Json)) + "\n";
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(lines));

        AuditTrailReport report = AuditVerifier.VerifyTrail(stream, _trail.Checkpoints.Select(checkpoint => checkpoint.Json), _jwks);

        Assert.True(report.Valid, Describe(report));
        Assert.Equal(_records.Count, report.RecordCount);
    }

    [Fact]
    public void ReformattedRecordsStillVerify()
    {
        var indented = new JsonSerializerOptions { WriteIndented = true };
        string lines = string.Join("\n", _trail.Records.Select(record => JsonNode.Parse(record.Json)!.ToJsonString(indented).ReplaceLineEndings(" ")));
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(lines));

        AuditTrailReport report = AuditVerifier.VerifyTrail(stream, _trail.Checkpoints.Select(checkpoint => checkpoint.Json), _jwks);

        Assert.True(report.Valid, Describe(report));
    }

    [Fact]
    public void ModifiedRecordNamed()
    {
        JsonObject target = _records[4];
        target["message"] = "nothing happened";

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.ModifiedRecord && problem.RecordId == IdOf(target));
    }

    [Fact]
    public void RehashedRecordNamedBySignature()
    {
        JsonObject target = _records[4];
        target["message"] = "nothing happened";
        target["hash"] = Convert.ToHexStringLower(SHA256.HashData(AuditChain.CanonicalBody(target)));

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.InvalidSignature && problem.RecordId == IdOf(target));
    }

    [Fact]
    public void DeletedMiddleRecordReportsWindow()
    {
        int index = _trail.RecordsIn(0).Count / 2;
        _records.RemoveAt(index);

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.MissingRecord && problem.CheckpointId == _trail.WindowAt(0).Id);
    }

    [Fact]
    public void DeletedMiddleRecordNamesNextRecord()
    {
        int index = _trail.RecordsIn(0).Count / 2;
        string next = IdOf(_records[index + 1]);
        _records.RemoveAt(index);

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.MissingRecord && problem.RecordId == next);
    }

    [Fact]
    public void DeletedWindowTailNamed()
    {
        int last = _trail.RecordsIn(0).Count - 1;
        string deleted = IdOf(_records[last]);
        _records.RemoveAt(last);

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.MissingRecord && problem.RecordId == deleted);
    }

    [Fact]
    public void DeletedLastWindowTailNamed()
    {
        // The last run is alone in the third window, and the fourth window is empty.
        string deleted = IdOf(_records[^1]);
        _records.RemoveAt(_records.Count - 1);

        AuditTrailReport report = Verify();

        AuditTrailProblem problem = Assert.Single(report.Problems);
        Assert.Equal(AuditProblemKind.MissingRecord, problem.Kind);
        Assert.Equal(deleted, problem.RecordId);
        Assert.Equal(_trail.WindowAt(2).Id, problem.CheckpointId);
    }

    [Fact]
    public void DeletedWholeLastRunNamed()
    {
        int count = _trail.RecordsIn(2).Count;
        string first = IdOf(_records[^count]);
        string last = IdOf(_records[^1]);
        _records.RemoveRange(_records.Count - count, count);

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.MissingRecord && problem.RecordId == first);
        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.MissingRecord && problem.RecordId == last);
        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.MissingRecord && problem.RecordId is null && problem.CheckpointId == _trail.WindowAt(2).Id);
    }

    [Fact]
    public void InsertedRunReportsWindow()
    {
        // A run sealed with the real key but written after its window was checkpointed.
        InsertSorted(AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), _signer, AuditTrailSample.Start.AddSeconds(14)));

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.InsertedRecord && problem.CheckpointId == _trail.WindowAt(1).Id);
    }

    [Fact]
    public void InsertedAfterWindowTailNamed()
    {
        IReadOnlyList<SignedAuditRecord> late = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), _signer, AuditTrailSample.Start.AddSeconds(18.5));
        InsertSorted(late);

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.InsertedRecord && problem.RecordId == late[^1].Id);
    }

    [Fact]
    public void ForgedRecordNamed()
    {
        using var otherDirectory = new TemporaryDirectory();
        using LocalKeyFileSigner forger = LocalKeyFileSigner.LoadOrCreate(otherDirectory.File("forger.pem"));
        IReadOnlyList<SignedAuditRecord> forged = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), forger, AuditTrailSample.Start.AddSeconds(14));
        InsertSorted(forged);

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.UnknownKey && problem.RecordId == forged[0].Id);
    }

    [Fact]
    public void ReorderedPairNamed()
    {
        (_records[3], _records[4]) = (_records[4], _records[3]);

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.OutOfOrder && problem.RecordId == IdOf(_records[4]));
    }

    [Fact]
    public void DuplicateRecordNamed()
    {
        _records.Insert(3, _records[2].DeepClone().AsObject());

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.DuplicateRecord && problem.RecordId == IdOf(_records[2]));
    }

    [Fact]
    public void UnknownKeyAfterCheckpointsNamed()
    {
        using var otherDirectory = new TemporaryDirectory();
        using LocalKeyFileSigner other = LocalKeyFileSigner.LoadOrCreate(otherDirectory.File("other.pem"));
        IReadOnlyList<SignedAuditRecord> unknown = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), other, AuditTrailSample.Start.AddSeconds(45));
        _records.AddRange(unknown.Select(record => record.ToJsonObject()));

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.UnknownKey && problem.RecordId == unknown[0].Id);
    }

    [Fact]
    public void UncoveredRecordsSignatureChecked()
    {
        IReadOnlyList<SignedAuditRecord> later = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), _signer, AuditTrailSample.Start.AddSeconds(45));
        _records.AddRange(later.Select(record => record.ToJsonObject()));

        AuditTrailReport report = Verify();

        Assert.True(report.Valid, Describe(report));
        Assert.Equal(later.Count, report.SignaturesVerified);
        Assert.Equal(_records.Count - later.Count, report.CoveredRecordCount);
    }

    [Fact]
    public void AllSignaturesCheckedOnRequest()
    {
        AuditTrailReport report = Verify(new AuditTrailVerificationOptions { VerifyAllSignatures = true });

        Assert.True(report.Valid, Describe(report));
        Assert.Equal(_records.Count, report.SignaturesVerified);
    }

    [Fact]
    public void RejectedRecordReported()
    {
        using var otherDirectory = new TemporaryDirectory();
        using LocalKeyFileSigner other = LocalKeyFileSigner.LoadOrCreate(otherDirectory.File("other.pem"));
        List<SignedAuditRecord> records = [.. _trail.Records, .. AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), other, AuditTrailSample.Start.AddSeconds(14))];
        records.Sort((left, right) => string.CompareOrdinal(left.Id, right.Id));
        List<SignedAuditCheckpoint> checkpoints = AuditTrailSample.Checkpoint(records, _signer, _jwks, windows: 4);
        string rejected = checkpoints[1].RejectedRecords[0].RecordId;

        AuditTrailReport report = AuditVerifier.VerifyTrail(records, checkpoints, _jwks);

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.RejectedWhenCheckpointed && problem.RecordId == rejected);
    }

    [Fact]
    public void GapBetweenCheckpointsReported()
    {
        _checkpoints.RemoveAt(1);

        AuditTrailReport report = Verify();

        AuditTrailProblem gap = Assert.Single(report.Problems);
        Assert.Equal(AuditProblemKind.CheckpointGap, gap.Kind);
        Assert.Equal(_trail.WindowAt(2).Id, gap.CheckpointId);
        Assert.Contains(_trail.WindowAt(1).ToString(), gap.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GapRecordsCheckedBySignature()
    {
        _checkpoints.RemoveAt(1);

        AuditTrailReport report = Verify();

        Assert.Equal(_trail.RecordsIn(1).Count, report.SignaturesVerified);
    }

    [Fact]
    public void ReplacedCheckpointBreaksLink()
    {
        // A checkpoint sealed again for the same window, say after deleting one of its records, is valid
        // on its own, but the next checkpoint still links to the original.
        SignedAuditCheckpoint original = _trail.Checkpoints[1];
        List<SignedAuditRecord> fewer = _trail.RecordsIn(1)[1..];
        SignedAuditCheckpoint replacement = AuditCheckpoints.Seal(_trail.Checkpoints[0], original.Window, fewer, _jwks, _signer, original.CreatedAt.AddMinutes(5));
        _checkpoints[1] = replacement.ToJsonObject();
        _records.RemoveAt(_trail.RecordsIn(0).Count);

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.BrokenCheckpointChain && problem.CheckpointId == _trail.Checkpoints[2].Id);
    }

    [Fact]
    public void ModifiedCheckpointReported()
    {
        _checkpoints[1][AuditCheckpointFields.RecordCount] = 3;

        AuditTrailReport report = Verify();

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.InvalidCheckpoint && problem.CheckpointId == _trail.Checkpoints[1].Id);
    }

    [Fact]
    public void MissingFinalCheckpointsReported()
    {
        DateTimeOffset required = _trail.WindowAt(3).End.AddSeconds(25);

        AuditTrailReport report = Verify(new AuditTrailVerificationOptions { CheckpointsRequiredThrough = required });

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.MissingCheckpoints);
    }

    [Fact]
    public void CoverageUpToLastWindowAccepted()
    {
        DateTimeOffset required = _trail.WindowAt(3).End.AddSeconds(5);

        AuditTrailReport report = Verify(new AuditTrailVerificationOptions { CheckpointsRequiredThrough = required });

        Assert.True(report.Valid, Describe(report));
    }

    [Fact]
    public void KidNotThumbprintReported()
    {
        JsonWebKey key = _signer.PublicJwk;
        var renamed = new Jwks([key, key with { Kid = "not-the-thumbprint" }]);

        AuditTrailReport report = AuditVerifier.VerifyTrail(_records, _checkpoints, renamed);

        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.KeyIdMismatch);
    }

    [Fact]
    public void MalformedLineReported()
    {
        string lines = string.Join("\n", _trail.Records.Select(record => record.Json).Prepend("{\"id\":"));
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(lines));

        AuditTrailReport report = AuditVerifier.VerifyTrail(stream, _trail.Checkpoints.Select(checkpoint => checkpoint.Json), _jwks);

        AuditTrailProblem problem = Assert.Single(report.Problems);
        Assert.Equal(AuditProblemKind.MalformedRecord, problem.Kind);
        Assert.Contains("line 1", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReportKeepsAtMostLimit()
    {
        foreach (JsonObject record in _records)
        {
            record["message"] = "changed";
        }

        AuditTrailReport report = Verify(new AuditTrailVerificationOptions { MaxReportedProblems = 5 });

        Assert.Equal(5, report.Problems.Count);
        Assert.Equal(_records.Count, report.ProblemCount);
    }

    private AuditTrailReport Verify(AuditTrailVerificationOptions? options = null) =>
        AuditVerifier.VerifyTrail(_records, _checkpoints, _jwks, options);

    private void InsertSorted(IEnumerable<SignedAuditRecord> records)
    {
        _records.AddRange(records.Select(record => record.ToJsonObject()));
        _records.Sort((left, right) => string.CompareOrdinal(IdOf(left), IdOf(right)));
    }

    private static string IdOf(JsonObject record) => (string)record["id"]!;

    private static string Describe(AuditTrailReport report) => string.Join("; ", report.Problems);
}
