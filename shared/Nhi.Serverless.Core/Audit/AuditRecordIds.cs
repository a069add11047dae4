using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Audit record ids: <c>{UTC time yyyyMMddTHHmmssfffZ}-{run id short}-{seq:D4}</c>, such as
/// <c>20250301T101502123Z-3fa9c1d2e4b5-0007</c>. They sort by time as plain strings, which is what
/// time-range queries on a table's row key need.
/// </summary>
/// <remarks>
/// The run id short form is the first 12 hex digits of the SHA-256 of the run id, because run ids can be
/// long and can contain characters that table keys forbid. The record's <c>stream</c> field contains the
/// full run id.
/// </remarks>
public static class AuditRecordIds
{
    /// <summary>The format of the time prefix.</summary>
    public const string TimeFormat = "yyyyMMdd'T'HHmmssfff'Z'";

    /// <summary>The length of the time prefix, such as "20250301T101502123Z".</summary>
    public const int TimeLength = 19;

    /// <summary>The highest sequence number that fits the four-digit id suffix.</summary>
    public const int MaxSeq = 9999;

    private const int ShortRunIdLength = 12;

    /// <summary>Creates the id of the record with sequence number <paramref name="seq"/> in a run.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The sequence number is below 1 or above <see cref="MaxSeq"/>.</exception>
    public static string Create(DateTimeOffset time, string runId, int seq)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(seq, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(seq, MaxSeq);
        return $"{FormatTime(time)}-{ShortRunId(runId)}-{seq.ToString("D4", CultureInfo.InvariantCulture)}";
    }

    /// <summary>Returns the 12-hex-digit short form of a run id used in record ids.</summary>
    public static string ShortRunId(string runId)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(runId)))[..ShortRunIdLength];
    }

    /// <summary>Formats a time as the id prefix; ids of records at or after that time sort at or after it.</summary>
    public static string FormatTime(DateTimeOffset time) =>
        time.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    /// <summary>Reads the UTC time from a record id.</summary>
    /// <exception cref="FormatException">The id does not start with a time in <see cref="TimeFormat"/>.</exception>
    public static DateTimeOffset GetTime(string recordId)
    {
        ArgumentNullException.ThrowIfNull(recordId);
        if (recordId.Length < TimeLength
            || !DateTime.TryParseExact(
                recordId.AsSpan(0, TimeLength),
                TimeFormat,
                CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal,
                out DateTime time))
        {
            throw new FormatException($"'{recordId}' is not an audit record id; expected {{yyyyMMddTHHmmssfffZ}}-{{run id short}}-{{seq}}.");
        }

        return new DateTimeOffset(time, TimeSpan.Zero);
    }
}
