namespace Nhi.Serverless.Findings;

/// <summary>Parsing of alert bodies that arrive as text.</summary>
public static class AlertParserExtensions
{
    /// <summary>Parses an alert body given as JSON text.</summary>
    /// <exception cref="InvalidAlertException">The text is not one complete JSON document (the field is "$"), or the
    /// document does not have the shape the parser's source documents.</exception>
    public static AlertParseResult Parse(this IAlertParser parser, string body)
    {
        ArgumentNullException.ThrowIfNull(parser);
        ArgumentNullException.ThrowIfNull(body);

        return AlertJson.ReadDocument(body, AlertJson.Root, parser.Parse);
    }
}
