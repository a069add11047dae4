using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Orchestration.Intake;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>Settings of the alert intake endpoints.</summary>
/// <param name="MaxBodyBytes">The largest accepted request body, in bytes.</param>
public sealed record AlertEndpointOptions(long MaxBodyBytes)
{
    public static AlertEndpointOptions Default { get; } = new(1024 * 1024);
}

/// <summary>
/// POST /api/alerts/{source}: authenticates and reads one alert body, starts a run per actionable finding and
/// returns 202 with a status URL per run, 200 when nothing needed a run, or problem+json naming the bad field.
/// </summary>
public sealed class AlertEndpoint(
    AlertIntake intake,
    IEnumerable<IAlertParser> parsers,
    AlertEndpointOptions options,
    ILogger<AlertEndpoint> logger,
    EdgeGate? gate = null)
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    private static readonly string[] JsonLinesMediaTypes =
        ["application/x-ndjson", "application/jsonl", "application/jsonlines", "application/x-jsonlines"];

    private readonly Dictionary<string, IAlertParser> _parsers =
        parsers.ToDictionary(parser => parser.Source, StringComparer.OrdinalIgnoreCase);

    private readonly EdgeGate _gate = gate ?? new EdgeGate(
        new EdgeOptions(), options, new WebhookAuthenticator(new EdgeOptions(), TimeProvider.System), Microsoft.Extensions.Logging.Abstractions.NullLogger<EdgeGate>.Instance);

    public IReadOnlyCollection<string> Sources => _parsers.Keys;

    public Task HandleAsync(HttpContext context, string source, DurableTaskClient client) =>
        HandleAsync(context, source, client, EdgeCaller.Direct);

    public async Task HandleAsync(HttpContext context, string source, DurableTaskClient client, EdgeCaller caller)
    {
        if (!_parsers.TryGetValue(source, out IAlertParser? parser))
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "unknown-source", "Unknown alert source",
                $"No parser is registered for source '{Truncate(source)}'.", "source", "one of: " + string.Join(", ", _parsers.Keys.Order()));
            return;
        }

        bool jsonLines = EdgeGate.AcceptsMediaType(context.Request.ContentType, JsonLinesMediaTypes);
        IJsonLinesAlertParser? linesParser = parser as IJsonLinesAlertParser;
        if ((!jsonLines && !EdgeGate.AcceptsMediaType(context.Request.ContentType, ["application/json"])) || (jsonLines && linesParser is null))
        {
            string accepted = linesParser is null ? "application/json" : "application/json or application/x-ndjson";
            await Problems.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
                $"Alerts from '{parser.Source}' must be sent as {accepted}.", "Content-Type", accepted);
            return;
        }

        byte[]? body = await _gate.ReadAuthenticatedAsync(context, parser.Source, caller);
        if (body is null)
        {
            return;
        }

        AlertParseResult parsed;
        try
        {
            parsed = jsonLines ? linesParser!.ParseJsonLines(DecodeUtf8(body)) : ParseDocument(parser, body);
        }
        catch (JsonException)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "malformed-json", "Malformed JSON",
                "The request body is not a well-formed JSON document.", "$", "a well-formed JSON document");
            return;
        }
        catch (InvalidAlertException invalid)
        {
            logger.LogInformation("Rejected alert from {Source}: field {Field} {Expected}", source, invalid.Field, invalid.Expected);
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-alert", "Invalid alert",
                invalid.Message, invalid.Field, invalid.Expected);
            return;
        }

        if (!await IntakeResponses.CheckBatchLengthAsync(context, parsed, _gate.Options.MaxBatchLength, "$"))
        {
            return;
        }

        await IntakeResponses.AcceptAndWriteAsync(context, intake, client, parser.Source, parsed, logger);
    }

    private static AlertParseResult ParseDocument(IAlertParser parser, byte[] body)
    {
        using JsonDocument document = JsonDocument.Parse(body, DocumentOptions);
        return parser.Parse(document.RootElement);
    }

    // Invalid UTF-8 surfaces as the same malformed-body problem as invalid JSON.
    private static string DecodeUtf8(byte[] body)
    {
        try
        {
            return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(body);
        }
        catch (DecoderFallbackException exception)
        {
            throw new JsonException("The body is not valid UTF-8.", exception);
        }
    }

    private static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "...";
}
