using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>Runs <see cref="CheckpointWriter"/> every poll interval while the host runs.</summary>
public sealed partial class AuditCheckpointService(
    CheckpointWriter writer,
    AuditCheckpointOptions options,
    ILogger<AuditCheckpointService>? logger = null,
    TimeProvider? timeProvider = null) : BackgroundService
{
    private readonly ILogger _logger = logger ?? NullLogger<AuditCheckpointService>.Instance;
    private readonly TimeProvider _timeProvider = timeProvider ?? TimeProvider.System;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        LogStarted(_logger, options.Window, options.CloseDelay, options.TableName);
        int failuresInRow = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await writer.CloseEndedWindowsAsync(stoppingToken).ConfigureAwait(false);
                failuresInRow = 0;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                // The next pass starts again from the latest stored checkpoint, so nothing is skipped,
                // and the host keeps running whatever the failure.
                failuresInRow++;
                LogPassFailed(_logger, ex, failuresInRow, options.PollInterval);
            }

            try
            {
                await Task.Delay(options.PollInterval, _timeProvider, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
        }

        LogStopped(_logger);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit checkpoint writer started: windows of {Window}, sealed {CloseDelay} after they end, in table {Table}")]
    private static partial void LogStarted(ILogger logger, TimeSpan window, TimeSpan closeDelay, string table);

    [LoggerMessage(Level = LogLevel.Error, Message = "Audit checkpoint pass failed ({FailuresInRow} in a row); retrying in {PollInterval}")]
    private static partial void LogPassFailed(ILogger logger, Exception exception, int failuresInRow, TimeSpan pollInterval);

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit checkpoint writer stopped")]
    private static partial void LogStopped(ILogger logger);
}
