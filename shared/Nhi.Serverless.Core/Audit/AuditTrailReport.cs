namespace Nhi.Serverless.Audit;

/// <summary>What a trail verification found wrong.</summary>
public enum AuditProblemKind
{
    /// <summary>A line is not a sealed record (not JSON, or a required field is missing).</summary>
    MalformedRecord,

    /// <summary>A record's content does not match its <c>hash</c>.</summary>
    ModifiedRecord,

    /// <summary>A record's signature does not verify.</summary>
    InvalidSignature,

    /// <summary>A record or checkpoint names a <c>kid</c> that the JWKS does not contain.</summary>
    UnknownKey,

    /// <summary>A record that a checkpoint or the record chain counts is not there.</summary>
    MissingRecord,

    /// <summary>A record is in a checkpointed window but was not there when the window was checkpointed.</summary>
    InsertedRecord,

    /// <summary>A record id appears twice.</summary>
    DuplicateRecord,

    /// <summary>A record comes after one with a larger id; records must be in id order.</summary>
    OutOfOrder,

    /// <summary>A record's <c>prev_hash</c> differs from the hash of the record before it in its stream.</summary>
    BrokenRecordChain,

    /// <summary>The checkpoint writer found the record invalid when it sealed the window.</summary>
    RejectedWhenCheckpointed,

    /// <summary>A window's records hash to a different Merkle root than its checkpoint states.</summary>
    WindowMismatch,

    /// <summary>A checkpoint is malformed, does not match its hash, has an invalid signature, or overlaps another.</summary>
    InvalidCheckpoint,

    /// <summary>No checkpoint covers a time range between two checkpoints.</summary>
    CheckpointGap,

    /// <summary>A checkpoint's link to the checkpoint before it does not match that checkpoint.</summary>
    BrokenCheckpointChain,

    /// <summary>The checkpoints end before the time they are required to cover.</summary>
    MissingCheckpoints,

    /// <summary>A JWKS key's <c>kid</c> is not the RFC 7638 thumbprint of the key.</summary>
    KeyIdMismatch,
}

/// <summary>One problem found, with the record or the checkpoint window where it shows.</summary>
/// <param name="Kind">What is wrong.</param>
/// <param name="RecordId">The record id, when the problem concerns one record.</param>
/// <param name="CheckpointId">The checkpoint id (its window start), when the problem concerns a window.</param>
/// <param name="Message">What was found, naming the record, window and values.</param>
public sealed record AuditTrailProblem(AuditProblemKind Kind, string? RecordId, string? CheckpointId, string Message)
{
    public override string ToString() => $"{Kind}: {Message}";
}

/// <summary>Settings of a trail verification.</summary>
public sealed class AuditTrailVerificationOptions
{
    /// <summary>
    /// Also verify the signature of every record in a checkpointed window. By default those records are
    /// verified through their checkpoint: their content must match their hash, and the hashes must
    /// produce the checkpoint's signed Merkle root. Records outside any valid checkpoint are always
    /// signature-checked.
    /// </summary>
    public bool VerifyAllSignatures { get; init; }

    /// <summary>When set, checkpoints must cover every window up to this time, so a trail cut off at the end is reported.</summary>
    public DateTimeOffset? CheckpointsRequiredThrough { get; init; }

    /// <summary>The most problems kept in <see cref="AuditTrailReport.Problems"/>; <see cref="AuditTrailReport.ProblemCount"/> counts all of them.</summary>
    public int MaxReportedProblems { get; init; } = 1000;

    /// <summary>How many threads scan records; the processor count by default.</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;
}

/// <summary>The outcome of verifying records against checkpoints and a JWKS.</summary>
public sealed class AuditTrailReport
{
    internal AuditTrailReport(
        IReadOnlyList<AuditTrailProblem> problems,
        long problemCount,
        IReadOnlyDictionary<AuditProblemKind, long> problemCounts,
        long recordCount,
        long coveredRecordCount,
        long signaturesVerified,
        int checkpointCount,
        AuditCheckpointWindow? firstWindow,
        AuditCheckpointWindow? lastWindow,
        string? chainAnchorId,
        IReadOnlyList<string> keyIds)
    {
        Problems = problems;
        ProblemCount = problemCount;
        ProblemCounts = problemCounts;
        RecordCount = recordCount;
        CoveredRecordCount = coveredRecordCount;
        SignaturesVerified = signaturesVerified;
        CheckpointCount = checkpointCount;
        FirstWindow = firstWindow;
        LastWindow = lastWindow;
        ChainAnchorId = chainAnchorId;
        KeyIds = keyIds;
    }

    /// <summary>True when no problem was found.</summary>
    public bool Valid => ProblemCount == 0;

    /// <summary>The problems found, in the order found, up to <see cref="AuditTrailVerificationOptions.MaxReportedProblems"/>.</summary>
    public IReadOnlyList<AuditTrailProblem> Problems { get; }

    /// <summary>How many problems were found in total.</summary>
    public long ProblemCount { get; }

    /// <summary>How many problems of each kind were found.</summary>
    public IReadOnlyDictionary<AuditProblemKind, long> ProblemCounts { get; }

    /// <summary>How many record lines were read.</summary>
    public long RecordCount { get; }

    /// <summary>How many records lie in a window with a valid checkpoint.</summary>
    public long CoveredRecordCount { get; }

    /// <summary>How many record signatures were checked one by one.</summary>
    public long SignaturesVerified { get; }

    /// <summary>How many checkpoints were read.</summary>
    public int CheckpointCount { get; }

    /// <summary>The window of the first checkpoint, or null without checkpoints.</summary>
    public AuditCheckpointWindow? FirstWindow { get; }

    /// <summary>The window of the last checkpoint, or null without checkpoints.</summary>
    public AuditCheckpointWindow? LastWindow { get; }

    /// <summary>
    /// The id of the checkpoint that the first checkpoint links to, when that one is not part of the
    /// input. Null when the first checkpoint starts the chain. Compare it with an earlier export to join
    /// the two.
    /// </summary>
    public string? ChainAnchorId { get; }

    /// <summary>The key ids that signed the records and checkpoints read.</summary>
    public IReadOnlyList<string> KeyIds { get; }
}
