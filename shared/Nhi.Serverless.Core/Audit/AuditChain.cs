using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Links and signs the records of one stream. Each record gets <c>kid</c>, <c>alg</c> and
/// <c>prev_hash</c> (the previous record's hash, 64 zeros for the first), and then, over its canonical
/// JSON (RFC 8785) without <c>hash</c> and <c>signature</c>: <c>hash</c>, the lowercase hex SHA-256,
/// and <c>signature</c>, the base64url ES256 signature in IEEE P1363 form.
/// </summary>
/// <remarks>
/// <c>kid</c> and <c>alg</c> are inside the signed bytes, so they cannot be swapped without breaking the
/// signature.
/// </remarks>
public static class AuditChain
{
    /// <summary>The <c>prev_hash</c> of the first record in a stream.</summary>
    public static readonly string GenesisHash = new('0', 64);

    private static readonly string[] SealFields =
    [
        AuditRecordFields.KeyId, AuditRecordFields.Algorithm, AuditRecordFields.PrevHash, AuditRecordFields.Hash, AuditRecordFields.Signature,
    ];

    /// <summary>Seals the unsigned records of one stream, in order.</summary>
    /// <remarks>With a remote signer, such as AWS KMS, this blocks the thread on each call; use <see cref="SealAsync"/> there.</remarks>
    /// <exception cref="ArgumentException">The records are empty, span streams, are not numbered 1, 2, 3..., or were sealed already.</exception>
    /// <exception cref="AuditSigningException">The signer failed.</exception>
    public static IReadOnlyList<SignedAuditRecord> Seal(IReadOnlyList<JsonObject> records, IAuditSigner signer) =>
        SealAsync(records, signer, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Seals the unsigned records of one stream, in order, signing each with <see cref="IAuditSigner.SignAsync"/>.</summary>
    /// <exception cref="ArgumentException">The records are empty, span streams, are not numbered 1, 2, 3..., or were sealed already.</exception>
    /// <exception cref="AuditSigningException">The signer failed.</exception>
    public static async Task<IReadOnlyList<SignedAuditRecord>> SealAsync(IReadOnlyList<JsonObject> records, IAuditSigner signer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(signer);
        if (records.Count == 0)
        {
            throw new ArgumentException("There are no records to seal.", nameof(records));
        }

        string stream = JsonRead.String(records[0], AuditRecordFields.Stream)
            ?? throw new ArgumentException("The first record has no stream.", nameof(records));
        var sealedRecords = new List<SignedAuditRecord>(records.Count);
        string previousHash = GenesisHash;
        for (int i = 0; i < records.Count; i++)
        {
            JsonObject record = records[i].DeepClone().AsObject();
            CheckUnsealed(record, stream, i + 1);

            record[AuditRecordFields.PrevHash] = previousHash;
            previousHash = await SignAsync(record, signer, cancellationToken).ConfigureAwait(false);
            sealedRecords.Add(SignedAuditRecord.FromSealed(record));
        }

        return sealedRecords;
    }

    /// <summary>
    /// Seals a JSON object the way records, checkpoints and export manifests are sealed: sets
    /// <c>kid</c> and <c>alg</c>, then <c>hash</c> and <c>signature</c> over the canonical JSON of the
    /// rest (<see cref="CanonicalBody"/>).
    /// </summary>
    /// <returns>The lowercase hex <c>hash</c>.</returns>
    /// <exception cref="AuditSigningException">The signer failed.</exception>
    internal static async Task<string> SignAsync(JsonObject target, IAuditSigner signer, CancellationToken cancellationToken)
    {
        target[AuditRecordFields.KeyId] = signer.KeyId;
        target[AuditRecordFields.Algorithm] = signer.Algorithm;
        byte[] canonical = CanonicalBody(target);
        string hash = Convert.ToHexStringLower(SHA256.HashData(canonical));
        byte[] signature = await signer.SignAsync(canonical, cancellationToken).ConfigureAwait(false);
        target[AuditRecordFields.Hash] = hash;
        target[AuditRecordFields.Signature] = Base64Url.EncodeToString(signature);
        return hash;
    }

    /// <summary>Returns the canonical JSON bytes that are hashed and signed: the record without <c>hash</c> and <c>signature</c>.</summary>
    public static byte[] CanonicalBody(JsonObject record)
    {
        ArgumentNullException.ThrowIfNull(record);
        JsonObject body = record.DeepClone().AsObject();
        body.Remove(AuditRecordFields.Hash);
        body.Remove(AuditRecordFields.Signature);
        return JsonCanonicalizer.Canonicalize(body);
    }

    private static void CheckUnsealed(JsonObject record, string stream, int expectedSeq)
    {
        string? id = JsonRead.String(record, AuditRecordFields.Id);
        if (string.IsNullOrEmpty(id))
        {
            throw new ArgumentException($"Record {expectedSeq} has no id.", nameof(record));
        }

        if (JsonRead.String(record, AuditRecordFields.Stream) != stream)
        {
            throw new ArgumentException($"Record '{id}' is not in stream '{stream}'; a chain covers one stream.", nameof(record));
        }

        if (JsonRead.Integer(record, AuditRecordFields.Seq) != expectedSeq)
        {
            throw new ArgumentException($"Record '{id}' must have seq {expectedSeq}; records are numbered from 1 in order.", nameof(record));
        }

        foreach (string field in SealFields)
        {
            if (record.ContainsKey(field))
            {
                throw new ArgumentException($"Record '{id}' already has the field '{field}'; records are sealed once.", nameof(record));
            }
        }
    }
}
