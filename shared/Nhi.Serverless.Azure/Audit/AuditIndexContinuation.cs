using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Where a query by run, resource, finding or grant resumes: the smallest RowKey of the index entities that may
/// still list records after the page, and the last record id the page returned.
/// </summary>
/// <remarks>
/// The token is base64url text of "i1|{partition tag}|{resume RowKey}|{last record id}", where the tag is the first
/// 8 hex digits of the SHA-256 of the index partition key. The tag rejects a token of another query. It is no
/// signature: a caller who edits a token can only skip records of the same query, which it may read anyway.
/// </remarks>
internal sealed record AuditIndexContinuation(string ResumeRowKey, string LastRecordId)
{
    private const string Version = "i1";
    private const char Separator = '|';
    private const int MaxTokenCharactersInMessage = 80;

    /// <summary>Encodes the token for a query of <paramref name="partitionKey"/>.</summary>
    public string Encode(string partitionKey) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Join(Separator, Version, PartitionTag(partitionKey), ResumeRowKey, LastRecordId)));

    /// <summary>Decodes a token that <see cref="Encode"/> wrote for the same partition.</summary>
    /// <exception cref="FormatException">The token is not base64url, has another layout or version, belongs to another query, or does not contain record ids.</exception>
    public static AuditIndexContinuation Decode(string token, string partitionKey)
    {
        string[] parts = DecodeText(token).Split(Separator);
        if (parts.Length != 4 || parts[0] != Version)
        {
            throw Invalid(token, "it is not an index query token");
        }

        if (parts[1] != PartitionTag(partitionKey))
        {
            throw Invalid(token, "it belongs to a query of another run, resource, finding or grant");
        }

        RequireRecordId(token, parts[2]);
        RequireRecordId(token, parts[3]);
        return new AuditIndexContinuation(parts[2], parts[3]);
    }

    private static string DecodeText(string token)
    {
        try
        {
            return Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token));
        }
        catch (FormatException)
        {
            throw Invalid(token, "it is not base64url text");
        }
    }

    private static void RequireRecordId(string token, string value)
    {
        try
        {
            AuditRecordIds.GetTime(value);
        }
        catch (FormatException)
        {
            throw Invalid(token, "it does not contain audit record ids");
        }
    }

    private static string PartitionTag(string partitionKey) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(partitionKey)))[..8];

    /// <summary>Returns the error for a continuation token of any audit query that cannot be used, quoting at most 80 characters of it.</summary>
    internal static FormatException Invalid(string token, string reason)
    {
        string quoted = token.Length <= MaxTokenCharactersInMessage ? token : token[..MaxTokenCharactersInMessage] + "...";
        return new FormatException(
            $"Invalid continuation token '{quoted}': {reason}. Pass the continuation token of the previous page of the same query, or none to start at the first record.");
    }
}
