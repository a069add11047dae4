using System.Text.Json;

namespace Nhi.Serverless.Lambdas.Sqs;

/// <summary>
/// The partial batch response, {"batchItemFailures":[{"itemIdentifier":"MESSAGE_ID"}]}. Lambda deletes every
/// record of the batch except the ones named, and the queue delivers those again after the visibility timeout.
/// The event source mapping reads the response only with FunctionResponseTypes set to ReportBatchItemFailures.
/// </summary>
internal static class BatchResponse
{
    public static MemoryStream Write(IEnumerable<string> failedMessageIds)
    {
        var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("batchItemFailures");
            foreach (string messageId in failedMessageIds)
            {
                writer.WriteStartObject();
                writer.WriteString("itemIdentifier", messageId);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        stream.Position = 0;
        return stream;
    }
}
