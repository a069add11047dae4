namespace Nhi.Serverless.Audit;

/// <summary>
/// One run of <see cref="AuditVerifier.VerifyTrail(Stream, IEnumerable{string}, Jwks, AuditTrailVerificationOptions?)"/>:
/// checks the checkpoints first, then scans records on several threads and consumes them in input
/// order, comparing each window with its checkpoint once the records have moved past it. A window
/// keeps only its Merkle state, counts and the ids at its edges, so memory does not grow with its size.
/// When a window does not match, a second pass over the input checks the signatures of its records to
/// name the bad ones.
/// </summary>
internal sealed class AuditTrailVerification(Jwks jwks, AuditTrailVerificationOptions options)
{
    private readonly List<AuditTrailProblem> _problems = [];
    private readonly Dictionary<AuditProblemKind, long> _problemCounts = [];
    private readonly Dictionary<string, StreamState> _streams = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _keyIds = new(StringComparer.Ordinal);
    private List<SignedAuditCheckpoint> _checkpoints = [];
    private WindowState[] _windows = [];
    private string[] _windowStartKeys = [];
    private int _nextOpenWindow;
    private long _problemCount;
    private long _recordCount;
    private long _coveredCount;
    private long _signatureCount;
    private string? _previousId;
    private string? _chainAnchorId;

    /// <summary>Verifies the records that <paramref name="readChunks"/> returns, in order, against the checkpoints.</summary>
    /// <param name="readChunks">Returns the input from its start; called a second time when a window must be searched and <paramref name="canReadAgain"/> is true.</param>
    /// <param name="canReadAgain">Whether the input can be read a second time.</param>
    /// <param name="checkpoints">The checkpoints' JSON.</param>
    public AuditTrailReport Run(Func<IEnumerable<LineChunk>> readChunks, bool canReadAgain, IEnumerable<string> checkpoints)
    {
        CheckKeyIds();
        ReadCheckpoints(checkpoints);

        foreach ((LineChunk chunk, ScannedRecord[] scanned) in Scan(readChunks(), NeedsSignature))
        {
            foreach (ScannedRecord record in scanned)
            {
                Consume(record);
            }

            chunk.Release();
        }

        CloseWindowsBefore(_windows.Length);
        LocateBadSignatures(readChunks, canReadAgain);
        CheckRequiredCoverage();

        return new AuditTrailReport(
            _problems,
            _problemCount,
            _problemCounts,
            _recordCount,
            _coveredCount,
            _signatureCount,
            _checkpoints.Count,
            _checkpoints.Count > 0 ? _checkpoints[0].Window : null,
            _checkpoints.Count > 0 ? _checkpoints[^1].Window : null,
            _chainAnchorId,
            _keyIds.ToList());
    }

    private void CheckKeyIds()
    {
        foreach (JsonWebKey key in jwks.Keys)
        {
            string thumbprint = JsonWebKey.ComputeThumbprint(key.Crv, key.X, key.Y);
            if (!string.Equals(thumbprint, key.Kid, StringComparison.Ordinal))
            {
                Report(AuditProblemKind.KeyIdMismatch, null, null,
                    $"the JWKS key with kid '{key.Kid}' has the RFC 7638 thumbprint '{thumbprint}'; a kid that is not the key's thumbprint cannot be trusted to name it");
            }
        }
    }

