using Microsoft.Extensions.Logging;
using Nhi.Serverless.Lambdas.Container;

namespace Nhi.Serverless.Lambdas.Sqs;

/// <summary>
/// Processes the records of one batch independently and returns the message ids to retry. A standard queue's
/// records run concurrently. A FIFO queue's records run in order, and the first record that fails is reported
/// together with every record after it, unprocessed, so no later message overtakes it.
/// </summary>
internal sealed class SqsBatchProcessor(FindingRecordProcessor records, LambdaOptions options, ILogger<SqsBatchProcessor> logger)
{
    public async Task<IReadOnlyList<string>> ProcessAsync(SqsEvent batch, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> failed = batch.IsFifo
            ? await ProcessInOrderAsync(batch.Records, deadline, cancellationToken)
            : await ProcessConcurrentlyAsync(batch.Records, deadline, cancellationToken);

        logger.LogInformation(
            "Processed a batch of {RecordCount} records from {EventSourceArn} (FIFO {Fifo}); {FailedCount} reported for retry",
            batch.Records.Count, batch.Records.FirstOrDefault()?.EventSourceArn, batch.IsFifo, failed.Count);
        return failed;
    }

    private async Task<IReadOnlyList<string>> ProcessInOrderAsync(
        IReadOnlyList<SqsRecord> batch, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        for (int index = 0; index < batch.Count; index++)
        {
            if (await TryProcessAsync(batch[index], deadline, cancellationToken))
            {
                continue;
            }

            string[] retried = batch.Skip(index).Select(record => record.MessageId).ToArray();
            logger.LogWarning(
                "FIFO record {MessageId} of group {MessageGroupId} failed; reporting it and the {FollowingCount} records after it for retry without processing them",
                batch[index].MessageId, batch[index].MessageGroupId, retried.Length - 1);
            return retried;
        }

        return [];
    }

    private async Task<IReadOnlyList<string>> ProcessConcurrentlyAsync(
        IReadOnlyList<SqsRecord> batch, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        using var slots = new SemaphoreSlim(options.MaxConcurrentRecords);
        bool[] succeeded = await Task.WhenAll(batch.Select(async record =>
        {
            await slots.WaitAsync(cancellationToken);
            try
            {
                return await TryProcessAsync(record, deadline, cancellationToken);
            }
            finally
            {
                slots.Release();
            }
        }));

        return batch.Where((_, index) => !succeeded[index]).Select(record => record.MessageId).ToArray();
    }

    private async Task<bool> TryProcessAsync(SqsRecord record, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        try
        {
            return await records.ProcessAsync(record, deadline, cancellationToken);
        }
        catch (Exception exception) when (exception is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogError(
                exception,
                "Message {MessageId} from {EventSourceArn} failed on receive {ReceiveCount} and will be retried: {ErrorType}",
                record.MessageId, record.EventSourceArn, record.ReceiveCount, exception.GetType().Name);
            return false;
        }
    }
}
