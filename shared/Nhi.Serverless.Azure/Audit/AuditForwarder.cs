using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>The outcome of one forwarding pass for one sink.</summary>
/// <param name="SinkName">The sink.</param>
/// <param name="Delivered">How many records the sink acknowledged in this pass.</param>
/// <param name="CaughtUp">True when no settled record was left to send.</param>
/// <param name="Failure">The delivery failure that ended the pass, or null.</param>
public sealed record SinkForwardResult(string SinkName, int Delivered, bool CaughtUp, AuditDeliveryException? Failure);

/// <summary>
/// Delivers the audit table to each SIEM sink from that sink's cursor: the records it has not
/// acknowledged, in id order, in batches. The table is the source of truth, so a sink that was down
/// receives everything it missed once it is back, and the cursor moves only past records the sink
/// acknowledged. Delivery is at least once: a record can arrive twice after a crash or a lost
/// response, and receivers drop copies by the record id.
/// </summary>
/// <remarks>
/// A failed delivery is retried with exponential backoff from <see cref="AuditForwarderOptions.InitialBackoff"/>
/// up to <see cref="AuditForwarderOptions.MaxBackoff"/>, or after the receiver's Retry-After when that is
/// longer. Permanent failures, such as a rejected token, are retried the same way and logged as
/// errors, because skipping records would lose them.
/// </remarks>
public sealed partial class AuditForwarder
{
    private readonly TableAuditStore _store;
    private readonly AuditSinkCursorTable _cursors;
    private readonly IReadOnlyList<IAuditSink> _sinks;
    private readonly AuditForwarderOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates the forwarder.</summary>
    /// <exception cref="AuditConfigurationException">The options are invalid, or two sinks share a name or a name is not a valid table key.</exception>
    public AuditForwarder(
        TableAuditStore store,
        AuditSinkCursorTable cursors,
        IEnumerable<IAuditSink> sinks,
        AuditForwarderOptions options,
        ILogger<AuditForwarder>? logger = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(cursors);
        ArgumentNullException.ThrowIfNull(sinks);
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        _store = store;
        _cursors = cursors;
        _sinks = sinks.ToArray();
        _options = options;
        _logger = logger ?? NullLogger<AuditForwarder>.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        CheckSinkNames(_sinks);
    }

    /// <summary>The sinks, each with its own cursor.</summary>
    public IReadOnlyList<IAuditSink> Sinks => _sinks;

