using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Seals checkpoints in the manner of AWS CloudTrail digest files: one per time window, signed like a
/// record (ES256 over the canonical JSON without <c>hash</c> and <c>signature</c>) and chained to the
/// previous window's checkpoint by its hash. A window without records still gets a checkpoint, so
/// records deleted from the end of the trail leave a checkpoint that counts them.
/// </summary>
public static class AuditCheckpoints
{
    /// <summary>The most rejected records a checkpoint lists by id; <c>rejected_record_count</c> has the full count.</summary>
    public const int MaxListedRejections = 100;

    /// <summary>The <c>previous_checkpoint_hash</c> of the first checkpoint.</summary>
    public static readonly string GenesisHash = AuditChain.GenesisHash;

    /// <summary>
    /// Verifies the window's records against the trusted keys and seals the checkpoint. Every record
    /// is a Merkle leaf, and those that fail verification are also listed as rejected, so the
    /// checkpoint states exactly what the table contained.
    /// </summary>
    /// <param name="previous">The checkpoint of the window before; null for the first checkpoint.</param>
    /// <param name="window">The window; it must start where <paramref name="previous"/> ends.</param>
    /// <param name="records">Every record in the window, in id order.</param>
    /// <param name="trustedKeys">The keys whose signatures count as valid.</param>
    /// <param name="signer">Signs the checkpoint.</param>
    /// <param name="createdAt">The sealing time.</param>
    /// <remarks>With a remote signer, such as AWS KMS, this blocks the thread on the call; use <see cref="SealAsync"/> there.</remarks>
    /// <exception cref="ArgumentException">The window does not follow the previous one, or the records are out of order or outside the window.</exception>
    /// <exception cref="AuditSigningException">The signer failed.</exception>
    public static SignedAuditCheckpoint Seal(
        SignedAuditCheckpoint? previous,
        AuditCheckpointWindow window,
        IReadOnlyList<SignedAuditRecord> records,
        Jwks trustedKeys,
        IAuditSigner signer,
        DateTimeOffset createdAt) =>
        SealAsync(previous, window, records, trustedKeys, signer, createdAt, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Verifies the window's records and seals the checkpoint like <see cref="Seal"/>, signing with <see cref="IAuditSigner.SignAsync"/>.</summary>
    /// <exception cref="ArgumentException">The window does not follow the previous one, or the records are out of order or outside the window.</exception>
    /// <exception cref="AuditSigningException">The signer failed.</exception>
    public static async Task<SignedAuditCheckpoint> SealAsync(
        SignedAuditCheckpoint? previous,
        AuditCheckpointWindow window,
        IReadOnlyList<SignedAuditRecord> records,
        Jwks trustedKeys,
        IAuditSigner signer,
        DateTimeOffset createdAt,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(trustedKeys);
        ArgumentNullException.ThrowIfNull(signer);
        if (previous is not null && previous.Window.End != window.Start)
        {
            throw new ArgumentException($"Window {window} does not start where the previous checkpoint's window {previous.Window} ends; checkpoints must be contiguous.", nameof(window));
        }

        CheckRecords(window, records);
        List<RejectedAuditRecord> rejected = VerifyRecords(records, trustedKeys);

        var tree = new MerkleTree();
        byte[] leaf = new byte[MerkleTree.HashSize];
        foreach (SignedAuditRecord record in records)
        {
            AddLeaf(tree, record.Hash, leaf);
        }

        var rejectedList = new JsonArray(rejected
            .Take(MaxListedRejections)
            .Select(item => (JsonNode)new JsonObject { ["id"] = item.RecordId, ["reason"] = item.Reason })
            .ToArray());
        var checkpoint = new JsonObject
        {
            [AuditCheckpointFields.Type] = AuditCheckpointFields.TypeName,
            [AuditCheckpointFields.Version] = AuditCheckpointFields.CurrentVersion,
            [AuditCheckpointFields.Id] = window.Id,
            [AuditCheckpointFields.WindowStart] = AuditRecordStream.FormatTime(window.Start),
            [AuditCheckpointFields.WindowEnd] = AuditRecordStream.FormatTime(window.End),
            [AuditCheckpointFields.RecordCount] = records.Count,
            [AuditCheckpointFields.FirstRecordId] = records.Count > 0 ? records[0].Id : null,
            [AuditCheckpointFields.LastRecordId] = records.Count > 0 ? records[^1].Id : null,
            [AuditCheckpointFields.MerkleAlg] = AuditCheckpointFields.MerkleAlgorithm,
            [AuditCheckpointFields.MerkleRoot] = Convert.ToHexStringLower(tree.ComputeRoot()),
            [AuditCheckpointFields.RejectedRecordCount] = rejected.Count,
            [AuditCheckpointFields.RejectedRecords] = rejectedList,
            [AuditCheckpointFields.PreviousId] = previous?.Id,
            [AuditCheckpointFields.PreviousHash] = previous?.Hash ?? GenesisHash,
            [AuditCheckpointFields.CreatedAt] = AuditRecordStream.FormatTime(createdAt.ToUniversalTime()),
        };

        await AuditChain.SignAsync(checkpoint, signer, cancellationToken).ConfigureAwait(false);
        return SignedAuditCheckpoint.FromSealed(checkpoint);
    }

    /// <summary>Checks the checkpoint's hash and its signature against the JWKS key named by its <c>kid</c>.</summary>
    public static VerificationResult Verify(SignedAuditCheckpoint checkpoint, Jwks jwks)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(jwks);
        return AuditVerifier.VerifySealed(checkpoint.ToJsonObject(), jwks, $"checkpoint {checkpoint.Id}");
    }