    private void ReadCheckpoints(IEnumerable<string> jsons)
    {
        int position = 0;
        foreach (string json in jsons)
        {
            position++;
            try
            {
                _checkpoints.Add(SignedAuditCheckpoint.Parse(json));
            }
            catch (FormatException ex)
            {
                Report(AuditProblemKind.InvalidCheckpoint, null, null, $"checkpoint {position} is malformed: {ex.Message}");
            }
        }

        _checkpoints = _checkpoints.OrderBy(checkpoint => checkpoint.Id, StringComparer.Ordinal).ToList();
        var covering = new List<SignedAuditCheckpoint>();
        for (int i = 0; i < _checkpoints.Count; i++)
        {
            SignedAuditCheckpoint checkpoint = _checkpoints[i];
            SignedAuditCheckpoint? previous = i > 0 ? _checkpoints[i - 1] : null;
            bool valid = CheckCheckpoint(checkpoint);
            bool placed = previous is null || CheckLink(previous, checkpoint);
            if (valid && placed)
            {
                covering.Add(checkpoint);
            }
        }

        if (_checkpoints.Count > 0 && _checkpoints[0].PreviousHash != AuditCheckpoints.GenesisHash)
        {
            _chainAnchorId = _checkpoints[0].PreviousId ?? "(no id)";
        }

        _windows = covering.Select(checkpoint => new WindowState(checkpoint)).ToArray();
        _windowStartKeys = covering.Select(checkpoint => checkpoint.Window.StartKey).ToArray();
    }

    /// <summary>Checks the checkpoint on its own; returns whether its window can be trusted.</summary>
    private bool CheckCheckpoint(SignedAuditCheckpoint checkpoint)
    {
        _keyIds.Add(checkpoint.KeyId);
        if (!jwks.TryGetKey(checkpoint.KeyId, out _))
        {
            Report(AuditProblemKind.UnknownKey, null, checkpoint.Id,
                $"checkpoint {checkpoint.Id} of window {checkpoint.Window} is signed with kid '{checkpoint.KeyId}', which is not in the JWKS");
            return false;
        }

        VerificationResult signature = AuditCheckpoints.Verify(checkpoint, jwks);
        if (!signature.Valid)
        {
            Report(AuditProblemKind.InvalidCheckpoint, null, checkpoint.Id, $"window {checkpoint.Window}: {signature.Reason}");
            return false;
        }

        if (checkpoint.Version != AuditCheckpointFields.CurrentVersion || checkpoint.MerkleAlgorithm != AuditCheckpointFields.MerkleAlgorithm)
        {
            Report(AuditProblemKind.InvalidCheckpoint, null, checkpoint.Id,
                $"checkpoint {checkpoint.Id} has version {checkpoint.Version} and merkle_alg '{checkpoint.MerkleAlgorithm}'; this verifier reads version {AuditCheckpointFields.CurrentVersion} with '{AuditCheckpointFields.MerkleAlgorithm}'");
            return false;
        }

        return true;
    }

    /// <summary>Checks that the checkpoint follows the one before; returns false when its window overlaps or repeats that one's.</summary>
    private bool CheckLink(SignedAuditCheckpoint previous, SignedAuditCheckpoint checkpoint)
    {
        if (checkpoint.Id == previous.Id)
        {
            Report(AuditProblemKind.InvalidCheckpoint, null, checkpoint.Id, $"two checkpoints cover window {checkpoint.Window}");
            return false;
        }

        if (checkpoint.Window.Start < previous.Window.End)
        {
            Report(AuditProblemKind.InvalidCheckpoint, null, checkpoint.Id,
                $"checkpoint {checkpoint.Id} of window {checkpoint.Window} overlaps window {previous.Window} of the checkpoint before it");
            return false;
        }

        if (checkpoint.Window.Start > previous.Window.End)
        {
            var gap = new AuditCheckpointWindow(previous.Window.End, checkpoint.Window.Start);
            Report(AuditProblemKind.CheckpointGap, null, checkpoint.Id,
                $"no checkpoint covers {gap}, between the checkpoints of windows {previous.Window} and {checkpoint.Window}: the checkpoints of that time were deleted, so its records cannot be checked for deletions");
            return true;
        }

        if (checkpoint.PreviousHash != previous.Hash || checkpoint.PreviousId != previous.Id)
        {
            Report(AuditProblemKind.BrokenCheckpointChain, null, checkpoint.Id,
                $"checkpoint {checkpoint.Id} of window {checkpoint.Window} links to checkpoint {checkpoint.PreviousId ?? "(none)"} with hash {checkpoint.PreviousHash}, " +
                $"but the checkpoint before it is {previous.Id} with hash {previous.Hash}: a checkpoint was replaced");
        }

        return true;
    }

