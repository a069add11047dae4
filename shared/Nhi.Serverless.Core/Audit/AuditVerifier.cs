using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Checks stored audit records: each record's hash and signature, a stream's chain, and, with
/// checkpoints, a whole trail (see <see cref="VerifyTrail(Stream, IEnumerable{string}, Jwks, AuditTrailVerificationOptions?)"/>).
/// </summary>
public static partial class AuditVerifier
{
    /// <summary>
    /// Recomputes the record's canonical hash and checks its signature against the JWKS key named by
    /// its <c>kid</c>.
    /// </summary>
    /// <returns>Valid, or the reason naming the record id.</returns>
    public static VerificationResult VerifyRecord(JsonObject storedRecord, Jwks jwks)
    {
        ArgumentNullException.ThrowIfNull(storedRecord);
        ArgumentNullException.ThrowIfNull(jwks);
        string id = ReadString(storedRecord, AuditRecordFields.Id) ?? "(no id)";
        return VerifySealed(storedRecord, jwks, $"record {id}");
    }

    /// <summary>
    /// Checks an object sealed the way records and checkpoints are: <c>hash</c> is the SHA-256 of its
    /// canonical JSON without <c>hash</c> and <c>signature</c>, and <c>signature</c> verifies over the
    /// same bytes with the JWKS key named by <c>kid</c>.
    /// </summary>
    /// <param name="sealedObject">The record or checkpoint.</param>
    /// <param name="jwks">The keys.</param>
    /// <param name="subject">What the object is in messages, such as "record 20250301T...-0001".</param>
    internal static VerificationResult VerifySealed(JsonObject sealedObject, Jwks jwks, string subject)
    {
        string? hash = ReadString(sealedObject, AuditRecordFields.Hash);
        string? signature = ReadString(sealedObject, AuditRecordFields.Signature);
        string? kid = ReadString(sealedObject, AuditRecordFields.KeyId);
        string? alg = ReadString(sealedObject, AuditRecordFields.Algorithm);
        if (hash is null || signature is null || kid is null || alg is null)
        {
            return VerificationResult.Fail($"{subject} lacks one of the fields hash, signature, kid and alg");
        }

        byte[] canonical;
        try
        {
            canonical = AuditChain.CanonicalBody(sealedObject);
        }
        catch (JsonCanonicalizationException ex)
        {
            return VerificationResult.Fail($"{subject} cannot be canonicalized: {ex.Message}");
        }

        string computed = Convert.ToHexStringLower(SHA256.HashData(canonical));
        if (!string.Equals(computed, hash, StringComparison.Ordinal))
        {
            return VerificationResult.Fail($"{subject} does not match its hash: its content changed after it was signed");
        }

        byte[] signatureBytes;
        try
        {
            signatureBytes = Base64Url.DecodeFromChars(signature);
        }
        catch (FormatException)
        {
            return VerificationResult.Fail($"{subject} has a signature that is not base64url");
        }

        VerificationResult check = jwks.Verify(kid, alg, canonical, signatureBytes);
        return check.Valid ? check : VerificationResult.Fail($"{subject}: {check.Reason}");
    }

    /// <inheritdoc cref="VerifyRecord(JsonObject, Jwks)"/>
    public static VerificationResult VerifyRecord(SignedAuditRecord storedRecord, Jwks jwks)
    {
        ArgumentNullException.ThrowIfNull(storedRecord);
        return VerifyRecord(storedRecord.ToJsonObject(), jwks);
    }

    /// <summary>
    /// Checks the records of one stream in the order given: every record verifies on its own, belongs to
    /// the stream, has the next seq, and carries the previous record's hash as its <c>prev_hash</c>; and,
    /// with <paramref name="requireRunCompleted"/>, the last record is the run.completed record whose
    /// record_count equals its seq. The first failure is reported with the record id where it shows.
    /// </summary>
    /// <remarks>
    /// NOTE: the hash chain links each record only to the one before it, so on its own it cannot show
    /// records removed from the end of a stream. The run.completed check catches a truncated run. A
    /// stream deleted whole shows only in the checkpoint of its window, through
    /// <see cref="VerifyTrail(Stream, IEnumerable{string}, Jwks, AuditTrailVerificationOptions?)"/>, or
    /// against a copy kept elsewhere, such as the SIEM's copy.
    /// </remarks>
    public static ChainVerificationResult VerifyChain(IReadOnlyList<JsonObject> records, Jwks jwks, bool requireRunCompleted = true)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(jwks);
        if (records.Count == 0)
        {
            return ChainVerificationResult.Fail(null, "the stream has no records");
        }

