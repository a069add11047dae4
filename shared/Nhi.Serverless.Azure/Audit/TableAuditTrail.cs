using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Writes a finished run's audit records: builds them, links and signs them, appends them to the
/// audit tables, and then forwards the stored records to each SIEM sink.
/// </summary>
/// <remarks>
/// Appending is idempotent, so the orchestration can retry the audit step: records stored before with
/// the same hash count as written, and the sinks receive the stored copies. A sink failure does not fail
/// the step, because the records are already stored; the receipt names the failure.
/// </remarks>
public sealed partial class TableAuditTrail : IAuditTrail
{
    private readonly TableAuditStore _store;
    private readonly IAuditSigner _signer;
    private readonly ICredentialFingerprinter? _fingerprinter;
    private readonly IReadOnlyList<IAuditSink> _sinks;
    private readonly ILogger _logger;

    /// <summary>Creates the trail.</summary>
    /// <param name="store">The audit tables.</param>
    /// <param name="signer">The record signer, such as <see cref="LocalKeyFileSigner"/>.</param>
    /// <param name="fingerprinter">Fingerprints credential identifiers found in record text; null replaces them with a marker.</param>
    /// <param name="sinks">The SIEM sinks, such as <see cref="Nhi.Serverless.Audit.Siem.SplunkHecSink"/>; none when null.</param>
    /// <param name="logger">The logger.</param>
    public TableAuditTrail(
        TableAuditStore store,
        IAuditSigner signer,
        ICredentialFingerprinter? fingerprinter = null,
        IEnumerable<IAuditSink>? sinks = null,
        ILogger<TableAuditTrail>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(signer);
        _store = store;
        _signer = signer;
        _fingerprinter = fingerprinter;
        _sinks = sinks?.ToArray() ?? [];
        _logger = logger ?? NullLogger<TableAuditTrail>.Instance;
    }

    public async Task<AuditReceipt> RecordRunAsync(RemediationRequest request, RunResult result, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(result);

        IReadOnlyList<JsonObject> records = AuditRecordFactory.ForRun(request, result, _fingerprinter);
        IReadOnlyList<SignedAuditRecord> sealedRecords = AuditChain.Seal(records, _signer);
        LogWriting(_logger, sealedRecords.Count, result.RunId, result.FindingId, _signer.KeyId);

        AuditAppendResult appended = await _store.AppendAsync(sealedRecords, cancellationToken).ConfigureAwait(false);

        var deliveries = new List<string>(_sinks.Count);
        foreach (IAuditSink sink in _sinks)
        {
            try
            {
                deliveries.Add(await sink.DeliverAsync(appended.Stored, cancellationToken).ConfigureAwait(false));
            }
            catch (AuditDeliveryException ex)
            {
                LogDeliveryFailed(_logger, ex, sink.Name, result.RunId, ex.Permanent);
                deliveries.Add($"{sink.Name}: failed ({ex.Message})");
            }
        }

        LogWritten(_logger, appended.Written, appended.AlreadyStored, result.RunId, deliveries.Count);
        return new AuditReceipt(appended.Stored.Select(record => record.Id).ToList(), _signer.KeyId, deliveries);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Writing {RecordCount} audit records of run {RunId} for finding {FindingId}, signed with key {KeyId}")]
    private static partial void LogWriting(ILogger logger, int recordCount, string runId, string findingId, string keyId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Wrote the audit records of run {RunId}: {Written} new, {AlreadyStored} stored before, {SinkCount} sinks tried")]
    private static partial void LogWritten(ILogger logger, int written, int alreadyStored, string runId, int sinkCount);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sink {Sink} failed to deliver the audit records of run {RunId} (permanent: {Permanent})")]
    private static partial void LogDeliveryFailed(ILogger logger, Exception exception, string sink, string runId, bool permanent);
}
