using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>Names of the checkpoint fields; <c>kid</c>, <c>alg</c>, <c>hash</c> and <c>signature</c> are as in records.</summary>
public static class AuditCheckpointFields
{
    /// <summary>The value of <c>type</c> in every checkpoint.</summary>
    public const string TypeName = "nhi.audit.checkpoint";

    /// <summary>The checkpoint format version this code writes and reads.</summary>
    public const int CurrentVersion = 1;

    /// <summary>The value of <c>merkle_alg</c>: the RFC 6962 tree hash with SHA-256 over the raw 32-byte record hashes.</summary>
    public const string MerkleAlgorithm = "rfc6962-sha256";

    public const string Type = "type";
    public const string Version = "version";
    public const string Id = "id";
    public const string WindowStart = "window_start";
    public const string WindowEnd = "window_end";
    public const string RecordCount = "record_count";
    public const string FirstRecordId = "first_record_id";
    public const string LastRecordId = "last_record_id";
    public const string MerkleAlg = "merkle_alg";
    public const string MerkleRoot = "merkle_root";
    public const string RejectedRecordCount = "rejected_record_count";
    public const string RejectedRecords = "rejected_records";
    public const string PreviousId = "previous_checkpoint_id";
    public const string PreviousHash = "previous_checkpoint_hash";
    public const string CreatedAt = "created_at";
}

/// <summary>A record that failed verification when its window was checkpointed.</summary>
/// <param name="RecordId">The record id.</param>
/// <param name="Reason">Why it failed, such as an unknown kid or a signature that does not verify.</param>
public sealed record RejectedAuditRecord(string RecordId, string Reason);

/// <summary>
/// A sealed checkpoint: the signed summary of every audit record in one time window. It states the
/// count, the first and last record id, and the RFC 6962 Merkle root of the record hashes in id order,
/// and links to the checkpoint of the window before by that checkpoint's hash.
/// </summary>
public sealed class SignedAuditCheckpoint
{
    private SignedAuditCheckpoint(JsonObject checkpoint, string json)
    {
        Json = json;
        Id = ReadString(checkpoint, AuditCheckpointFields.Id);
        string type = ReadString(checkpoint, AuditCheckpointFields.Type);
        if (type != AuditCheckpointFields.TypeName)
        {
            throw new FormatException($"Checkpoint '{Id}' has type '{type}'; expected '{AuditCheckpointFields.TypeName}'.");
        }

        Version = checked((int)ReadLong(checkpoint, AuditCheckpointFields.Version));
        Window = new AuditCheckpointWindow(ReadTime(checkpoint, AuditCheckpointFields.WindowStart), ReadTime(checkpoint, AuditCheckpointFields.WindowEnd));
        RecordCount = ReadLong(checkpoint, AuditCheckpointFields.RecordCount);
        FirstRecordId = JsonRead.String(checkpoint, AuditCheckpointFields.FirstRecordId);
        LastRecordId = JsonRead.String(checkpoint, AuditCheckpointFields.LastRecordId);
        MerkleAlgorithm = ReadString(checkpoint, AuditCheckpointFields.MerkleAlg);
        MerkleRoot = ReadString(checkpoint, AuditCheckpointFields.MerkleRoot);
        RejectedRecordCount = ReadLong(checkpoint, AuditCheckpointFields.RejectedRecordCount);
        RejectedRecords = ReadRejected(checkpoint);
        PreviousId = JsonRead.String(checkpoint, AuditCheckpointFields.PreviousId);
        PreviousHash = ReadString(checkpoint, AuditCheckpointFields.PreviousHash);
        CreatedAt = ReadTime(checkpoint, AuditCheckpointFields.CreatedAt);
        KeyId = ReadString(checkpoint, AuditRecordFields.KeyId);
        Algorithm = ReadString(checkpoint, AuditRecordFields.Algorithm);
        Hash = ReadString(checkpoint, AuditRecordFields.Hash);
        Signature = ReadString(checkpoint, AuditRecordFields.Signature);
    }

    /// <summary>The canonical JSON of the whole checkpoint, signature fields included.</summary>
    public string Json { get; }

    /// <summary>The checkpoint id: the window start in the record id time format.</summary>
    public string Id { get; }

    public int Version { get; }

    public AuditCheckpointWindow Window { get; }

    /// <summary>How many records the window contained when it was checkpointed, rejected ones included.</summary>
    public long RecordCount { get; }

