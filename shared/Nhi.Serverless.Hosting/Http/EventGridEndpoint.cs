using System.Text.Json;
using Azure.Messaging;
using Azure.Messaging.EventGrid;
using Azure.Messaging.EventGrid.SystemEvents;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Orchestration.Intake;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>
/// Event Grid delivery to /api/eventgrid/{source}: each event's data is an alert body for the parser of
/// {source}, in the Event Grid schema (always a batch) or CloudEvents 1.0. CloudEvents come in structured content mode
/// (one event or a batch) or in binary content mode, where the ce-* headers carry the attributes and the body is the
/// data.
/// </summary>
/// <remarks>
/// <para>The subscription validation handshake (an Event Grid schema SubscriptionValidationEvent, answered 200 with
/// its validationCode) and the CloudEvents abuse-protection OPTIONS request (answered with WebHook-Allowed-Origin)
/// are answered before authentication, because they start nothing and reveal nothing. Events are authenticated
/// with the "eventgrid" source's settings, typically a token that the subscription sends as a delivery attribute
/// header.</para>
/// <para>Event Grid treats 200 to 204 as delivered and retries 503; it does not retry 400, 401 or 413.</para>
/// </remarks>
public sealed class EventGridEndpoint(
    AlertIntake intake, IEnumerable<IAlertParser> parsers, EdgeGate gate, ILogger<EventGridEndpoint> logger)
{
    /// <summary>The source name whose settings authenticate Event Grid deliveries.</summary>
    public const string AuthSource = "eventgrid";

    private const string ValidationEventType = "Microsoft.EventGrid.SubscriptionValidationEvent";

    private static readonly string[] MediaTypes =
        ["application/json", "application/cloudevents+json", "application/cloudevents-batch+json"];

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    // The context attributes that the CloudEvents 1.0 HTTP binding requires in binary content mode, besides ce-specversion.
    private static readonly string[] RequiredBinaryHeaders = ["ce-id", "ce-source", "ce-type"];

    private readonly Dictionary<string, IAlertParser> _parsers =
        parsers.ToDictionary(parser => parser.Source, StringComparer.OrdinalIgnoreCase);

    /// <summary>OPTIONS: the CloudEvents 1.0 webhook abuse-protection handshake.</summary>
    public async Task HandleOptionsAsync(HttpContext context)
    {
        string? origin = context.Request.Headers["WebHook-Request-Origin"].FirstOrDefault();
        if (string.IsNullOrWhiteSpace(origin))
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "missing-origin", "Missing WebHook-Request-Origin",
                "A CloudEvents abuse-protection request must carry the WebHook-Request-Origin header.", "WebHook-Request-Origin", "the sender's host name");
            return;
        }

        if (!gate.Options.EventGridAllowedOrigins.Contains(origin.Trim(), StringComparer.OrdinalIgnoreCase))
        {
            logger.LogWarning("Refused CloudEvents abuse-protection handshake from an origin that is not allowed");
            await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, "origin-not-allowed", "Origin not allowed",
                "This endpoint accepts deliveries only from the configured origins (Edge:EventGrid:AllowedOrigins).",
                "WebHook-Request-Origin", "one of: " + string.Join(", ", gate.Options.EventGridAllowedOrigins));
            return;
        }

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.Headers["WebHook-Allowed-Origin"] = origin.Trim();
        context.Response.Headers["WebHook-Allowed-Rate"] = "*";
        context.Response.Headers.Allow = "POST, OPTIONS";
    }

    /// <summary>POST: a batch of Event Grid events or CloudEvents, or a subscription validation event.</summary>
    public async Task HandleAsync(HttpContext context, string source, DurableTaskClient client, EdgeCaller caller)
    {
        if (!_parsers.TryGetValue(source, out IAlertParser? parser))
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "unknown-source", "Unknown alert source",
                "No parser is registered for this source.", "source", "one of: " + string.Join(", ", _parsers.Keys.Order()));
            return;
        }

        if (!EdgeGate.AcceptsMediaType(context.Request.ContentType, MediaTypes))
        {
            string accepted = string.Join(" or ", MediaTypes);
            await Problems.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
                $"Event Grid deliveries must be sent as {accepted}.", "Content-Type", accepted);
            return;
        }

        // The handshake is read before authentication; a body too large for it is left to the authenticated path.
        byte[]? body = await gate.ReadAuthenticatedAsync(context, AuthSource, caller, authenticate: false);
        if (body is null)
        {
            return;
        }

        EventBatch batch;
        try
        {
            batch = IsBinaryCloudEvent(context.Request) ? ReadBinaryCloudEvent(context.Request, body) : ReadBatch(body);
        }
        catch (InvalidAlertException invalid)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-event", "Invalid event", invalid.Message, invalid.Field, invalid.Expected);
            return;
        }

        if (batch.ValidationCode is { } code)
        {
            logger.LogInformation("Answered the Event Grid subscription validation handshake for source {Source}", parser.Source);
            await context.Response.WriteAsJsonAsync(new { validationResponse = code }, HttpJson.Options, context.RequestAborted);
            return;
        }

        if (!await gate.AuthenticateReadBodyAsync(context, AuthSource, body, caller))
        {
            return;
        }

        if (batch.Data.Count > gate.Options.MaxBatchLength)
        {
            await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "batch-too-large", "Batch too large",
                $"The delivery carries {batch.Data.Count} events; at most {gate.Options.MaxBatchLength} are accepted per request.",
                "$", $"at most {gate.Options.MaxBatchLength} events");
            return;
        }

        AlertParseResult parsed;
        try
        {
            parsed = ParseEvents(parser, batch);
        }
        catch (InvalidAlertException invalid)
        {
            logger.LogInformation("Rejected Event Grid delivery for {Source}: field {Field} {Expected}", parser.Source, invalid.Field, invalid.Expected);
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-alert", "Invalid alert", invalid.Message, invalid.Field, invalid.Expected);
            return;
        }

        if (!await IntakeResponses.CheckBatchLengthAsync(context, parsed, gate.Options.MaxBatchLength, "$"))
        {
            return;
        }

        await IntakeResponses.AcceptAndWriteAsync(context, intake, client, parser.Source, parsed, logger);
    }

    /// <summary>The events of one delivery: each event's data and its JSON path, or the validation code.</summary>
    private sealed record EventBatch(IReadOnlyList<(BinaryData Data, string Path)> Data, string? ValidationCode);

    private static EventBatch ReadBatch(byte[] body)
    {
        JsonValueKind rootKind;
        bool cloudEvents;
        try
        {
            using JsonDocument document = JsonDocument.Parse(body, DocumentOptions);
            rootKind = document.RootElement.ValueKind;
            JsonElement first = rootKind == JsonValueKind.Array && document.RootElement.GetArrayLength() > 0
                ? document.RootElement[0]
                : document.RootElement;
            cloudEvents = first.ValueKind == JsonValueKind.Object && first.TryGetProperty("specversion", out _);
        }
        catch (JsonException)
        {
            throw new InvalidAlertException("$", "must be one complete JSON document: an Event Grid event array, a CloudEvent or a CloudEvents array");
        }

        if (rootKind is not (JsonValueKind.Array or JsonValueKind.Object))
        {
            throw new InvalidAlertException("$", "must be an Event Grid event array, a CloudEvent object or a CloudEvents array");
        }

        return cloudEvents ? ReadCloudEvents(body) : ReadEventGridEvents(body, rootKind);
    }

    private static EventBatch ReadEventGridEvents(byte[] body, JsonValueKind rootKind)
    {
        if (rootKind != JsonValueKind.Array)
        {
            throw new InvalidAlertException("$", "must be a JSON array of Event Grid events, or a CloudEvent with specversion");
        }

        EventGridEvent[] events;
        try
        {
            events = EventGridEvent.ParseMany(BinaryData.FromBytes(body));
        }
        catch (Exception error) when (error is ArgumentException or JsonException or FormatException or InvalidOperationException)
        {
            throw new InvalidAlertException("$", "must be Event Grid events with id, subject, eventType, eventTime, dataVersion and data");
        }

        List<(BinaryData, string)> data = [];
        for (int index = 0; index < events.Length; index++)
        {
            EventGridEvent gridEvent = events[index];
            if (gridEvent.EventType == ValidationEventType)
            {
                return new EventBatch([], ValidationCodeOf(gridEvent, index));
            }

            data.Add((gridEvent.Data ?? throw new InvalidAlertException($"[{index}].data", "is missing; each event must carry an alert body"), $"[{index}].data"));
        }

        return new EventBatch(data, null);
    }

    private static string ValidationCodeOf(EventGridEvent gridEvent, int index)
    {
        try
        {
            if (gridEvent.TryGetSystemEventData(out object? systemData)
                && systemData is SubscriptionValidationEventData validation
                && !string.IsNullOrEmpty(validation.ValidationCode))
            {
                return validation.ValidationCode;
            }
        }
        catch (Exception error) when (error is JsonException or InvalidOperationException or FormatException)
        {
            // Falls through to the error below, which names the field.
        }

        throw new InvalidAlertException($"[{index}].data.validationCode", "is missing; a subscription validation event must carry a validation code");
    }

    private static EventBatch ReadCloudEvents(byte[] body)
    {
        CloudEvent[] events;
        try
        {
            events = CloudEvent.ParseMany(BinaryData.FromBytes(body), skipValidation: false);
        }
        catch (Exception error) when (error is ArgumentException or JsonException or FormatException or InvalidOperationException)
        {
            throw new InvalidAlertException("$", "must be CloudEvents 1.0 with specversion, id, source, type and data");
        }

        List<(BinaryData, string)> data = [];
        for (int index = 0; index < events.Length; index++)
        {
            string path = events.Length == 1 && body.AsSpan().TrimStart(" \t\r\n"u8).StartsWith("{"u8) ? "data" : $"[{index}].data";
            data.Add((events[index].Data ?? throw new InvalidAlertException(path, "is missing; each CloudEvent must carry an alert body in data"), path));
        }

        return new EventBatch(data, null);
    }

    // A CloudEvent in binary content mode has its attributes in ce-* headers and a media type other than the
    // structured ones (application/cloudevents+json and application/cloudevents-batch+json).
    private static bool IsBinaryCloudEvent(HttpRequest request) =>
        request.Headers.ContainsKey("ce-specversion")
        && !EdgeGate.AcceptsMediaType(request.ContentType, ["application/cloudevents+json", "application/cloudevents-batch+json"]);

    private static EventBatch ReadBinaryCloudEvent(HttpRequest request, byte[] body)
    {
        if (request.Headers["ce-specversion"].ToString().Trim() != "1.0")
        {
            throw new InvalidAlertException("ce-specversion", "must be 1.0");
        }

        foreach (string header in RequiredBinaryHeaders)
        {
            if (string.IsNullOrWhiteSpace(request.Headers[header].ToString()))
            {
                throw new InvalidAlertException(header, "is missing; a CloudEvent in binary content mode carries ce-id, ce-source and ce-type headers");
            }
        }

        // The body is the event's data, so a field in it is named from the body's root.
        return new EventBatch([(BinaryData.FromBytes(body), "$")], null);
    }

    private static AlertParseResult ParseEvents(IAlertParser parser, EventBatch batch)
    {
        List<Finding> actionable = [];
        List<SkippedFinding> skipped = [];
        foreach ((BinaryData data, string path) in batch.Data)
        {
            AlertParseResult one;
            try
            {
                using JsonDocument document = JsonDocument.Parse(data.ToMemory(), DocumentOptions);
                one = parser.Parse(document.RootElement);
            }
            catch (JsonException)
            {
                throw new InvalidAlertException(path, "must be one complete JSON document holding an alert body");
            }
            catch (InvalidAlertException invalid)
            {
                throw new InvalidAlertException(FieldOf(path, invalid.Field), invalid.Expected);
            }

            actionable.AddRange(one.Actionable);
            skipped.AddRange(one.Skipped);
        }

        return new AlertParseResult(actionable, skipped);
    }

    // Names a field of an event's data by the data's path in the request, such as "[0].data.issue.id".
    private static string FieldOf(string dataPath, string field)
    {
        if (field == "$")
        {
            return dataPath;
        }

        return dataPath == "$" ? field : $"{dataPath}.{field}";
    }
}
