using System.Buffers;
using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>The fields of one record line that trail verification needs, and the result of its hash check.</summary>
internal sealed class ScannedRecord
{
    public long LineNumber { get; init; }

    public ReadOnlyMemory<byte> Line { get; init; }

    public string? Id { get; set; }

    public string? Stream { get; set; }

    public long? Seq { get; set; }

    public string? PrevHash { get; set; }

    public string? Hash { get; set; }

    /// <summary>Where the <c>signature</c> string value lies in <see cref="Line"/>, without its quotes; (0, 0) when missing.</summary>
    public (int Start, int Length) SignatureRange { get; set; }

    public bool HasSignature => SignatureRange.Length > 0;

    public string? KeyId { get; set; }

    public string? Algorithm { get; set; }

    /// <summary>Why the line is not a sealed record; null when it is one.</summary>
    public string? FormatError { get; set; }

    /// <summary>True when the content hashes to the record's <c>hash</c> field.</summary>
    public bool HashMatches { get; set; }

    /// <summary>The index of the valid checkpoint whose window contains the record, or -1.</summary>
    public int WindowIndex { get; set; } = -1;

    /// <summary>The signature check, when one was made.</summary>
    public VerificationResult? SignatureCheck { get; set; }

    /// <summary>A name for messages: the record id, or the line number when there is none.</summary>
    public string Label => Id ?? $"(line {LineNumber})";
}