    /// <summary>The smallest record id in the window; null for an empty window.</summary>
    public string? FirstRecordId { get; }

    /// <summary>The largest record id in the window; null for an empty window.</summary>
    public string? LastRecordId { get; }

    /// <summary>The tree hash algorithm, <see cref="AuditCheckpointFields.MerkleAlgorithm"/>.</summary>
    public string MerkleAlgorithm { get; }

    /// <summary>The lowercase hex Merkle root over the records' <c>hash</c> fields in id order.</summary>
    public string MerkleRoot { get; }

    /// <summary>How many records failed verification when the window was checkpointed.</summary>
    public long RejectedRecordCount { get; }

    /// <summary>The first <see cref="AuditCheckpoints.MaxListedRejections"/> of those records, with reasons.</summary>
    public IReadOnlyList<RejectedAuditRecord> RejectedRecords { get; }

    /// <summary>The id of the checkpoint of the window before; null for the first checkpoint.</summary>
    public string? PreviousId { get; }

    /// <summary>The hash of the checkpoint of the window before; 64 zeros for the first checkpoint.</summary>
    public string PreviousHash { get; }

    /// <summary>When the checkpoint was sealed.</summary>
    public DateTimeOffset CreatedAt { get; }

    public string KeyId { get; }

    public string Algorithm { get; }

    /// <summary>The lowercase hex SHA-256 of the canonical JSON without <c>hash</c> and <c>signature</c>.</summary>
    public string Hash { get; }

    /// <summary>The base64url ES256 signature of the same canonical JSON.</summary>
    public string Signature { get; }

    /// <summary>Returns a new, independent copy of the checkpoint as a JSON object.</summary>
    public JsonObject ToJsonObject() => JsonNode.Parse(Json)!.AsObject();

    /// <summary>Reads a checkpoint from its stored JSON; the JSON is kept exactly as given.</summary>
    /// <exception cref="FormatException">The text is not JSON or lacks a checkpoint field.</exception>
    public static SignedAuditCheckpoint Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The audit checkpoint is not valid JSON: {ex.Message}", ex);
        }

        if (node is not JsonObject checkpoint)
        {
            throw new FormatException("The audit checkpoint is not a JSON object.");
        }

        try
        {
            return new SignedAuditCheckpoint(checkpoint, json);
        }
        catch (ArgumentException ex)
        {
            throw new FormatException($"The audit checkpoint has an invalid window: {ex.Message}", ex);
        }
    }

    /// <summary>Wraps a checkpoint that <see cref="AuditCheckpoints.Seal"/> has just filled in.</summary>
    internal static SignedAuditCheckpoint FromSealed(JsonObject checkpoint) =>
        new(checkpoint, JsonCanonicalizer.CanonicalizeToString(checkpoint));

    public override string ToString() => $"checkpoint {Id} {Window}";

    private static IReadOnlyList<RejectedAuditRecord> ReadRejected(JsonObject checkpoint)
    {
        if (checkpoint[AuditCheckpointFields.RejectedRecords] is not JsonArray entries)
        {
            throw new FormatException($"The checkpoint field '{AuditCheckpointFields.RejectedRecords}' is missing or not an array.");
        }

        var rejected = new List<RejectedAuditRecord>(entries.Count);
        foreach (JsonNode? entry in entries)
        {
            if (entry is not JsonObject item || JsonRead.String(item, "id") is not { } id || JsonRead.String(item, "reason") is not { } reason)
            {
                throw new FormatException($"An entry of '{AuditCheckpointFields.RejectedRecords}' lacks a string id or reason.");
            }

            rejected.Add(new RejectedAuditRecord(id, reason));
        }

        return rejected;
    }

    private static DateTimeOffset ReadTime(JsonObject checkpoint, string name)
    {
        string text = ReadString(checkpoint, name);
        return DateTimeOffset.TryParseExact(text, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset time)
            ? time
            : throw new FormatException($"The checkpoint field '{name}' is '{text}'; expected a UTC time such as 2025-03-01T10:00:00.000Z.");
    }

    private static string ReadString(JsonObject checkpoint, string name) =>
        JsonRead.String(checkpoint, name)
        ?? throw new FormatException($"The checkpoint field '{name}' is missing or not a string.");

    private static long ReadLong(JsonObject checkpoint, string name) =>
        JsonRead.Integer(checkpoint, name)
        ?? throw new FormatException($"The checkpoint field '{name}' is missing or not an integer.");
}