    private IEnumerable<(LineChunk Chunk, ScannedRecord[] Scanned)> Scan(IEnumerable<LineChunk> chunks, Func<ScannedRecord, bool> needsSignature)
    {
        (LineChunk, ScannedRecord[]) ScanChunk(LineChunk chunk)
        {
            var scanned = new ScannedRecord[chunk.Lines.Count];
            for (int i = 0; i < scanned.Length; i++)
            {
                (long number, ReadOnlyMemory<byte> line) = chunk.Lines[i];
                scanned[i] = AuditRecordScanner.Scan(number, line, jwks, needsSignature);
            }

            return (chunk, scanned);
        }

        if (options.MaxDegreeOfParallelism <= 1)
        {
            return chunks.Select(ScanChunk);
        }

        return chunks
            .AsParallel()
            .AsOrdered()
            .WithDegreeOfParallelism(options.MaxDegreeOfParallelism)
            .WithMergeOptions(ParallelMergeOptions.NotBuffered)
            .Select(ScanChunk);
    }

    /// <summary>Called on scanning threads: finds the record's window and decides whether its signature is checked now.</summary>
    private bool NeedsSignature(ScannedRecord record)
    {
        record.WindowIndex = FindWindow(record.Id!);
        return options.VerifyAllSignatures || record.WindowIndex < 0;
    }

    private int FindWindow(string recordId)
    {
        int index = Array.BinarySearch(_windowStartKeys, recordId, StringComparer.Ordinal);

        // Without an exact match, the complement is the first start key after the id.
        int candidate = index >= 0 ? index : ~index - 1;
        return candidate >= 0 && _windows[candidate].Checkpoint.Window.Contains(recordId) ? candidate : -1;
    }

    private void Consume(ScannedRecord record)
    {
        _recordCount++;
        if (record.FormatError is not null)
        {
            Report(AuditProblemKind.MalformedRecord, record.Id, null, $"line {record.LineNumber}: {record.FormatError}");
            return;
        }

        string id = record.Id!;
        long problemsBefore = _problemCount;
        CheckRecordItself(record);
        if (!CheckOrder(record))
        {
            return;
        }

        CheckChain(record);
        if (record.WindowIndex < 0)
        {
            CloseWindowsEndingBy(id);
            return;
        }

        CloseWindowsBefore(record.WindowIndex);
        WindowState window = _windows[record.WindowIndex];
        if (window.Closed)
        {
            // Only a record out of id order reaches a closed window; CheckOrder reported it.
            return;
        }

        window.Add(record, _problemCount - problemsBefore);
        _coveredCount++;
    }

    private void CheckRecordItself(ScannedRecord record)
    {
        string id = record.Id!;
        _keyIds.Add(record.KeyId!);
        bool knownKey = jwks.TryGetKey(record.KeyId!, out _);
        if (!knownKey)
        {
            Report(AuditProblemKind.UnknownKey, id, null, $"record {id} is signed with kid '{record.KeyId}', which is not in the JWKS");
        }

        if (!record.HashMatches)
        {
            Report(AuditProblemKind.ModifiedRecord, id, null, $"record {id} does not match its hash: its content changed after it was signed");
        }

        if (record.SignatureCheck is { } check)
        {
            _signatureCount++;
            if (!check.Valid && knownKey && record.HashMatches)
            {
                Report(AuditProblemKind.InvalidSignature, id, null, check.Reason);
            }
        }
    }

    /// <summary>Checks that ids increase; returns false for a repeated id, which is then left out of the window and chain checks.</summary>
    private bool CheckOrder(ScannedRecord record)
    {
        string id = record.Id!;
        if (_previousId is null)
        {
            _previousId = id;
            return true;
        }

        int order = string.CompareOrdinal(id, _previousId);
        if (order == 0)
        {
            Report(AuditProblemKind.DuplicateRecord, id, null, $"record {id} appears twice");
            return false;
        }

        if (order < 0)
        {
            Report(AuditProblemKind.OutOfOrder, id, null, $"record {id} comes after record {_previousId}, which has a larger id: records were reordered");
            return true;
        }

        _previousId = id;
        return true;
    }

