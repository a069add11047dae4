using System.Globalization;
using System.Text.RegularExpressions;

namespace Nhi.Serverless.Findings;

/// <summary>Parsers for the date-time and epoch formats that finding sources write.</summary>
internal static partial class AlertTimestamps
{
    /// <summary>Epoch values below this are read as seconds, larger ones as milliseconds.</summary>
    /// <remarks>OCSF <c>timestamp_t</c> is milliseconds, but Prowler (checked at version 5.40.0) writes <c>time</c>
    /// and <c>created_time</c> in seconds. 10^11 milliseconds is March 1973 and 10^11 seconds is the year 5138,
    /// so no real finding time is ambiguous.</remarks>
    private const long SecondsThreshold = 100_000_000_000;

    public const string Rfc3339Expected =
        "must be an RFC 3339 date-time with a UTC offset, such as 2025-06-12T09:41:27.318Z";

    /// <summary>Result of <see cref="TryParseRfc3339"/>.</summary>
    public enum DateTimeForm
    {
        Invalid,
        WithOffset,
        WithoutOffset,
    }

    /// <summary>Parses an RFC 3339 date-time and reports a value without an offset instead of guessing its zone.</summary>
    /// <remarks>Also accepts a space for <c>T</c>, as the OCSF <c>datetime_t</c> examples use, and an offset without a
    /// colon (<c>-0700</c>), which the Security Hub API reference lists as accepted input. Fractions beyond
    /// 100 ns (seven digits) are truncated.</remarks>
    public static DateTimeForm TryParseRfc3339(string text, out DateTimeOffset value)
    {
        value = default;

        var match = Rfc3339Pattern().Match(text);
        if (!match.Success)
        {
            return DateTimeForm.Invalid;
        }

        var offsetText = match.Groups["offset"].Value;
        if (!TryReadOffset(offsetText, out var offset))
        {
            return DateTimeForm.Invalid;
        }

        try
        {
            var local = new DateTime(
                Number(match, "year"),
                Number(match, "month"),
                Number(match, "day"),
                Number(match, "hour"),
                Number(match, "minute"),
                Number(match, "second"),
                DateTimeKind.Unspecified);
            local = local.AddTicks(FractionTicks(match.Groups["fraction"].Value));
            value = new DateTimeOffset(local, offset);
        }
        catch (ArgumentOutOfRangeException)
        {
            // Month 13, February 30, hour 24, second 60 (a leap second) or an offset beyond ±14:00.
            return DateTimeForm.Invalid;
        }

        return offsetText.Length == 0 ? DateTimeForm.WithoutOffset : DateTimeForm.WithOffset;
    }

    /// <summary>Converts an epoch value in seconds or milliseconds, and returns false outside the years 1970 to 9999.</summary>
    public static bool TryFromEpoch(long epoch, out DateTimeOffset value)
    {
        value = default;

        if (epoch <= 0)
        {
            return false;
        }

        var milliseconds = epoch < SecondsThreshold ? epoch * 1000 : epoch;
        if (milliseconds > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            return false;
        }

        value = DateTimeOffset.FromUnixTimeMilliseconds(milliseconds);
        return true;
    }

    private static int Number(Match match, string group) =>
        int.Parse(match.Groups[group].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture);

    private static long FractionTicks(string fraction)
    {
        if (fraction.Length == 0)
        {
            return 0;
        }

        var digits = fraction.Length > 7 ? fraction[..7] : fraction.PadRight(7, '0');
        return long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture);
    }

    private static bool TryReadOffset(string text, out TimeSpan offset)
    {
        offset = TimeSpan.Zero;

        if (text.Length == 0 || text is "Z" or "z")
        {
            return true;
        }

        var sign = text[0] == '-' ? -1 : 1;
        var digits = text[1..].Replace(":", "", StringComparison.Ordinal);
        var hours = int.Parse(digits.AsSpan(0, 2), NumberStyles.None, CultureInfo.InvariantCulture);
        var minutes = int.Parse(digits.AsSpan(2, 2), NumberStyles.None, CultureInfo.InvariantCulture);
        if (minutes > 59)
        {
            return false;
        }

        offset = sign * new TimeSpan(hours, minutes, 0);
        return true;
    }

    // The pattern uses [0-9] because \d also matches non-ASCII digits, and \z because $ also matches before a trailing newline.
    [GeneratedRegex(
        @"^(?<year>[0-9]{4})-(?<month>[0-9]{2})-(?<day>[0-9]{2})[Tt ](?<hour>[0-9]{2}):(?<minute>[0-9]{2}):(?<second>[0-9]{2})(?:\.(?<fraction>[0-9]{1,9}))?(?<offset>[Zz]|[+-][0-9]{2}:?[0-9]{2})?\z",
        RegexOptions.CultureInvariant)]
    private static partial Regex Rfc3339Pattern();
}
