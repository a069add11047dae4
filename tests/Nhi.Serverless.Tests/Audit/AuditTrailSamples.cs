using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>A small signed trail: runs four seconds apart in ten-second windows, each window checkpointed.</summary>
internal sealed class AuditTrailSample
{
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    public static readonly DateTimeOffset Start = new(2032, 1, 5, 8, 0, 0, TimeSpan.Zero);

    private AuditTrailSample(List<SignedAuditRecord> records, List<SignedAuditCheckpoint> checkpoints)
    {
        Records = records;
        Checkpoints = checkpoints;
    }

    /// <summary>The records in id order: three runs in the first window, two in the second, one in the third.</summary>
    public List<SignedAuditRecord> Records { get; }

    /// <summary>One checkpoint per window, the last one for an empty window.</summary>
    public List<SignedAuditCheckpoint> Checkpoints { get; }

    /// <summary>Builds six runs starting at 0, 4, 8, 12, 16 and 20 seconds and checkpoints four windows.</summary>
    public static AuditTrailSample Build(IAuditSigner signer, Jwks trustedKeys, int runs = 6, int windows = 4)
    {
        var records = new List<SignedAuditRecord>();
        for (int run = 0; run < runs; run++)
        {
            records.AddRange(AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), signer, Start.AddSeconds(4 * run)));
        }

        records.Sort((left, right) => string.CompareOrdinal(left.Id, right.Id));
        return new AuditTrailSample(records, Checkpoint(records, signer, trustedKeys, windows));
    }

    /// <summary>Seals contiguous checkpoints from the window of <see cref="Start"/> for the records given.</summary>
    public static List<SignedAuditCheckpoint> Checkpoint(IReadOnlyList<SignedAuditRecord> records, IAuditSigner signer, Jwks trustedKeys, int windows)
    {
        var checkpoints = new List<SignedAuditCheckpoint>();
        SignedAuditCheckpoint? previous = null;
        AuditCheckpointWindow window = AuditCheckpointWindow.Containing(Start, Window);
        for (int i = 0; i < windows; i++)
        {
            AuditCheckpointWindow current = window;
            List<SignedAuditRecord> inWindow = records.Where(record => current.Contains(record.Id)).ToList();
            previous = AuditCheckpoints.Seal(previous, current, inWindow, trustedKeys, signer, current.End.AddSeconds(1));
            checkpoints.Add(previous);
            window = AuditCheckpointWindow.StartingAt(current.End, Window);
        }

        return checkpoints;
    }

    /// <summary>The window of the i-th checkpoint.</summary>
    public AuditCheckpointWindow WindowAt(int index) => Checkpoints[index].Window;

    /// <summary>The records in the i-th checkpoint's window.</summary>
    public List<SignedAuditRecord> RecordsIn(int index) => Records.Where(record => WindowAt(index).Contains(record.Id)).ToList();
}