    private void CheckChain(ScannedRecord record)
    {
        string id = record.Id!;
        long seq = record.Seq!.Value;
        if (!_streams.TryGetValue(record.Stream!, out StreamState? state))
        {
            // A stream whose first record here has seq above 1 began before the input did.
            if (seq == 1 && record.PrevHash != AuditChain.GenesisHash)
            {
                Report(AuditProblemKind.BrokenRecordChain, id, null, $"record {id} has seq 1 but its prev_hash is not 64 zeros");
            }

            _streams[record.Stream!] = new StreamState(seq, record.Hash!, id);
            return;
        }

        long expected = state.Seq + 1;
        if (seq > expected)
        {
            Report(AuditProblemKind.MissingRecord, id, null,
                $"record {id} has seq {seq}, but the record before it in stream '{record.Stream}' is {state.RecordId} with seq {state.Seq}: {seq - expected} record(s) of the stream are missing");
        }
        else if (seq < expected)
        {
            Report(AuditProblemKind.OutOfOrder, id, null,
                $"record {id} has seq {seq}, which does not follow seq {state.Seq} of record {state.RecordId} in stream '{record.Stream}'");
            return;
        }
        else if (record.PrevHash != state.Hash)
        {
            Report(AuditProblemKind.BrokenRecordChain, id, null,
                $"record {id} does not link to record {state.RecordId}: its prev_hash differs from that record's hash");
        }

        _streams[record.Stream!] = new StreamState(seq, record.Hash!, id);
    }

    private void CloseWindowsEndingBy(string recordId)
    {
        int end = _nextOpenWindow;
        while (end < _windows.Length && string.CompareOrdinal(_windows[end].Checkpoint.Window.EndKey, recordId) <= 0)
        {
            end++;
        }

        CloseWindowsBefore(end);
    }

    private void CloseWindowsBefore(int index)
    {
        for (; _nextOpenWindow < index; _nextOpenWindow++)
        {
            CloseWindow(_windows[_nextOpenWindow]);
        }
    }

    /// <summary>Compares a window's records with its checkpoint, then drops them.</summary>
    private void CloseWindow(WindowState window)
    {
        SignedAuditCheckpoint checkpoint = window.Checkpoint;
        foreach (RejectedAuditRecord rejected in checkpoint.RejectedRecords)
        {
            Report(AuditProblemKind.RejectedWhenCheckpointed, rejected.RecordId, checkpoint.Id,
                $"record {rejected.RecordId} failed verification when window {checkpoint.Window} was checkpointed: {rejected.Reason}");
        }

        long problemsBeforeComparison = _problemCount;
        string root = Convert.ToHexStringLower(window.Tree.ComputeRoot());
        bool rootMatches = root == checkpoint.MerkleRoot;
        window.NeedsSignatureSearch = !rootMatches || checkpoint.RejectedRecordCount > checkpoint.RejectedRecords.Count;

        long accounted = window.Count + CompareFirst(window) + CompareLast(window);
        if (accounted < checkpoint.RecordCount)
        {
            Report(AuditProblemKind.MissingRecord, null, checkpoint.Id,
                $"window {checkpoint.Window} has {window.Count} records but its checkpoint counts {checkpoint.RecordCount}: {checkpoint.RecordCount - accounted} record(s) were deleted from it");
        }
        else if (accounted > checkpoint.RecordCount)
        {
            Report(AuditProblemKind.InsertedRecord, null, checkpoint.Id,
                $"window {checkpoint.Window} has {window.Count} records but its checkpoint counts {checkpoint.RecordCount}: {accounted - checkpoint.RecordCount} record(s) were added after it was checkpointed");
        }
        else if (!rootMatches && window.RecordProblems == 0 && _problemCount == problemsBeforeComparison)
        {
            // Nothing found so far explains the different root; the signature search may name a record.
            window.ReportMismatchUnlessLocated = $"the records of window {checkpoint.Window} produce Merkle root {root}, but its checkpoint states {checkpoint.MerkleRoot}: records were replaced or reordered";
        }

        window.Close();
    }

