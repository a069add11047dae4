using System.Text;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

public static partial class AuditVerifier
{
    /// <summary>
    /// Verifies a trail: records in id order against the checkpoints of their windows and the JWKS.
    /// Each problem names the record id or the checkpoint window. It finds modified, deleted, inserted,
    /// repeated and reordered records, and records signed by a key the JWKS lacks or with a bad
    /// signature. It also finds gaps between checkpoints, and checkpoints that are invalid or do not
    /// link to the one before.
    /// </summary>
    /// <param name="recordLines">UTF-8 JSON Lines, one sealed record per line, in record id order.</param>
    /// <param name="checkpoints">The checkpoints' JSON, in any order.</param>
    /// <param name="jwks">The keys that signed the records and checkpoints.</param>
    /// <param name="options">Settings; null for the defaults.</param>
    /// <remarks>
    /// A record in a window with a valid checkpoint is verified through it: its content must hash to its
    /// <c>hash</c> field, and the window's hashes must produce the checkpoint's signed Merkle root. Its
    /// own signature is checked only when that fails, or with
    /// <see cref="AuditTrailVerificationOptions.VerifyAllSignatures"/>, because one ES256 check took
    /// about 70 microseconds on a 2-core AMD EPYC, many times the hash check. Records outside every
    /// valid checkpoint have their signatures checked. When a window does not match its checkpoint, the
    /// input is read a second time to check the signatures of that window's records and name bad ones.
    /// NOTE: a record inside a window is located only when its window's count, first or last id, or
    /// signatures show it. Otherwise the problem names the window. A stream that cannot seek is read
    /// once, so bad signatures in its checkpointed windows are not searched for.
    /// </remarks>
    public static AuditTrailReport VerifyTrail(Stream recordLines, IEnumerable<string> checkpoints, Jwks jwks, AuditTrailVerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(recordLines);
        ArgumentNullException.ThrowIfNull(checkpoints);
        ArgumentNullException.ThrowIfNull(jwks);
        long start = recordLines.CanSeek ? recordLines.Position : 0;
        IEnumerable<LineChunk> ReadFromStart()
        {
            if (recordLines.CanSeek)
            {
                recordLines.Position = start;
            }

            return AuditLineReader.ReadChunks(recordLines);
        }

        return new AuditTrailVerification(jwks, options ?? new AuditTrailVerificationOptions())
            .Run(ReadFromStart, recordLines.CanSeek, checkpoints);
    }

    /// <inheritdoc cref="VerifyTrail(Stream, IEnumerable{string}, Jwks, AuditTrailVerificationOptions?)"/>
    public static AuditTrailReport VerifyTrail(IEnumerable<JsonObject> records, IEnumerable<JsonObject> checkpoints, Jwks jwks, AuditTrailVerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(checkpoints);
        ArgumentNullException.ThrowIfNull(jwks);
        List<byte[]> lines = records.Select(ToLine).ToList();
        return new AuditTrailVerification(jwks, options ?? new AuditTrailVerificationOptions())
            .Run(() => AuditLineReader.Chunk(lines), canReadAgain: true, checkpoints.Select(checkpoint => Encoding.UTF8.GetString(ToLine(checkpoint))));
    }

    /// <inheritdoc cref="VerifyTrail(Stream, IEnumerable{string}, Jwks, AuditTrailVerificationOptions?)"/>
    public static AuditTrailReport VerifyTrail(IEnumerable<SignedAuditRecord> records, IEnumerable<SignedAuditCheckpoint> checkpoints, Jwks jwks, AuditTrailVerificationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(checkpoints);
        ArgumentNullException.ThrowIfNull(jwks);
        List<byte[]> lines = records.Select(record => Encoding.UTF8.GetBytes(record.Json)).ToList();
        return new AuditTrailVerification(jwks, options ?? new AuditTrailVerificationOptions())
            .Run(() => AuditLineReader.Chunk(lines), canReadAgain: true, checkpoints.Select(checkpoint => checkpoint.Json));
    }

    /// <summary>Writes a JSON object as it would be stored: canonical when possible, as plain JSON when it contains a value JCS rejects.</summary>
    private static byte[] ToLine(JsonObject value)
    {
        try
        {
            return JsonCanonicalizer.Canonicalize(value);
        }
        catch (JsonCanonicalizationException)
        {
            return Encoding.UTF8.GetBytes(value.ToJsonString());
        }
    }
}
