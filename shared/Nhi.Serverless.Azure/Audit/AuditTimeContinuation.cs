using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Where a time-range query resumes: after the last record id the previous page returned. Record ids sort by time
/// across the records table's date partitions, so the next page is the records after that id, and the token does not
/// depend on the form of the storage service's own continuation token.
/// </summary>
/// <remarks>
/// The token is base64url text of "t1|{range tag}|{last record id}", where the tag is the first 8 hex digits of the
/// SHA-256 of the range. The tag rejects a token of another range. It is no signature: a caller who edits a token can
/// only skip records of the same range, which it may read anyway.
/// </remarks>
internal static class AuditTimeContinuation
{
    private const string Version = "t1";
    private const char Separator = '|';

    /// <summary>Encodes the token that resumes a query of the range from <paramref name="from"/> up to <paramref name="to"/> after <paramref name="lastRecordId"/>.</summary>
    public static string Encode(DateTimeOffset from, DateTimeOffset to, string lastRecordId) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Join(Separator, Version, RangeTag(from, to), lastRecordId)));

    /// <summary>Decodes a token that <see cref="Encode"/> wrote for the same range and returns the last record id.</summary>
    /// <exception cref="FormatException">The token is not one of this range, or its record id is invalid or outside the range.</exception>
    public static string Decode(string token, DateTimeOffset from, DateTimeOffset to)
    {
        string[] parts = DecodeText(token)?.Split(Separator) ?? [];
        if (parts.Length != 3 || parts[0] != Version)
        {
            throw AuditIndexContinuation.Invalid(token, "it is not a time-range query token");
        }

        if (parts[1] != RangeTag(from, to))
        {
            throw AuditIndexContinuation.Invalid(token, "it belongs to a query of another time range");
        }

        DateTimeOffset time;
        try
        {
            time = AuditRecordIds.GetTime(parts[2]);
        }
        catch (FormatException)
        {
            throw AuditIndexContinuation.Invalid(token, "it does not contain an audit record id");
        }

        if (time < from || time >= to)
        {
            throw AuditIndexContinuation.Invalid(token, "it resumes outside the requested time range");
        }

        return parts[2];
    }

    private static string? DecodeText(string token)
    {
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(Base64Url.DecodeFromChars(token));
        }
        catch (Exception invalid) when (invalid is FormatException or DecoderFallbackException)
        {
            return null;
        }
    }

    private static string RangeTag(DateTimeOffset from, DateTimeOffset to)
    {
        string range = string.Create(CultureInfo.InvariantCulture, $"{from.UtcTicks}-{to.UtcTicks}");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(range)))[..8];
    }
}
