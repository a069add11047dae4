using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>
/// A sealed audit record: its canonical JSON (RFC 8785) with <c>prev_hash</c>, <c>kid</c>, <c>alg</c>,
/// <c>hash</c> and <c>signature</c> filled in, and the fields that stores index it by.
/// </summary>
public sealed class SignedAuditRecord
{
    private SignedAuditRecord(JsonObject record, string json)
    {
        Json = json;
        Id = ReadString(record, AuditRecordFields.Id);
        Stream = ReadString(record, AuditRecordFields.Stream);
        Seq = ReadInt(record, AuditRecordFields.Seq);
        PrevHash = ReadString(record, AuditRecordFields.PrevHash);
        Hash = ReadString(record, AuditRecordFields.Hash);
        Signature = ReadString(record, AuditRecordFields.Signature);
        KeyId = ReadString(record, AuditRecordFields.KeyId);
        Algorithm = ReadString(record, AuditRecordFields.Algorithm);
        EventTime = DateTimeOffset.FromUnixTimeMilliseconds(ReadLong(record, AuditRecordFields.Time));

        JsonObject nhi = record[AuditRecordFields.Nhi] as JsonObject
            ?? throw new FormatException($"Audit record '{Id}' has no \"nhi\" object.");
        Event = ReadString(nhi, AuditRecordFields.Event);
        RunId = ReadString(nhi, AuditRecordFields.RunId);
        FindingId = ReadOptionalString(nhi, AuditRecordFields.FindingId);
        GrantId = ReadOptionalString(nhi, AuditRecordFields.GrantId);
        Resource = ReadOptionalString(nhi, AuditRecordFields.Resource);
    }

    /// <summary>The canonical JSON of the whole record, signature fields included.</summary>
    public string Json { get; }

    /// <summary>The record id; its time prefix is <see cref="AuditRecordIds.GetTime"/>.</summary>
    public string Id { get; }

    /// <summary>The stream the record is chained in: the run id.</summary>
    public string Stream { get; }

    /// <summary>The position in the stream, starting at 1.</summary>
    public int Seq { get; }

    /// <summary>The hash of the previous record in the stream; 64 zeros for the first.</summary>
    public string PrevHash { get; }

    /// <summary>The lowercase hex SHA-256 of the record's canonical JSON without <c>hash</c> and <c>signature</c>.</summary>
    public string Hash { get; }

    /// <summary>The base64url ES256 signature (IEEE P1363 r||s) of the same canonical JSON.</summary>
    public string Signature { get; }

    /// <summary>The id of the key that signed the record.</summary>
    public string KeyId { get; }

    /// <summary>The signature algorithm, "ES256".</summary>
    public string Algorithm { get; }

    /// <summary>When the event happened, from the record's <c>time</c> field in epoch milliseconds.</summary>
    public DateTimeOffset EventTime { get; }

    /// <summary>The event name from <c>nhi.event</c>, one of <see cref="AuditEvents"/>.</summary>
    public string Event { get; }

    public string RunId { get; }

    public string? FindingId { get; }

    public string? GrantId { get; }

    public string? Resource { get; }

    /// <summary>Returns a new, independent copy of the record as a JSON object.</summary>
    public JsonObject ToJsonObject() => JsonNode.Parse(Json)!.AsObject();

    /// <summary>Reads a sealed record from its stored JSON; the JSON is kept exactly as given.</summary>
    /// <exception cref="FormatException">The text is not JSON or lacks a field of a sealed record.</exception>
    public static SignedAuditRecord Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The stored audit record is not valid JSON: {ex.Message}", ex);
        }

        return node is JsonObject record
            ? new SignedAuditRecord(record, json)
            : throw new FormatException("The stored audit record is not a JSON object.");
    }

    /// <summary>Wraps a record that <see cref="AuditChain.Seal"/> has just filled in.</summary>
    internal static SignedAuditRecord FromSealed(JsonObject record) =>
        new(record, JsonCanonicalizer.CanonicalizeToString(record));

    public override string ToString() => $"{Id} ({Event})";

    private static string ReadString(JsonObject record, string name) =>
        ReadOptionalString(record, name)
        ?? throw new FormatException($"The audit record field '{name}' is missing or not a string.");

    private static string? ReadOptionalString(JsonObject record, string name) => JsonRead.String(record, name);

    private static long ReadLong(JsonObject record, string name) =>
        JsonRead.Integer(record, name)
        ?? throw new FormatException($"The audit record field '{name}' is missing or not an integer.");

    private static int ReadInt(JsonObject record, string name) => checked((int)ReadLong(record, name));
}