    /// <summary>
    /// Compares the first record with the one the checkpoint names. Returns how many records that
    /// accounts for: +1 for a named first record that is missing, minus the records found before it.
    /// </summary>
    private int CompareFirst(WindowState window)
    {
        SignedAuditCheckpoint checkpoint = window.Checkpoint;
        string? expected = checkpoint.FirstRecordId;
        if (expected == window.First)
        {
            return 0;
        }

        int accounted = 0;
        if (expected is not null && !window.SawExpectedFirst)
        {
            Report(AuditProblemKind.MissingRecord, expected, checkpoint.Id,
                $"record {expected}, the first record of window {checkpoint.Window} according to its checkpoint, is missing");
            accounted++;
        }

        foreach (string id in window.BeforeFirst)
        {
            Report(AuditProblemKind.InsertedRecord, id, checkpoint.Id,
                $"record {id} precedes {expected ?? "every record"} that the checkpoint of window {checkpoint.Window} names as first: it was added after the window was checkpointed");
            accounted--;
        }

        return accounted;
    }

    /// <summary>Compares the last record with the one the checkpoint names, like <see cref="CompareFirst"/>.</summary>
    private int CompareLast(WindowState window)
    {
        SignedAuditCheckpoint checkpoint = window.Checkpoint;
        string? expected = checkpoint.LastRecordId;
        if (expected == window.Last || expected is null)
        {
            // An empty checkpointed window was handled whole by CompareFirst.
            return 0;
        }

        int accounted = 0;

        // A window of one record has the same first and last id; CompareFirst reported it missing.
        if (expected != checkpoint.FirstRecordId && !window.SawExpectedLast)
        {
            Report(AuditProblemKind.MissingRecord, expected, checkpoint.Id,
                $"record {expected}, the last record of window {checkpoint.Window} according to its checkpoint, is missing");
            accounted++;
        }

        foreach (string id in window.AfterLast)
        {
            Report(AuditProblemKind.InsertedRecord, id, checkpoint.Id,
                $"record {id} follows {expected} that the checkpoint of window {checkpoint.Window} names as last: it was added after the window was checkpointed");
            accounted--;
        }

        return accounted;
    }

    /// <summary>
    /// Reads the input again and checks the signatures of the records in windows that did not match,
    /// to name forged or replaced records. A window whose difference no signature explains is reported
    /// as a whole.
    /// </summary>
    private void LocateBadSignatures(Func<IEnumerable<LineChunk>> readChunks, bool canReadAgain)
    {
        HashSet<int> suspects = Enumerable.Range(0, _windows.Length).Where(index => _windows[index].NeedsSignatureSearch).ToHashSet();
        var found = new Dictionary<int, int>();
        if (suspects.Count > 0 && canReadAgain)
        {
            // Records checked in the first pass, such as those with an unknown key, were reported then.
            bool InSuspectWindow(ScannedRecord record)
            {
                record.WindowIndex = FindWindow(record.Id!);
                return !options.VerifyAllSignatures && suspects.Contains(record.WindowIndex)
                    && record.HashMatches && jwks.TryGetKey(record.KeyId!, out _);
            }

            foreach ((LineChunk chunk, ScannedRecord[] scanned) in Scan(readChunks(), InSuspectWindow))
            {
                foreach (ScannedRecord record in scanned)
                {
                    if (record.SignatureCheck is not { } check)
                    {
                        continue;
                    }

                    _signatureCount++;
                    if (!check.Valid)
                    {
                        Report(AuditProblemKind.InvalidSignature, record.Id, _windows[record.WindowIndex].Checkpoint.Id, check.Reason);
                        found[record.WindowIndex] = found.GetValueOrDefault(record.WindowIndex) + 1;
                    }
                }

                chunk.Release();
            }
        }

        foreach (int index in suspects)
        {
            if (_windows[index].ReportMismatchUnlessLocated is { } message && found.GetValueOrDefault(index) == 0)
            {
                Report(AuditProblemKind.WindowMismatch, null, _windows[index].Checkpoint.Id, message);
            }
        }
    }