        string? stream = ReadString(records[0], AuditRecordFields.Stream);
        string previousHash = AuditChain.GenesisHash;
        for (int i = 0; i < records.Count; i++)
        {
            JsonObject record = records[i];
            string id = ReadString(record, AuditRecordFields.Id) ?? $"(record at position {i + 1} has no id)";
            int expectedSeq = i + 1;

            VerificationResult check = VerifyRecord(record, jwks);
            if (!check.Valid)
            {
                return ChainVerificationResult.Fail(id, check.Reason);
            }

            string? recordStream = ReadString(record, AuditRecordFields.Stream);
            if (!string.Equals(recordStream, stream, StringComparison.Ordinal))
            {
                return ChainVerificationResult.Fail(id, $"record {id} belongs to stream '{recordStream}', not '{stream}': it was inserted from another run");
            }

            long? seq = ReadNumber(record, AuditRecordFields.Seq);
            if (seq > expectedSeq)
            {
                return ChainVerificationResult.Fail(id, $"record {id} has seq {seq} where seq {expectedSeq} was expected: records before it are missing or out of order");
            }

            if (seq != expectedSeq)
            {
                return ChainVerificationResult.Fail(id, $"record {id} has seq {seq?.ToString() ?? "(none)"} where seq {expectedSeq} was expected: it is a repeated, inserted or out-of-order record");
            }

            if (!string.Equals(ReadString(record, AuditRecordFields.PrevHash), previousHash, StringComparison.Ordinal))
            {
                return ChainVerificationResult.Fail(id, $"record {id} does not link to the record before it: its prev_hash differs from that record's hash");
            }

            previousHash = ReadString(record, AuditRecordFields.Hash)!;
        }

        JsonObject last = records[^1];
        string lastId = ReadString(last, AuditRecordFields.Id)!;
        if (requireRunCompleted && !IsRunCompleted(last, records.Count))
        {
            return ChainVerificationResult.Fail(lastId, $"the stream ends at record {lastId} (seq {records.Count}) without a run.completed record counting {records.Count} records: records after it are missing");
        }

        return new ChainVerificationResult(true, null, $"{records.Count} records valid");
    }

    /// <inheritdoc cref="VerifyChain(IReadOnlyList{JsonObject}, Jwks, bool)"/>
    public static ChainVerificationResult VerifyChain(IReadOnlyList<SignedAuditRecord> records, Jwks jwks, bool requireRunCompleted = true)
    {
        ArgumentNullException.ThrowIfNull(records);
        return VerifyChain(records.Select(record => record.ToJsonObject()).ToList(), jwks, requireRunCompleted);
    }

    private static bool IsRunCompleted(JsonObject record, int count) =>
        record[AuditRecordFields.Nhi] is JsonObject nhi
        && ReadString(nhi, AuditRecordFields.Event) == AuditEvents.RunCompleted
        && ReadNumber(nhi, AuditRecordFields.RecordCount) == count;

    private static string? ReadString(JsonObject record, string name) => JsonRead.String(record, name);

    private static long? ReadNumber(JsonObject record, string name) => JsonRead.Integer(record, name);
}

/// <summary>The result of checking a stream's chain.</summary>
/// <param name="Valid">True when every check passed.</param>
/// <param name="RecordId">The id of the record where the first failure shows; null when valid or when there were no records.</param>
/// <param name="Reason">What failed, or a summary when valid.</param>
public readonly record struct ChainVerificationResult(bool Valid, string? RecordId, string Reason)
{
    public static ChainVerificationResult Fail(string? recordId, string reason) => new(false, recordId, reason);
}
