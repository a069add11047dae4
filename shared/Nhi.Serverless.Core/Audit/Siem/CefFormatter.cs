using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit.Siem;

/// <summary>
/// Formats an audit record as an ArcSight Common Event Format (CEF) version 0 event:
/// <c>CEF:0|Vendor|Product|Version|Signature ID|Name|Severity|Extension</c>.
/// </summary>
/// <remarks>
/// Escaping follows the CEF specification. In header fields a backslash becomes <c>\\</c> and a pipe
/// <c>\|</c>; the specification does not allow line breaks there, so they become spaces. In extension
/// values a backslash becomes <c>\\</c>, an equals sign <c>\=</c>, a line feed <c>\n</c> and a carriage
/// return <c>\r</c>; pipes need no escape. The signature ID is the <c>nhi.event</c> name and
/// <c>externalId</c> is the record id, the stable event id a SIEM can use to drop repeated deliveries.
/// </remarks>
public static class CefFormatter
{
    public const string DeviceVendor = "Nhi.Serverless";
    public const string DeviceProduct = "Nhi.Serverless";

    /// <summary>The longest Name header field; longer messages are cut, and the full text stays in the signed record.</summary>
    public const int MaxNameLength = 512;

    /// <summary>The longest <c>msg</c> value, the length ArcSight gives that field.</summary>
    public const int MaxMessageLength = 1023;

    private static readonly string DeviceVersion = typeof(CefFormatter).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>Formats one record as a CEF line without a line break.</summary>
    public static string Format(SignedAuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        JsonObject json = record.ToJsonObject();
        string message = JsonRead.String(json, "message") ?? record.Event;
        int severity = MapSeverity(JsonRead.Integer(json, "severity_id"));

        var cef = new StringBuilder(512);
        cef.Append("CEF:0|")
            .Append(EscapeHeader(DeviceVendor)).Append('|')
            .Append(EscapeHeader(DeviceProduct)).Append('|')
            .Append(EscapeHeader(DeviceVersion)).Append('|')
            .Append(EscapeHeader(record.Event)).Append('|')
            .Append(EscapeHeader(Truncate(message, MaxNameLength))).Append('|')
            .Append(severity.ToString(CultureInfo.InvariantCulture)).Append('|');

        var extension = new List<(string Key, string? Value)>
        {
            ("rt", record.EventTime.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)),
            ("externalId", record.Id),
            ("cat", JsonRead.String(json, "class_name")),
            ("act", JsonRead.String(json, "activity_name")),
            ("outcome", JsonRead.String(json, "status")),
            ("msg", Truncate(message, MaxMessageLength)),
            ("cs1Label", "runId"), ("cs1", record.RunId),
            ("cs2Label", "findingId"), ("cs2", record.FindingId),
            ("cs3Label", "grantId"), ("cs3", record.GrantId),
            ("cs4Label", "resource"), ("cs4", record.Resource),
            ("cs5Label", "recordHash"), ("cs5", record.Hash),
            ("cs6Label", "signingKeyId"), ("cs6", record.KeyId),
        };

        bool first = true;
        for (int i = 0; i < extension.Count; i++)
        {
            (string key, string? value) = extension[i];

            // A label without its value is left out with the value.
            if (value is null || (key.EndsWith("Label", StringComparison.Ordinal) && extension[i + 1].Value is null))
            {
                continue;
            }

            if (!first)
            {
                cef.Append(' ');
            }

            cef.Append(key).Append('=').Append(EscapeExtension(value));
            first = false;
        }

        return cef.ToString();
    }

    /// <summary>Escapes a header field: backslash and pipe get a backslash, and line breaks become spaces.</summary>
    public static string EscapeHeader(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var escaped = new StringBuilder(value.Length);
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': escaped.Append(@"\\"); break;
                case '|': escaped.Append(@"\|"); break;
                case '\r' or '\n': escaped.Append(' '); break;
                default: escaped.Append(c); break;
            }
        }

        return escaped.ToString();
    }

    /// <summary>Escapes an extension value: backslash and equals get a backslash, and line feed and carriage return become \n and \r.</summary>
    public static string EscapeExtension(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var escaped = new StringBuilder(value.Length);
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': escaped.Append(@"\\"); break;
                case '=': escaped.Append(@"\="); break;
                case '\n': escaped.Append(@"\n"); break;
                case '\r': escaped.Append(@"\r"); break;
                default: escaped.Append(c); break;
            }
        }

        return escaped.ToString();
    }

    /// <summary>Maps OCSF severity_id to CEF's 0 to 10: Informational 1, Low 3, Medium 5, High 7, Critical 9, Fatal 10, anything else 0.</summary>
    public static int MapSeverity(long? ocsfSeverityId) => ocsfSeverityId switch
    {
        1 => 1,
        2 => 3,
        3 => 5,
        4 => 7,
        5 => 9,
        6 => 10,
        _ => 0,
    };

    private static string Truncate(string value, int maxLength) =>
        value.Length <= maxLength ? value : value[..(char.IsHighSurrogate(value[maxLength - 1]) ? maxLength - 1 : maxLength)];
}