    /// <summary>
    /// Adds a record's leaf: the 32 bytes of its lowercase hex <c>hash</c>, or the UTF-8 bytes of the
    /// field as written when it is not 64 lowercase hex digits, so a malformed record still counts.
    /// </summary>
    internal static void AddLeaf(MerkleTree tree, string hash, Span<byte> scratch)
    {
        if (TryDecodeHash(hash, scratch))
        {
            tree.Add(scratch);
        }
        else
        {
            tree.Add(Encoding.UTF8.GetBytes(hash));
        }
    }

    /// <summary>Decodes 64 lowercase hex digits into 32 bytes; returns false for anything else.</summary>
    internal static bool TryDecodeHash(string hash, Span<byte> destination)
    {
        if (hash.Length != 2 * MerkleTree.HashSize)
        {
            return false;
        }

        foreach (char c in hash)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return Convert.FromHexString(hash, destination, out _, out int written) == System.Buffers.OperationStatus.Done && written == MerkleTree.HashSize;
    }

    private static void CheckRecords(AuditCheckpointWindow window, IReadOnlyList<SignedAuditRecord> records)
    {
        for (int i = 0; i < records.Count; i++)
        {
            string id = records[i].Id;
            if (!window.Contains(id))
            {
                throw new ArgumentException($"Record {id} is outside window {window}.", nameof(records));
            }

            if (i > 0 && string.CompareOrdinal(records[i - 1].Id, id) >= 0)
            {
                throw new ArgumentException($"Record {id} follows {records[i - 1].Id}; records must be in strictly increasing id order.", nameof(records));
            }
        }
    }

    private static List<RejectedAuditRecord> VerifyRecords(IReadOnlyList<SignedAuditRecord> records, Jwks trustedKeys)
    {
        // Signature checks dominate the cost of sealing a window, and each record is independent.
        var results = new VerificationResult[records.Count];
        Parallel.For(0, records.Count, i => results[i] = AuditVerifier.VerifyRecord(records[i], trustedKeys));

        var rejected = new List<RejectedAuditRecord>();
        for (int i = 0; i < records.Count; i++)
        {
            if (!results[i].Valid)
            {
                rejected.Add(new RejectedAuditRecord(records[i].Id, results[i].Reason));
            }
        }

        return rejected;
    }

    /// <summary>Formats a count for messages.</summary>
    internal static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);
}
