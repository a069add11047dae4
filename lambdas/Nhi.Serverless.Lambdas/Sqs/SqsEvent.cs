using System.Globalization;
using System.Text.Json;

namespace Nhi.Serverless.Lambdas.Sqs;

/// <summary>One SQS message as the Lambda event source mapping delivers it.</summary>
/// <param name="MessageId">The id that a partial batch response names to have the message retried.</param>
/// <param name="Body">The message body as sent.</param>
/// <param name="EventSourceArn">The queue's ARN; a FIFO queue's name ends in ".fifo".</param>
/// <param name="ReceiveCount">The queue's ApproximateReceiveCount: 1 on the first delivery.</param>
/// <param name="MessageGroupId">The FIFO message group; null on a standard queue.</param>
internal sealed record SqsRecord(string MessageId, string Body, string EventSourceArn, long ReceiveCount, string? MessageGroupId);

/// <summary>The SQS event: the batch of records of one invocation.</summary>
internal sealed record SqsEvent(IReadOnlyList<SqsRecord> Records)
{
    /// <summary>True when the records come from a FIFO queue, whose order a partial batch response must keep.</summary>
    public bool IsFifo => Records.Any(record => record.EventSourceArn.EndsWith(".fifo", StringComparison.Ordinal));

    /// <summary>Reads the event from the invocation payload.</summary>
    /// <exception cref="InvalidSqsEventException">The payload is not an SQS event; no record can be reported, so the invocation fails.</exception>
    public static SqsEvent Read(Stream input)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(input, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException)
        {
            throw new InvalidSqsEventException("$", "a JSON object with a Records array");
        }

        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("Records", out JsonElement records)
                || records.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidSqsEventException("Records", "an array of SQS records");
            }

            var result = new List<SqsRecord>(records.GetArrayLength());
            int index = 0;
            foreach (JsonElement record in records.EnumerateArray())
            {
                result.Add(ReadRecord(record, $"Records[{index}]"));
                index++;
            }

            return new SqsEvent(result);
        }
    }

    private static SqsRecord ReadRecord(JsonElement record, string path)
    {
        if (record.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidSqsEventException(path, "an SQS record object");
        }

        string messageId = RequiredString(record, "messageId", path);
        string body = RequiredString(record, "body", path);
        string eventSource = RequiredString(record, "eventSource", path);
        if (eventSource != "aws:sqs")
        {
            throw new InvalidSqsEventException($"{path}.eventSource", "\"aws:sqs\"");
        }

        string eventSourceArn = RequiredString(record, "eventSourceARN", path);
        long receiveCount = 1;
        string? messageGroupId = null;
        if (record.TryGetProperty("attributes", out JsonElement attributes) && attributes.ValueKind == JsonValueKind.Object)
        {
            if (OptionalString(attributes, "ApproximateReceiveCount") is { } countText
                && long.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out long count))
            {
                receiveCount = count;
            }

            messageGroupId = OptionalString(attributes, "MessageGroupId");
        }

        return new SqsRecord(messageId, body, eventSourceArn, receiveCount, messageGroupId);
    }

    private static string RequiredString(JsonElement element, string name, string path) =>
        OptionalString(element, name) is { Length: > 0 } value ? value : throw new InvalidSqsEventException($"{path}.{name}", "a non-empty string");

    private static string? OptionalString(JsonElement element, string name) =>
        element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>Thrown when the invocation payload is not an SQS event. The message names the field, never its value.</summary>
internal sealed class InvalidSqsEventException(string field, string expected)
    : Exception($"Invalid SQS event: field '{field}' must be {expected}.");