    /// <summary>Runs one loop per sink until cancelled: forward what is pending, then wait the poll interval or the backoff.</summary>
    public Task RunAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_sinks.Select(sink => RunSinkAsync(sink, cancellationToken)));

    /// <summary>Sends the sink every settled record after its cursor, batch by batch, until it is caught up or a delivery fails.</summary>
    public async Task<SinkForwardResult> ForwardPendingAsync(IAuditSink sink, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        AuditSinkCursor cursor = await _cursors.GetAsync(sink.Name, cancellationToken).ConfigureAwait(false);
        int delivered = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            DateTimeOffset settledBefore = _timeProvider.GetUtcNow() - _options.SettleDelay;
            IReadOnlyList<SignedAuditRecord> batch = await _store
                .ReadAfterAsync(cursor.LastAcknowledgedKey, settledBefore, _options.BatchSize, cancellationToken)
                .ConfigureAwait(false);
            if (batch.Count == 0)
            {
                return new SinkForwardResult(sink.Name, delivered, CaughtUp: true, Failure: null);
            }

            int acknowledged;
            AuditDeliveryException? failure = null;
            try
            {
                await sink.DeliverAsync(batch, cancellationToken).ConfigureAwait(false);
                acknowledged = batch.Count;
            }
            catch (AuditDeliveryException ex)
            {
                acknowledged = Math.Min(ex.DeliveredCount, batch.Count);
                failure = ex;
            }

            if (acknowledged > 0)
            {
                string lastId = batch[acknowledged - 1].Id;
                AuditSinkCursor? advanced = await _cursors.TryAdvanceAsync(cursor, lastId, acknowledged, cancellationToken).ConfigureAwait(false);
                if (advanced is null)
                {
                    // The audit trail rewound or touched the cursor for records written late; start
                    // again from wherever it is now.
                    LogCursorChanged(_logger, sink.Name, lastId);
                    cursor = await _cursors.GetAsync(sink.Name, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    cursor = advanced;
                    delivered += acknowledged;
                    LogForwarded(_logger, acknowledged, sink.Name, batch[0].Id, lastId);
                }
            }

            if (failure is not null)
            {
                return new SinkForwardResult(sink.Name, delivered, CaughtUp: false, failure);
            }
        }
    }

    private async Task RunSinkAsync(IAuditSink sink, CancellationToken cancellationToken)
    {
        LogSinkStarted(_logger, sink.Name);
        TimeSpan backoff = _options.InitialBackoff;
        int failuresInRow = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                SinkForwardResult result = await ForwardPendingAsync(sink, cancellationToken).ConfigureAwait(false);
                if (result.Failure is not { } failure)
                {
                    if (failuresInRow > 0)
                    {
                        LogRecovered(_logger, sink.Name, failuresInRow);
                    }

                    failuresInRow = 0;
                    backoff = _options.InitialBackoff;
                    wait = _options.PollInterval;
                }
                else
                {
                    failuresInRow++;
                    wait = failure.RetryAfter is { } retryAfter && retryAfter > backoff ? retryAfter : backoff;
                    LogDeliveryFailed(_logger, sink.Name, failure.Permanent, failuresInRow, wait, failure.Message);
                    backoff = Min(backoff * 2, _options.MaxBackoff);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Any failure, such as an unreadable table or a sink bug, ends only this pass: the cursor
                // did not move, so the next pass resends, and the other sinks and the host keep running.
                failuresInRow++;
                wait = backoff;
                LogPassFailed(_logger, ex, sink.Name, failuresInRow, wait);
                backoff = Min(backoff * 2, _options.MaxBackoff);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            try
            {
                await Task.Delay(wait, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
        }

        LogSinkStopped(_logger, sink.Name);
    }

    private static void CheckSinkNames(IReadOnlyList<IAuditSink> sinks)
    {
        var errors = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (IAuditSink sink in sinks)
        {
            if (!SinkNamePattern().IsMatch(sink.Name))
            {
                errors.Add($"The audit sink name '{sink.Name}' is invalid; expected 1 to 100 letters, digits, '-', '_' or '.', because it is the key of the sink's cursor.");
            }
            else if (!names.Add(sink.Name))
            {
                errors.Add($"Two audit sinks are named '{sink.Name}'; each sink needs its own name, because it is the key of the sink's cursor.");
            }
        }

        if (errors.Count > 0)
        {
            throw new AuditConfigurationException(errors);
        }
    }

    private static TimeSpan Min(TimeSpan left, TimeSpan right) => left < right ? left : right;

    [GeneratedRegex("^[A-Za-z0-9._-]{1,100}$", RegexOptions.CultureInvariant)]
    private static partial Regex SinkNamePattern();

    [LoggerMessage(Level = LogLevel.Information, Message = "Sink {Sink} acknowledged {Count} audit records, {FirstRecordId} to {LastRecordId}")]
    private static partial void LogForwarded(ILogger logger, int count, string sink, string firstRecordId, string lastRecordId);

    [LoggerMessage(Level = LogLevel.Information, Message = "The cursor of sink {Sink} changed while records up to {LastRecordId} were delivered; reading it again")]
    private static partial void LogCursorChanged(ILogger logger, string sink, string lastRecordId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Delivery to sink {Sink} failed (permanent: {Permanent}, {FailuresInRow} in a row); retrying in {Wait}: {Failure}")]
    private static partial void LogDeliveryFailed(ILogger logger, string sink, bool permanent, int failuresInRow, TimeSpan wait, string failure);

    [LoggerMessage(Level = LogLevel.Error, Message = "Forwarding pass for sink {Sink} failed ({FailuresInRow} in a row); retrying in {Wait}")]
    private static partial void LogPassFailed(ILogger logger, Exception exception, string sink, int failuresInRow, TimeSpan wait);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sink {Sink} is delivering again after {FailuresInRow} failed passes")]
    private static partial void LogRecovered(ILogger logger, string sink, int failuresInRow);

    [LoggerMessage(Level = LogLevel.Information, Message = "Outbox forwarder started for sink {Sink}")]
    private static partial void LogSinkStarted(ILogger logger, string sink);

    [LoggerMessage(Level = LogLevel.Information, Message = "Outbox forwarder stopped for sink {Sink}")]
    private static partial void LogSinkStopped(ILogger logger, string sink);
}
