using System.Security.Cryptography;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Seals checkpoints over windows of records and checks what they state.</summary>
public sealed class AuditCheckpointTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();
    private readonly LocalKeyFileSigner _signer;
    private readonly Jwks _jwks;
    private readonly AuditTrailSample _trail;

    public AuditCheckpointTests()
    {
        _signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("signing.pem"));
        _jwks = Jwks.FromSigners(_signer);
        _trail = AuditTrailSample.Build(_signer, _jwks);
    }

    public void Dispose()
    {
        _signer.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public void FirstCheckpointLinksToZeros()
    {
        SignedAuditCheckpoint first = _trail.Checkpoints[0];

        Assert.Equal(new string('0', 64), first.PreviousHash);
        Assert.Null(first.PreviousId);
    }

    [Fact]
    public void CheckpointLinksToPrevious()
    {
        for (int i = 1; i < _trail.Checkpoints.Count; i++)
        {
            Assert.Equal(_trail.Checkpoints[i - 1].Hash, _trail.Checkpoints[i].PreviousHash);
            Assert.Equal(_trail.Checkpoints[i - 1].Id, _trail.Checkpoints[i].PreviousId);
        }
    }

    [Fact]
    public void WindowsAreContiguous()
    {
        for (int i = 1; i < _trail.Checkpoints.Count; i++)
        {
            Assert.Equal(_trail.WindowAt(i - 1).End, _trail.WindowAt(i).Start);
        }
    }

    [Fact]
    public void CheckpointStatesCountAndBounds()
    {
        List<SignedAuditRecord> records = _trail.RecordsIn(0);
        SignedAuditCheckpoint checkpoint = _trail.Checkpoints[0];

        Assert.Equal(records.Count, checkpoint.RecordCount);
        Assert.Equal(records[0].Id, checkpoint.FirstRecordId);
        Assert.Equal(records[^1].Id, checkpoint.LastRecordId);
    }

    [Fact]
    public void RootCoversRecordHashes()
    {
        List<SignedAuditRecord> records = _trail.RecordsIn(1);

        byte[] expected = MerkleTree.ComputeRoot(records.Select(record => Convert.FromHexString(record.Hash)));

        Assert.Equal(Convert.ToHexStringLower(expected), _trail.Checkpoints[1].MerkleRoot);
    }

    [Fact]
    public void EmptyWindowStillCheckpointed()
    {
        SignedAuditCheckpoint last = _trail.Checkpoints[^1];

        Assert.Equal(0, last.RecordCount);
        Assert.Null(last.FirstRecordId);
        Assert.Null(last.LastRecordId);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(ReadOnlySpan<byte>.Empty)), last.MerkleRoot);
    }

    [Fact]
    public void CheckpointSignatureVerifies()
    {
        foreach (SignedAuditCheckpoint checkpoint in _trail.Checkpoints)
        {
            VerificationResult result = AuditCheckpoints.Verify(checkpoint, _jwks);

            Assert.True(result.Valid, result.Reason);
        }
    }

    [Fact]
    public void CheckpointParsesBack()
    {
        SignedAuditCheckpoint checkpoint = _trail.Checkpoints[0];

        SignedAuditCheckpoint parsed = SignedAuditCheckpoint.Parse(checkpoint.Json);

        Assert.Equal(checkpoint.Hash, parsed.Hash);
        Assert.Equal(checkpoint.Window, parsed.Window);
        Assert.Equal(checkpoint.MerkleRoot, parsed.MerkleRoot);
    }

    [Fact]
    public void ForeignKeyRecordListedAsRejected()
    {
        using var otherDirectory = new TemporaryDirectory();
        using LocalKeyFileSigner other = LocalKeyFileSigner.LoadOrCreate(otherDirectory.File("other.pem"));
        IReadOnlyList<SignedAuditRecord> foreign = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), other, AuditTrailSample.Start);
        AuditCheckpointWindow window = _trail.WindowAt(0);

        SignedAuditCheckpoint checkpoint = AuditCheckpoints.Seal(null, window, foreign, _jwks, _signer, window.End);

        Assert.Equal(foreign.Count, checkpoint.RejectedRecordCount);
        Assert.Equal(foreign[0].Id, checkpoint.RejectedRecords[0].RecordId);
        Assert.Contains("unknown kid", checkpoint.RejectedRecords[0].Reason, StringComparison.Ordinal);
        Assert.Equal(foreign.Count, checkpoint.RecordCount);
    }

    [Fact]
    public void SealRejectsGap()
    {
        AuditCheckpointWindow later = _trail.WindowAt(2);

        Assert.Throws<ArgumentException>(() => AuditCheckpoints.Seal(_trail.Checkpoints[0], later, [], _jwks, _signer, later.End));
    }

    [Fact]
    public void SealRejectsRecordOutsideWindow()
    {
        AuditCheckpointWindow window = _trail.WindowAt(1);

        Assert.Throws<ArgumentException>(() => AuditCheckpoints.Seal(_trail.Checkpoints[0], window, _trail.RecordsIn(0), _jwks, _signer, window.End));
    }

    [Fact]
    public void SealRejectsUnsortedRecords()
    {
        AuditCheckpointWindow window = _trail.WindowAt(0);
        List<SignedAuditRecord> records = _trail.RecordsIn(0);
        records.Reverse();

        Assert.Throws<ArgumentException>(() => AuditCheckpoints.Seal(null, window, records, _jwks, _signer, window.End));
    }

    [Fact]
    public void WindowAlignsToGrid()
    {
        AuditCheckpointWindow window = AuditCheckpointWindow.Containing(new DateTimeOffset(2032, 1, 5, 8, 17, 42, 5, TimeSpan.Zero), TimeSpan.FromHours(1));

        Assert.Equal(new DateTimeOffset(2032, 1, 5, 8, 0, 0, TimeSpan.Zero), window.Start);
        Assert.Equal(new DateTimeOffset(2032, 1, 5, 9, 0, 0, TimeSpan.Zero), window.End);
    }

    [Fact]
    public void WindowAfterOddStartEndsOnGrid()
    {
        var start = new DateTimeOffset(2032, 1, 5, 8, 0, 7, TimeSpan.Zero);

        AuditCheckpointWindow window = AuditCheckpointWindow.StartingAt(start, TimeSpan.FromMinutes(1));

        Assert.Equal(start, window.Start);
        Assert.Equal(new DateTimeOffset(2032, 1, 5, 8, 1, 0, TimeSpan.Zero), window.End);
    }

    [Fact]
    public void WindowContainsByIdTime()
    {
        AuditCheckpointWindow window = AuditCheckpointWindow.Containing(AuditTrailSample.Start, AuditTrailSample.Window);

        Assert.True(window.Contains(AuditRecordIds.Create(window.Start, "run-a", 1)));
        Assert.True(window.Contains(AuditRecordIds.Create(window.End.AddMilliseconds(-1), "run-a", 9999)));
        Assert.False(window.Contains(AuditRecordIds.Create(window.End, "run-a", 1)));
        Assert.False(window.Contains(AuditRecordIds.Create(window.Start.AddMilliseconds(-1), "run-a", 1)));
    }

    [Fact]
    public void WindowLengthBelowSecondRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => AuditCheckpointWindow.Containing(AuditTrailSample.Start, TimeSpan.FromMilliseconds(500)));
    }
}
