using System.Text.Json;

namespace Nhi.Serverless.Findings;

/// <summary>Reads one source's alert body into normalized findings.</summary>
public interface IAlertParser
{
    /// <summary>The source name used in routes and logs, such as "securityhub" or "ocsf".</summary>
    string Source { get; }

    /// <summary>Parses an alert body.</summary>
    /// <exception cref="InvalidAlertException">The body does not have the documented shape.</exception>
    AlertParseResult Parse(JsonElement body);
}

/// <summary>A parser that also reads JSON Lines: one alert document per line, as Prowler can write them.</summary>
public interface IJsonLinesAlertParser : IAlertParser
{
    /// <summary>Parses every non-blank line; an error names the line, such as "line 3.finding_info.uid".</summary>
    /// <exception cref="InvalidAlertException">A line does not have the documented shape.</exception>
    AlertParseResult ParseJsonLines(string text);
}
