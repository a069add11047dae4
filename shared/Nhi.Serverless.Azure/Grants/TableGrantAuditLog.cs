using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Azure.Grants;

/// <summary>
/// Writes sweeper and approval events to the audit tables as one-record streams, signed with the audit key and
/// forwarded to the SIEM sinks like the run records.
/// </summary>
public sealed class TableGrantAuditLog(
    TableAuditStore store,
    IAuditSigner signer,
    ICredentialFingerprinter? fingerprinter = null,
    IEnumerable<IAuditSink>? sinks = null,
    ILogger<TableGrantAuditLog>? logger = null) : IGrantAuditLog
{
    private readonly IReadOnlyList<IAuditSink> _sinks = sinks?.ToArray() ?? [];
    private readonly ILogger _logger = logger ?? NullLogger<TableGrantAuditLog>.Instance;

    public async Task<string> RecordAsync(GrantAuditEvent auditEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);

        JsonObject record = auditEvent.ToRecord(new AuditRedactor(fingerprinter));
        IReadOnlyList<SignedAuditRecord> sealedRecords = await AuditChain.SealAsync([record], signer, cancellationToken);
        AuditAppendResult appended = await store.AppendAsync(sealedRecords, cancellationToken);
        SignedAuditRecord stored = appended.Stored[0];

        foreach (IAuditSink sink in _sinks)
        {
            try
            {
                await sink.DeliverAsync(appended.Stored, cancellationToken);
            }
            catch (AuditDeliveryException failure)
            {
                // The record is stored; the sink's own retry or the outbox forwarder delivers it later.
                _logger.LogWarning(
                    "Audit record {RecordId} ({Event}) was stored but not delivered to {Sink}: {Error}",
                    stored.Id, auditEvent.Event, sink.Name, failure.Message);
            }
        }

        _logger.LogInformation(
            "Recorded audit event {Event} for run {RunId} as record {RecordId}", auditEvent.Event, auditEvent.RunId, stored.Id);
        return stored.Id;
    }
}
