using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Writes a finished run's audit records: builds them, links and signs them, appends them to the
/// audit tables, and then forwards the stored records to each SIEM sink.
/// </summary>
/// <remarks>
/// Appending is idempotent, so the orchestration can retry the audit step: records stored before with
/// the same hash count as written, and the sinks receive the stored copies. A sink failure does not fail
/// the step, because the records are already stored; the receipt names the failure.
/// When the outbox forwarder delivers instead (the constructor gets the cursor table), records whose ids are
/// older than the forwarder's settle delay make the trail rewind the sink cursors, so they are not
/// skipped. With the checkpoint table, records that land in a window that is already
/// checkpointed are logged as an error, because verification will report them as inserted.
/// </remarks>
public sealed partial class TableAuditTrail : IAuditTrail
{
    private readonly TableAuditStore _store;
    private readonly IAuditSigner _signer;
    private readonly ICredentialFingerprinter? _fingerprinter;
    private readonly IReadOnlyList<IAuditSink> _sinks;
    private readonly AuditSinkCursorTable? _cursors;
    private readonly TimeSpan _settleDelay;
    private readonly AuditCheckpointTable? _checkpoints;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;

    /// <summary>Creates the trail.</summary>
    /// <param name="store">The audit tables.</param>
    /// <param name="signer">The record signer, such as <see cref="LocalKeyFileSigner"/>.</param>
    /// <param name="fingerprinter">Fingerprints credential identifiers found in record text; null replaces them with a marker.</param>
    /// <param name="sinks">The SIEM sinks, such as <see cref="Nhi.Serverless.Audit.Siem.SplunkHecSink"/>; none when null.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="cursors">The outbox cursors to rewind for records written late; null when no forwarder runs.</param>
    /// <param name="settleDelay">The forwarder's <see cref="AuditForwarderOptions.SettleDelay"/>; records older than this are late.</param>
    /// <param name="checkpoints">The checkpoint table, to detect records written into a sealed window; null to skip the check.</param>
    /// <param name="timeProvider">The clock; the system clock when null.</param>
    public TableAuditTrail(
        TableAuditStore store,
        IAuditSigner signer,
        ICredentialFingerprinter? fingerprinter = null,
        IEnumerable<IAuditSink>? sinks = null,
        ILogger<TableAuditTrail>? logger = null,
        AuditSinkCursorTable? cursors = null,
        TimeSpan settleDelay = default,
        AuditCheckpointTable? checkpoints = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(signer);
        _store = store;
        _signer = signer;
        _fingerprinter = fingerprinter;
        _sinks = sinks?.ToArray() ?? [];
        _cursors = cursors;
        _settleDelay = settleDelay;
        _checkpoints = checkpoints;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger<TableAuditTrail>.Instance;
    }

    public Task<AuditReceipt> RecordRunAsync(RemediationRequest request, RunResult result, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(result);

        return AppendAsync(AuditRecordFactory.ForRun(request, result, _fingerprinter), result.RunId, $"finding {result.FindingId}", cancellationToken);
    }

    public Task<AuditReceipt> RecordWorkflowAsync(WorkflowRequest request, WorkflowResult result, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(result);
        return AppendAsync(WorkflowAuditRecordFactory.ForRun(request, result, _fingerprinter), result.RunId, $"workflow {result.Workflow}", cancellationToken);
    }

    private async Task<AuditReceipt> AppendAsync(IReadOnlyList<JsonObject> records, string runId, string subject, CancellationToken cancellationToken)
    {
        IReadOnlyList<SignedAuditRecord> sealedRecords = await AuditChain.SealAsync(records, _signer, cancellationToken).ConfigureAwait(false);
        LogWriting(_logger, sealedRecords.Count, runId, subject, _signer.KeyId);

        AuditAppendResult appended = await _store.AppendAsync(sealedRecords, cancellationToken).ConfigureAwait(false);
        await FollowUpLateRecordsAsync(runId, appended.Stored, cancellationToken).ConfigureAwait(false);

        var deliveries = new List<string>(_sinks.Count);
        foreach (IAuditSink sink in _sinks)
        {
            try
            {
                deliveries.Add(await sink.DeliverAsync(appended.Stored, cancellationToken).ConfigureAwait(false));
            }
            catch (AuditDeliveryException ex)
            {
                LogDeliveryFailed(_logger, ex, sink.Name, runId, ex.Permanent);
                deliveries.Add($"{sink.Name}: failed ({ex.Message})");
            }
        }

        LogWritten(_logger, appended.Written, appended.AlreadyStored, runId, deliveries.Count);
        return new AuditReceipt(appended.Stored.Select(record => record.Id).ToList(), _signer.KeyId, deliveries);
    }

    /// <summary>
    /// Rewinds the outbox cursors when the run's records are older than the settle delay, and reports
    /// records written into an already checkpointed window. Runs on retries too, because a retried
    /// step may follow a crash between the append and this step.
    /// </summary>
    private async Task FollowUpLateRecordsAsync(string runId, IReadOnlyList<SignedAuditRecord> stored, CancellationToken cancellationToken)
    {
        string firstId = stored[0].Id;
        DateTimeOffset firstTime = AuditRecordIds.GetTime(firstId);
        if (_cursors is not null && firstTime < _timeProvider.GetUtcNow() - _settleDelay)
        {
            IReadOnlyList<string> rewound = await _cursors.RewindBeforeAsync(firstId, cancellationToken).ConfigureAwait(false);
            LogLateForSinks(_logger, runId, firstId, _settleDelay, rewound.Count);
        }

        if (_checkpoints is null)
        {
            return;
        }

        SignedAuditCheckpoint? latest = await _checkpoints.GetLatestAsync(cancellationToken).ConfigureAwait(false);
        if (latest is not null && string.CompareOrdinal(firstId, latest.Window.EndKey) < 0)
        {
            string[] sealedIds = stored.Where(record => string.CompareOrdinal(record.Id, latest.Window.EndKey) < 0).Select(record => record.Id).ToArray();
            LogWrittenIntoSealedWindow(_logger, sealedIds.Length, runId, latest.Window.End, string.Join(", ", sealedIds.Take(5)));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The audit records of run {RunId} start at {FirstRecordId}, more than {SettleDelay} ago; {RewoundCount} sink cursors were rewound so the forwarder delivers them")]
    private static partial void LogLateForSinks(ILogger logger, string runId, string firstRecordId, TimeSpan settleDelay, int rewoundCount);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Count} audit records of run {RunId} were written into checkpoint windows that were sealed up to {SealedThrough}, such as {RecordIds}; verification will report them as inserted. Raise Audit:Checkpoints:CloseDelay above the longest run.")]
    private static partial void LogWrittenIntoSealedWindow(ILogger logger, int count, string runId, DateTimeOffset sealedThrough, string recordIds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Writing {RecordCount} audit records of run {RunId} for {Subject}, signed with key {KeyId}")]
    private static partial void LogWriting(ILogger logger, int recordCount, string runId, string subject, string keyId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Wrote the audit records of run {RunId}: {Written} new, {AlreadyStored} stored before, {SinkCount} sinks tried")]
    private static partial void LogWritten(ILogger logger, int written, int alreadyStored, string runId, int sinkCount);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sink {Sink} failed to deliver the audit records of run {RunId} (permanent: {Permanent})")]
    private static partial void LogDeliveryFailed(ILogger logger, Exception exception, string sink, string runId, bool permanent);
}
