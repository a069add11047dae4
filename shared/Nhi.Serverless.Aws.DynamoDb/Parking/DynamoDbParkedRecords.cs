using System.Security.Cryptography;
using System.Text;
using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using static Nhi.Serverless.Aws.DynamoDb.DynamoDbItems;

namespace Nhi.Serverless.Aws.DynamoDb.Parking;

/// <summary>A queue record that was acknowledged without a run because its body can never be processed.</summary>
/// <param name="MessageId">The queue's message id.</param>
/// <param name="EventSourceArn">The queue the record came from.</param>
/// <param name="ParkedAt">When the handler parked it.</param>
/// <param name="Field">The JSON path of the offending field, such as "detail.findings[0].Resources", or "$" for the whole body.</param>
/// <param name="Reason">What was expected there. Never a field value, because a body may carry a token a source put there by mistake.</param>
/// <param name="BodySha256">Lowercase hex SHA-256 of the body's UTF-8 bytes, to match the record against the sender's copy.</param>
/// <param name="BodyBytes">The body's length in UTF-8 bytes.</param>
/// <param name="ReceiveCount">The queue's ApproximateReceiveCount when the record was parked.</param>
public sealed record ParkedRecord(
    string MessageId,
    string EventSourceArn,
    DateTimeOffset ParkedAt,
    string Field,
    string Reason,
    string BodySha256,
    long BodyBytes,
    long ReceiveCount)
{
    /// <summary>Returns the hash and length fields of a body.</summary>
    public static (string Sha256, long Bytes) Fingerprint(string body)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        return (Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant(), bytes.LongLength);
    }
}

/// <summary>
/// Parked records in a DynamoDB table keyed by message id. The body itself is not stored, only its hash and
/// length, so no secret that a source put into an alert ends up in the table.
/// </summary>
public sealed class DynamoDbParkedRecords(IAmazonDynamoDB client, DynamoDbOptions options)
{
    /// <summary>The table's partition key.</summary>
    public const string KeyAttribute = "MessageId";

    /// <summary>Writes the record; a redelivery of the same message overwrites it with the same facts.</summary>
    public async Task ParkAsync(ParkedRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        var item = new Dictionary<string, AttributeValue>
        {
            [KeyAttribute] = String(record.MessageId),
            ["EventSourceArn"] = String(record.EventSourceArn),
            ["ParkedAt"] = Time(record.ParkedAt),
            ["Field"] = String(record.Field),
            ["Reason"] = String(record.Reason),
            ["BodySha256"] = String(record.BodySha256),
            ["BodyBytes"] = Number(record.BodyBytes),
            ["ReceiveCount"] = Number(record.ReceiveCount),
            [DynamoDbTables.TimeToLiveAttribute] = EpochSeconds(record.ParkedAt + options.ItemRetention),
        };

        await client.PutItemAsync(new PutItemRequest { TableName = options.ParkedRecordsTableName, Item = item }, cancellationToken);
    }

    /// <summary>Returns the parked record of a message, or null when none was parked.</summary>
    public async Task<ParkedRecord?> GetAsync(string messageId, CancellationToken cancellationToken)
    {
        GetItemResponse response = await client.GetItemAsync(
            new GetItemRequest
            {
                TableName = options.ParkedRecordsTableName,
                Key = new Dictionary<string, AttributeValue> { [KeyAttribute] = String(messageId) },
                ConsistentRead = true,
            },
            cancellationToken);

        if (response.Item is not { Count: > 0 } item)
        {
            return null;
        }

        return new ParkedRecord(
            RequiredString(item, KeyAttribute),
            RequiredString(item, "EventSourceArn"),
            RequiredTime(item, "ParkedAt"),
            RequiredString(item, "Field"),
            RequiredString(item, "Reason"),
            RequiredString(item, "BodySha256"),
            RequiredNumber(item, "BodyBytes"),
            RequiredNumber(item, "ReceiveCount"));
    }
}
