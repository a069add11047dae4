using System.Globalization;
using System.Text;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Checks the continuation token of a time-range query before it goes to Table Storage, so an edited token
/// or one of another range fails instead of reading as the last page.
/// </summary>
/// <remarks>
/// The token is the Azure SDK's own: the service's next partition key and next row key, separated by a space.
/// Azurite 3 writes each key as plain base64, which the tests run. Azure Storage writes "1!{length}!{base64}"
/// with '-' in place of '=' padding.
/// NOTE: no test runs the Azure Storage form, and the check assumes the service's next keys are those of a record
/// inside the range, as Azurite's are. A token that points at a key outside the range is rejected.
/// </remarks>
internal static class AuditTimeContinuation
{
    /// <summary>Returns when the token resumes at a record of the records table inside [from, to).</summary>
    /// <exception cref="FormatException">The token is not two encoded keys, or they are not a date partition and a record id inside the range.</exception>
    public static void Check(string token, DateTimeOffset from, DateTimeOffset to)
    {
        string[] keys = token.Split(' ');
        if (keys.Length != 2 || DecodeKey(keys[0]) is not { } partitionKey || DecodeKey(keys[1]) is not { } rowKey)
        {
            throw AuditIndexContinuation.Invalid(token, "it is not a time-range query token");
        }

        if (!DateTime.TryParseExact(partitionKey, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            throw AuditIndexContinuation.Invalid(token, "its next partition is not a date of the records table");
        }

        DateTimeOffset time;
        try
        {
            time = AuditRecordIds.GetTime(rowKey);
        }
        catch (FormatException)
        {
            throw AuditIndexContinuation.Invalid(token, "its next row is not an audit record id");
        }

        if (AuditTableKeys.RecordPartition(rowKey) != partitionKey)
        {
            throw AuditIndexContinuation.Invalid(token, "its next row is not in its next partition");
        }

        if (time < from || time >= to)
        {
            throw AuditIndexContinuation.Invalid(token, "it resumes outside the requested time range");
        }
    }

    /// <summary>Decodes one key of the token, or returns null when it is neither of the service's encodings.</summary>
    private static string? DecodeKey(string encoded)
    {
        string base64 = encoded;
        if (encoded.StartsWith("1!", StringComparison.Ordinal))
        {
            string[] parts = encoded.Split('!');
            if (parts.Length != 3 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int length) || length != parts[2].Length)
            {
                return null;
            }

            base64 = parts[2].Replace('-', '=');
        }

        byte[] bytes = new byte[base64.Length];
        if (base64.Length == 0 || !Convert.TryFromBase64String(base64, bytes, out int written))
        {
            return null;
        }

        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes, 0, written);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