/// <summary>
/// Reads a record line once with <see cref="Utf8JsonReader"/> and hashes its members other than
/// <c>hash</c> and <c>signature</c> as they appear. For a line in canonical form (RFC 8785) those are
/// exactly the bytes that were signed, so a full parse and canonicalization is needed only for lines
/// whose fast hash does not match.
/// </summary>
internal static class AuditRecordScanner
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = JsonCanonicalizer.MaxDepth };

    // Records of one trail share a few key ids, so each scanning thread reuses the last one it read
    // instead of allocating the same string for every record.
    [ThreadStatic]
    private static string? t_lastKeyId;

    /// <summary>Scans a line and checks its hash; checks its signature too when <paramref name="needsSignature"/> returns true for it.</summary>
    /// <param name="lineNumber">The line number, for messages about lines without an id.</param>
    /// <param name="line">The record's JSON, without the line break.</param>
    /// <param name="jwks">The keys for signature checks.</param>
    /// <param name="needsSignature">Called once the fields are read; may also set <see cref="ScannedRecord.WindowIndex"/>.</param>
    public static ScannedRecord Scan(long lineNumber, ReadOnlyMemory<byte> line, Jwks jwks, Func<ScannedRecord, bool> needsSignature)
    {
        var scanned = new ScannedRecord { LineNumber = lineNumber, Line = line };
        byte[] body = ArrayPool<byte>.Shared.Rent(line.Length + 2);
        try
        {
            int bodyLength = ScanMembers(line.Span, scanned, body);
            if (scanned.FormatError is not null)
            {
                return scanned;
            }

            Span<byte> computed = stackalloc byte[MerkleTree.HashSize];
            SHA256.HashData(body.AsSpan(0, bodyLength), computed);
            Span<byte> claimed = stackalloc byte[MerkleTree.HashSize];
            bool fastMatch = AuditCheckpoints.TryDecodeHash(scanned.Hash!, claimed) && computed.SequenceEqual(claimed);

            // A line may be formatted differently from the canonical form that was signed; only the
            // full canonicalization can tell that from changed content.
            scanned.HashMatches = fastMatch || CanonicalHashMatches(line.Span, scanned);
            if (!needsSignature(scanned))
            {
                return scanned;
            }

            scanned.SignatureCheck = fastMatch
                ? VerifySignature(scanned, body.AsSpan(0, bodyLength), jwks)
                : VerifySignature(scanned, jwks);
            return scanned;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
    }

    /// <summary>Checks the record's hash and signature with a full parse and canonicalization.</summary>
    public static VerificationResult VerifySignature(ScannedRecord scanned, Jwks jwks)
    {
        JsonObject record;
        try
        {
            record = JsonNode.Parse(scanned.Line.Span)!.AsObject();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return VerificationResult.Fail($"record {scanned.Label} is not a JSON object: {ex.Message}");
        }

        return AuditVerifier.VerifySealed(record, jwks, $"record {scanned.Label}");
    }

    /// <summary>Checks the signature over body bytes that are known to hash to the record's <c>hash</c>.</summary>
    private static VerificationResult VerifySignature(ScannedRecord scanned, ReadOnlySpan<byte> canonicalBody, Jwks jwks)
    {
        byte[] signature;
        try
        {
            (int start, int length) = scanned.SignatureRange;
            signature = Base64Url.DecodeFromUtf8(scanned.Line.Span.Slice(start, length));
        }
        catch (FormatException)
        {
            return VerificationResult.Fail($"record {scanned.Label} has a signature that is not base64url");
        }

        VerificationResult check = jwks.Verify(scanned.KeyId!, scanned.Algorithm!, canonicalBody, signature);
        return check.Valid ? check : VerificationResult.Fail($"record {scanned.Label}: {check.Reason}");
    }

    /// <summary>
    /// Reads the top-level members, keeps the fields verification needs, and copies every member except
    /// <c>hash</c> and <c>signature</c> into <paramref name="body"/> as "{member,member,...}".
    /// </summary>
    /// <returns>The body length; <see cref="ScannedRecord.FormatError"/> is set when the line is not a record.</returns>
    private static int ScanMembers(ReadOnlySpan<byte> line, ScannedRecord scanned, byte[] body)
    {
        var reader = new Utf8JsonReader(line, ReaderOptions);
        int seenFields = 0;
        int length = 0;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                scanned.FormatError = "the line is not a JSON object";
                return 0;
            }

            body[length++] = (byte)'{';
            bool firstKept = true;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                int nameStart = checked((int)reader.TokenStartIndex);
                Field field = IdentifyField(ref reader);
                int fieldBit = 1 << (int)field;
                if (field != Field.Other && (seenFields & fieldBit) != 0)
                {
                    scanned.FormatError = $"the member '{reader.GetString()}' appears twice";
                    return 0;
                }

                seenFields |= fieldBit;
                reader.Read();
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
                else if (field == Field.Signature)
                {
                    // The value is only needed for a signature check, so its position is kept instead of a string.
                    scanned.SignatureRange = reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped
                        ? (checked((int)reader.TokenStartIndex) + 1, reader.ValueSpan.Length)
                        : (0, 0);
                }
                else
                {
                    StoreField(ref reader, field, scanned);
                }

                int valueEnd = checked((int)reader.BytesConsumed);
                if (field is Field.Hash or Field.Signature)
                {
                    continue;
                }

                if (!firstKept)
                {
                    body[length++] = (byte)',';
                }

                line[nameStart..valueEnd].CopyTo(body.AsSpan(length));
                length += valueEnd - nameStart;
                firstKept = false;
            }

            body[length++] = (byte)'}';

            // Anything but whitespace after the object makes the reader throw.
            reader.Read();
        }
        catch (JsonException ex)
        {
            scanned.FormatError = $"the line is not valid JSON: {ex.Message}";
            return 0;
        }

        scanned.FormatError = MissingField(scanned);
        return length;
    }

    private static void StoreField(ref Utf8JsonReader reader, Field field, ScannedRecord scanned)
    {
        if (field == Field.Seq)
        {
            scanned.Seq = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long seq) ? seq : null;
            return;
        }

        if (field == Field.Other || reader.TokenType != JsonTokenType.String)
        {
            return;
        }

        switch (field)
        {
            case Field.Id: scanned.Id = reader.GetString(); break;
            case Field.Stream: scanned.Stream = reader.GetString(); break;
            case Field.PrevHash: scanned.PrevHash = reader.GetString(); break;
            case Field.Hash: scanned.Hash = reader.GetString(); break;
            case Field.KeyId: scanned.KeyId = ReadKeyId(ref reader); break;
            case Field.Algorithm: scanned.Algorithm = reader.ValueTextEquals(JsonWebKey.Es256) ? JsonWebKey.Es256 : reader.GetString(); break;
        }
    }

    private static string? ReadKeyId(ref Utf8JsonReader reader)
    {
        if (t_lastKeyId is { } last && reader.ValueTextEquals(last))
        {
            return last;
        }

        t_lastKeyId = reader.GetString();
        return t_lastKeyId;
    }

    private static string? MissingField(ScannedRecord scanned)
    {
        if (scanned.Id is null)
        {
            return "the record has no string member 'id'";
        }

        (string Name, bool Present)[] required =
        [
            (AuditRecordFields.Stream, scanned.Stream is not null),
            (AuditRecordFields.Seq, scanned.Seq is not null),
            (AuditRecordFields.PrevHash, scanned.PrevHash is not null),
            (AuditRecordFields.Hash, scanned.Hash is not null),
            (AuditRecordFields.Signature, scanned.HasSignature),
            (AuditRecordFields.KeyId, scanned.KeyId is not null),
            (AuditRecordFields.Algorithm, scanned.Algorithm is not null),
        ];
        foreach ((string name, bool present) in required)
        {
            if (!present)
            {
                return $"record {scanned.Id} has no valid member '{name}'";
            }
        }

        return null;
    }

    private static bool CanonicalHashMatches(ReadOnlySpan<byte> line, ScannedRecord scanned)
    {
        try
        {
            JsonObject record = JsonNode.Parse(line)!.AsObject();
            string computed = Convert.ToHexStringLower(SHA256.HashData(AuditChain.CanonicalBody(record)));
            return string.Equals(computed, scanned.Hash, StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is JsonException or JsonCanonicalizationException or InvalidOperationException)
        {
            return false;
        }
    }

    private static Field IdentifyField(ref Utf8JsonReader reader)
    {
        if (reader.ValueTextEquals("id"u8)) return Field.Id;
        if (reader.ValueTextEquals("stream"u8)) return Field.Stream;
        if (reader.ValueTextEquals("seq"u8)) return Field.Seq;
        if (reader.ValueTextEquals("prev_hash"u8)) return Field.PrevHash;
        if (reader.ValueTextEquals("hash"u8)) return Field.Hash;
        if (reader.ValueTextEquals("signature"u8)) return Field.Signature;
        if (reader.ValueTextEquals("kid"u8)) return Field.KeyId;
        if (reader.ValueTextEquals("alg"u8)) return Field.Algorithm;
        return Field.Other;
    }

    private enum Field
    {
        Other,
        Id,
        Stream,
        Seq,
        PrevHash,
        Hash,
        Signature,
        KeyId,
        Algorithm,
    }
}
