using System.Text.Json;
using Nhi.Serverless.Findings;

namespace Nhi.Serverless.Lambdas.Sqs;

/// <summary>
/// Picks the shared parser for an SQS message body by its shape, because a queue carries no content type or
/// route: EventBridge events by detail-type, BatchImportFindings bodies and single ASFF findings to the
/// Security Hub parser, single OCSF findings and arrays of them to the OCSF parser.
/// </summary>
internal sealed class AlertBodyRouter
{
    private const string RawFindingPrefix = "Findings[0]";
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    private readonly IAlertParser _securityHub;
    private readonly IAlertParser _ocsf;

    public AlertBodyRouter(IEnumerable<IAlertParser> parsers)
    {
        var registered = new AlertParsers(parsers);
        _securityHub = registered.Get(SecurityHubAlertParser.SourceName);
        _ocsf = registered.Get(OcsfAlertParser.SourceName);
    }

    /// <summary>Parses the body with the parser its shape calls for.</summary>
    /// <returns>The parser's source name and what it read.</returns>
    /// <exception cref="JsonException">The body is not one well-formed JSON document.</exception>
    /// <exception cref="InvalidAlertException">The body has none of the accepted shapes, or its parser rejected it.</exception>
    public (string Source, AlertParseResult Result) Parse(string body)
    {
        using JsonDocument document = JsonDocument.Parse(body, DocumentOptions);
        JsonElement root = document.RootElement;

        if (root.ValueKind == JsonValueKind.Array || (root.ValueKind == JsonValueKind.Object && IsOcsfFinding(root)))
        {
            return (_ocsf.Source, _ocsf.Parse(root));
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Unrecognized();
        }

        if (root.TryGetProperty("detail-type", out JsonElement detailType) || root.TryGetProperty("detail", out _))
        {
            IAlertParser parser = detailType.ValueKind == JsonValueKind.String && detailType.GetString() == OcsfAlertParser.FindingsImportedV2
                ? _ocsf
                : _securityHub;
            return (parser.Source, parser.Parse(root));
        }

        if (root.TryGetProperty("Findings", out _))
        {
            return (_securityHub.Source, _securityHub.Parse(root));
        }

        if (root.TryGetProperty("SchemaVersion", out _) && root.TryGetProperty("Id", out _))
        {
            return (_securityHub.Source, ParseRawAsffFinding(body));
        }

        throw Unrecognized();
    }

    private static bool IsOcsfFinding(JsonElement root) =>
        root.TryGetProperty("class_uid", out _) || root.TryGetProperty("finding_info", out _);

    // One ASFF finding on its own, as a custom integration may send it, is read as a BatchImportFindings body
    // of one finding. Error paths are mapped back so they name fields of the body itself.
    private AlertParseResult ParseRawAsffFinding(string body)
    {
        try
        {
            return _securityHub.Parse("{\"Findings\":[" + body + "]}");
        }
        catch (InvalidAlertException invalid) when (invalid.Field.StartsWith(RawFindingPrefix, StringComparison.Ordinal))
        {
            string field = invalid.Field.Length == RawFindingPrefix.Length ? "$" : invalid.Field[(RawFindingPrefix.Length + 1)..];
            throw new InvalidAlertException(field, invalid.Expected);
        }
    }

    private static InvalidAlertException Unrecognized() => new(
        "$",
        "must be an EventBridge Security Hub event, a BatchImportFindings body, an ASFF finding, or an OCSF finding or array of OCSF findings");
}
