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
