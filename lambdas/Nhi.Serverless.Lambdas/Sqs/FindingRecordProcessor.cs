using System.Text.Json;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Aws.DynamoDb.Parking;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Lambdas.Sqs;

/// <summary>
/// Processes one SQS record: parses its body with the shared parsers and runs each actionable finding once.
/// A body that can never be parsed is parked in DynamoDB and acknowledged, because redelivering it would fail
/// the same way until the queue's maxReceiveCount moved it to the dead-letter queue.
/// </summary>
internal sealed class FindingRecordProcessor(
    AlertBodyRouter router,
    ContainerRuns runs,
    DynamoDbParkedRecords parked,
    TimeProvider time,
    ILogger<FindingRecordProcessor> logger)
{
    /// <summary>Returns true when the record may be deleted from the queue, false when it must be delivered again.</summary>
    /// <exception cref="Exception">A service call failed (DynamoDB, the sidecar); the caller reports the record for retry.</exception>
    public async Task<bool> ProcessAsync(SqsRecord record, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        string source;
        AlertParseResult parsed;
        try
        {
            (source, parsed) = router.Parse(record.Body);
        }
        catch (JsonException)
        {
            await ParkAsync(record, "$", "must be a well-formed JSON document", cancellationToken);
            return true;
        }
        catch (InvalidAlertException invalid)
        {
            await ParkAsync(record, invalid.Field, invalid.Expected, cancellationToken);
            return true;
        }

        foreach (SkippedFinding skipped in parsed.Skipped)
        {
            logger.LogInformation(
                "Skipped finding {FindingId} from {Source} in message {MessageId}: {SkipReason}",
                skipped.FindingId, source, record.MessageId, skipped.Reason);
        }

        DateTimeOffset receivedAt = time.GetUtcNow();
        bool settled = true;
        foreach (Finding finding in parsed.Actionable)
        {
            var request = new RemediationRequest(RunIds.ForFinding(finding), finding, source, receivedAt);
            RunDelivery delivery = await runs.RunAsync(request, deadline, cancellationToken);
            settled &= delivery.Settled;
        }

        return settled;
    }

    private async Task ParkAsync(SqsRecord record, string field, string expected, CancellationToken cancellationToken)
    {
        (string sha256, long bytes) = ParkedRecord.Fingerprint(record.Body);
        var entry = new ParkedRecord(
            record.MessageId, record.EventSourceArn, time.GetUtcNow(), field, expected, sha256, bytes, record.ReceiveCount);
        await parked.ParkAsync(entry, cancellationToken);

        logger.LogWarning(
            "Parked message {MessageId} from {EventSourceArn} without a run: field {Field} {Expected} (body SHA-256 {BodySha256}, {BodyBytes} bytes)",
            record.MessageId, record.EventSourceArn, field, expected, sha256, bytes);
    }
}
