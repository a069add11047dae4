using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Orchestration.Intake;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>Settings of the alert intake endpoints.</summary>
/// <param name="MaxBodyBytes">The largest accepted request body, in bytes.</param>
public sealed record AlertEndpointOptions(long MaxBodyBytes)
{
    public static AlertEndpointOptions Default { get; } = new(1024 * 1024);
}

/// <summary>
/// POST /api/alerts/{source}: reads one alert body, starts a run per actionable finding and returns
/// 202 with a status URL per run, 200 when nothing needed a run, or problem+json naming the bad field.
/// </summary>
public sealed class AlertEndpoint(
    AlertIntake intake, IEnumerable<IAlertParser> parsers, AlertEndpointOptions options, ILogger<AlertEndpoint> logger)
{
    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    private readonly Dictionary<string, IAlertParser> _parsers =
        parsers.ToDictionary(parser => parser.Source, StringComparer.OrdinalIgnoreCase);

    public IReadOnlyCollection<string> Sources => _parsers.Keys;

    public async Task HandleAsync(HttpContext context, string source, DurableTaskClient client)
    {
        if (!_parsers.TryGetValue(source, out IAlertParser? parser))
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "unknown-source", "Unknown alert source",
                $"No parser is registered for source '{Truncate(source)}'.", "source", "one of: " + string.Join(", ", _parsers.Keys.Order()));
            return;
        }

        BodyFormat? format = FormatOf(context.Request.ContentType);
        IJsonLinesAlertParser? linesParser = parser as IJsonLinesAlertParser;
        if (format is null || (format == BodyFormat.JsonLines && linesParser is null))
        {
            string accepted = linesParser is null ? "application/json" : "application/json or application/x-ndjson";
            await Problems.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
                $"Alerts from '{parser.Source}' must be sent as {accepted}.", "Content-Type", accepted);
            return;
        }

        byte[]? body = await ReadBodyAsync(context.Request, options.MaxBodyBytes, context.RequestAborted);
        if (body is null)
        {
            await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "body-too-large", "Body too large",
                $"The request body exceeds {options.MaxBodyBytes} bytes.", "body", $"at most {options.MaxBodyBytes} bytes");
            return;
        }

        AlertParseResult parsed;
        try
        {
            parsed = format == BodyFormat.JsonLines
                ? linesParser!.ParseJsonLines(DecodeUtf8(body))
                : ParseDocument(parser, body);
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

        IntakeResult result = await intake.AcceptAsync(client, parser.Source, parsed, context.RequestAborted);
        await WriteAcceptedAsync(context, result);
    }

    private static Task WriteAcceptedAsync(HttpContext context, IntakeResult result)
    {
        string baseUrl = $"{context.Request.Scheme}://{context.Request.Host}{context.Request.PathBase}";
        var body = new
        {
            source = result.Source,
            runs = result.Runs.Select(run => new
            {
                run.RunId,
                run.FindingId,
                run.Resource,
                run.Duplicate,
                statusUrl = $"{baseUrl}/api/runs/{run.RunId}",
            }),
            skipped = result.Skipped,
        };

        context.Response.StatusCode = result.Runs.Count > 0 ? StatusCodes.Status202Accepted : StatusCodes.Status200OK;
        if (result.Runs.Count > 0)
        {
            context.Response.Headers.Location = $"{baseUrl}/api/runs/{result.Runs[0].RunId}";
        }

        return context.Response.WriteAsJsonAsync(body, HttpJson.Options, context.RequestAborted);
    }

    // Returns null when the body is larger than the limit; reads at most limit + 1 bytes.
    private static async Task<byte[]?> ReadBodyAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
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
            return new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(body);
        }
        catch (System.Text.DecoderFallbackException exception)
        {
            throw new JsonException("The body is not valid UTF-8.", exception);
        }
    }

    private enum BodyFormat
    {
        Json,
        JsonLines,
    }

    private static BodyFormat? FormatOf(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return null;
        }

        string mediaType = contentType.Split(';', 2)[0].Trim().ToLowerInvariant();
        return mediaType switch
        {
            "application/json" => BodyFormat.Json,
            "application/x-ndjson" or "application/jsonl" or "application/jsonlines" or "application/x-jsonlines" => BodyFormat.JsonLines,
            _ when mediaType.EndsWith("+json", StringComparison.Ordinal) => BodyFormat.Json,
            _ => null,
        };
    }

    private static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "...";
}