    private void CheckRequiredCoverage()
    {
        if (options.CheckpointsRequiredThrough is not { } required)
        {
            return;
        }

        if (_checkpoints.Count == 0)
        {
            Report(AuditProblemKind.MissingCheckpoints, null, null, $"there are no checkpoints, but windows up to {AuditRecordStream.FormatTime(required)} must be checkpointed");
            return;
        }

        AuditCheckpointWindow last = _checkpoints[^1].Window;
        if (required - last.End >= last.End - last.Start)
        {
            Report(AuditProblemKind.MissingCheckpoints, null, _checkpoints[^1].Id,
                $"the last checkpoint covers {last}, but windows up to {AuditRecordStream.FormatTime(required)} must be checkpointed: the checkpoints after it were deleted or never written");
        }
    }

    private void Report(AuditProblemKind kind, string? recordId, string? checkpointId, string message)
    {
        _problemCount++;
        _problemCounts[kind] = _problemCounts.GetValueOrDefault(kind) + 1;
        if (_problems.Count < options.MaxReportedProblems)
        {
            _problems.Add(new AuditTrailProblem(kind, recordId, checkpointId, message));
        }
    }

    private sealed record StreamState(long Seq, string Hash, string RecordId);

    /// <summary>What one checkpointed window has seen: its Merkle state, count, edge records, and the ids outside the checkpoint's bounds.</summary>
    private sealed class WindowState(SignedAuditCheckpoint checkpoint)
    {
        private byte[] _leaf = new byte[MerkleTree.HashSize];

        public SignedAuditCheckpoint Checkpoint { get; } = checkpoint;

        public MerkleTree Tree { get; } = new();

        public long Count { get; private set; }

        public string? First { get; private set; }

        public string? Last { get; private set; }

        public bool SawExpectedFirst { get; private set; }

        public bool SawExpectedLast { get; private set; }

        /// <summary>Ids that sort before the first record the checkpoint names, or every id when it names none.</summary>
        public List<string> BeforeFirst { get; } = [];

        /// <summary>Ids that sort after the last record the checkpoint names.</summary>
        public List<string> AfterLast { get; } = [];

        public bool Closed { get; private set; }

        /// <summary>How many problems the window's records showed on their own, such as a changed order or an unknown key.</summary>
        public long RecordProblems { get; private set; }

        /// <summary>True when the root differed or the checkpoint lists fewer rejected records than it counts.</summary>
        public bool NeedsSignatureSearch { get; set; }

        /// <summary>The mismatch message to report when the signature search names no record.</summary>
        public string? ReportMismatchUnlessLocated { get; set; }

        public void Add(ScannedRecord record, long problems)
        {
            string id = record.Id!;
            RecordProblems += problems;
            Count++;
            First ??= id;
            Last = id;
            AuditCheckpoints.AddLeaf(Tree, record.Hash!, _leaf);

            string? expectedFirst = Checkpoint.FirstRecordId;
            if (expectedFirst is null || string.CompareOrdinal(id, expectedFirst) < 0)
            {
                BeforeFirst.Add(id);
            }
            else if (id == expectedFirst)
            {
                SawExpectedFirst = true;
            }

            string? expectedLast = Checkpoint.LastRecordId;
            if (expectedLast is not null && id == expectedLast)
            {
                SawExpectedLast = true;
            }
            else if (expectedLast is not null && string.CompareOrdinal(id, expectedLast) > 0)
            {
                AfterLast.Add(id);
            }
        }

        public void Close()
        {
            Closed = true;
            _leaf = [];
        }
    }
}
